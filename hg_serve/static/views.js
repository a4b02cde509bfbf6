// The overview pages: years, tags and the map. Each renders into the page section.
import { api, previewUrl } from "./api.js";
import { loadLeaflet, tileLayer } from "./leaflet-loader.js";

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const MONTH = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export async function yearsPage(el, q, { onYear }) {
  const years = await api.years(q);
  el.innerHTML = `<h2>Years</h2><ul class="years">${years.map((y) => `
    <li><a href="#" data-year="${y.year}" class="year">${y.year}</a> <span class="count">${y.count}</span>
      <span class="months">${y.months.map((m) => `<span title="${m.count}">${MONTH[m.month - 1]}</span>`).join("")}</span>
    </li>`).join("")}</ul>`;
  for (const a of el.querySelectorAll("a.year")) {
    a.addEventListener("click", (e) => { e.preventDefault(); onYear(a.dataset.year); });
  }
}

export async function tagsPage(el, q, { onTag }) {
  const tags = await api.tags(q);
  const max = Math.max(1, ...tags.map((t) => t.count));
  el.innerHTML = `<h2>Tags</h2>${tags.length ? "" : '<p class="muted">No tags yet. Select photos and add some.</p>'}
    <div class="tagcloud">${tags.map((t) => `<a href="#" class="tag" data-tag="${esc(t.tag)}"
      style="font-size:${(0.9 + (t.count / max) * 0.9).toFixed(2)}em">${esc(t.tag)} <small>${t.count}</small></a>`).join("")}</div>`;
  for (const a of el.querySelectorAll("a.tag")) {
    a.addEventListener("click", (e) => { e.preventDefault(); onTag(a.dataset.tag); });
  }
}

export async function mapPage(el, q, { onOpen, items }) {
  el.innerHTML = '<div class="map" id="map"></div>';
  const [L, geo] = await Promise.all([loadLeaflet(), api.geo(q)]);
  const box = el.querySelector("#map");
  if (!box) return null;
  const map = L.map(box, { preferCanvas: true });
  tileLayer(L).addTo(map);
  const cluster = L.markerClusterGroup({ chunkedLoading: true });
  // The answer's ids are prefixes (geo.idLength hex digits, unique among positioned
  // entries): a sixth of the bytes at 100k. Loaded grid items give the full id and a
  // thumbnail; a marker of an item not loaded yet asks the server on click.
  const n = geo.idLength;
  const byPrefix = new Map();
  for (const it of items()) byPrefix.set(it.id.slice(0, n), it);
  const open = async (key) => {
    const known = byPrefix.get(key);
    if (known) return onOpen(known.id);
    const found = await api.entries(`id:${key} exists(geo)`, 0, 1);
    if (found.entries.length) onOpen(found.entries[0].id);
  };
  const markers = [];
  for (let i = 0; i < geo.ids.length; i++) {
    const key = geo.ids[i];
    const item = byPrefix.get(key);
    const m = L.marker([geo.lat[i], geo.lon[i]], { title: item ? item.id : key });
    m.on("click", () => open(key));
    const url = item && previewUrl(item, 256);
    if (url) m.bindTooltip(`<img src="${url}" alt="" class="map-thumb">`, { direction: "top" });
    markers.push(m);
  }
  cluster.addLayers(markers);
  map.addLayer(cluster);
  if (markers.length) map.fitBounds(cluster.getBounds(), { padding: [40, 40], maxZoom: 14 });
  else map.setView([20, 0], 2);
  el.dataset.markers = String(markers.length);
  return map;
}
