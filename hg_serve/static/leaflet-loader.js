// Leaflet (and the marker cluster plugin) from the xstatic packages hg-serve serves,
// loaded on first use so the timeline does not pay for the map; the tiles and the offline
// world outline under them.
import { api, BASE } from "./api.js";

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

export const OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";

// The tiles of `[server] map_tiles` (the server tells the app in /api/info; its default is
// OpenStreetMap's); null when it is "" (no tiles: the world outline alone).
export async function tileLayer(L) {
  let url = OSM_TILES;
  try {
    const info = await api.info();
    if (typeof info.map_tiles === "string") url = info.map_tiles;
  } catch { /* an older server: its default */ }
  if (!url) return null;
  const osm = /(^|\.)openstreetmap\.org$/.test(hostOf(url));
  return L.tileLayer(url, {
    maxZoom: 19,
    attribution: osm ? "© OpenStreetMap contributors" : "",
  });
}

function hostOf(url) {
  try { return new URL(url.replace(/[{}]/g, "")).hostname; } catch { return ""; }
}

// Natural Earth's land and borders at 1:110m (world-110m.geojson, public domain), drawn in a
// pane under the tiles: loaded tiles cover it, missing ones leave a plain map behind the
// markers.
let outline = null;

export async function worldOutline(L, map) {
  if (!outline) {
    outline = fetch(`${BASE}/static/world-110m.geojson`)
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`world outline: ${r.status}`))))
      .catch((err) => { outline = null; throw err; });
  }
  let data;
  try { data = await outline; } catch { return null; } // the markers work without it
  const pane = map.createPane("outline");
  pane.style.zIndex = 150; // tilePane is 200
  const layer = L.geoJSON(data, {
    pane: "outline",
    renderer: L.canvas({ pane: "outline" }),
    interactive: false,
    style: (f) => (f.properties.kind === "land"
      ? { stroke: true, color: "#56606e", weight: 1, fillColor: "#2b3038", fillOpacity: 1 }
      : { color: "#474f5b", weight: 0.8, fill: false }),
  });
  layer.addTo(map);
  return layer;
}
