// Leaflet (and the marker cluster plugin) from the xstatic packages hg-serve serves,
// loaded on first use so the timeline does not pay for the map.
import { BASE } from "./api.js";

let loading = null;

function addScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(s);
  });
}

function addCss(href) {
  const l = document.createElement("link");
  l.rel = "stylesheet";
  l.href = href;
  document.head.append(l);
}

export function loadLeaflet() {
  if (!loading) {
    addCss(`${BASE}/vendor/leaflet/leaflet.css`);
    addCss(`${BASE}/vendor/markercluster/MarkerCluster.css`);
    addCss(`${BASE}/vendor/markercluster/MarkerCluster.Default.css`);
    loading = addScript(`${BASE}/vendor/leaflet/leaflet.js`)
      .then(() => addScript(`${BASE}/vendor/markercluster/leaflet.markercluster.js`))
      .then(() => window.L);
  }
  return loading;
}

export function tileLayer(L) {
  return L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19,
    attribution: "© OpenStreetMap contributors",
  });
}
