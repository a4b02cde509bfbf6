// The overview pages: years, tags, the map, near-duplicates and the failures. Each renders into the page
// section. No inline style attributes in the HTML (the CSP's style-src 'self' refuses them):
// sizes are set through element.style.
import { api, BASE, previewUrl } from "./api.js";
import { describe } from "./labels.js";
import { loadLeaflet, tileLayer, worldOutline } from "./leaflet-loader.js";

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const MONTH = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export async function yearsPage(el, q, { onYear }) {
  const years = await api.years(q);
  el.innerHTML = `<h2>Years</h2><ul class="years">${years.map((y) => `
    <li><a href="#" data-year="${y.year}" data-offset="${y.offset ?? ""}" class="year">${y.year}</a> <span class="count">${y.count}</span>
      <span class="months">${y.months.map((m) => `<span title="${m.count}">${MONTH[m.month - 1]}</span>`).join("")}</span>
    </li>`).join("")}</ul>`;
  for (const a of el.querySelectorAll("a.year")) {
    const offset = a.dataset.offset === "" ? null : Number(a.dataset.offset); // where it starts
    a.addEventListener("click", (e) => { e.preventDefault(); onYear(a.dataset.year, offset); });
  }
}

export async function tagsPage(el, q, { onTag }) {
  const tags = await api.tags(q);
  const max = Math.max(1, ...tags.map((t) => t.count));
  el.innerHTML = `<h2>Tags</h2>${tags.length ? "" : '<p class="muted">No tags yet. Select photos and add some.</p>'}
    <div class="tagcloud">${tags.map((t) => `<a href="#" class="tag" data-tag="${esc(t.tag)}"
      data-count="${t.count}">${esc(t.tag)} <small>${t.count}</small></a>`).join("")}</div>`;
  for (const a of el.querySelectorAll("a.tag")) {
    a.style.fontSize = `${(0.9 + (Number(a.dataset.count) / max) * 0.9).toFixed(2)}em`;
    a.addEventListener("click", (e) => { e.preventDefault(); onTag(a.dataset.tag); });
  }
}

export async function mapPage(el, q, { onOpen, items, center }) {
  el.innerHTML = '<div class="map" id="map"></div>';
  const [L, geo] = await Promise.all([loadLeaflet(), api.geo(q)]);
  const box = el.querySelector("#map");
  if (!box) return null;
  const map = L.map(box, { preferCanvas: true, maxZoom: 19 }); // clusters need a max, tiles or not
  // The outline under the tiles: without internet (or with `map_tiles = ""`) the markers
  // still sit on a recognisable world instead of a grey plane.
  const [tiles] = await Promise.all([tileLayer(L), worldOutline(L, map)]);
  if (tiles) tiles.addTo(map);
  el.dataset.outline = "1";
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
    const m = L.marker([geo.lat[i], geo.lon[i]], { title: item ? item.id : key, alt: item ? describe(item) : "Photo" });
    m.on("click", () => open(key));
    const url = item && previewUrl(item, 256);
    if (url) m.bindTooltip(`<img src="${url}" alt="${esc(describe(item))}" class="map-thumb">`, { direction: "top" });
    markers.push(m);
  }
  cluster.addLayers(markers);
  map.addLayer(cluster);
  if (center) map.setView(center, 16); // `m` in the detail view: around that photo
  else if (markers.length) map.fitBounds(cluster.getBounds(), { padding: [40, 40], maxZoom: 14 });
  else map.setView([20, 0], 2);
  const c = map.getCenter();
  el.dataset.center = `${c.lat.toFixed(5)},${c.lng.toFixed(5)}`;
  el.dataset.zoom = String(map.getZoom());
  el.dataset.markers = String(markers.length);
  return map;
}

// Near-duplicates (bursts, re-saved or cropped copies): one row of thumbnails per group,
// as the server grouped them among what the query and the user's filter select.
export async function duplicatesPage(el, q, { onOpen }) {
  const { groups } = await api.duplicates(q);
  el.innerHTML = `<h2>Near-duplicates</h2>
    <p class="muted">${groups.length ? `${groups.length.toLocaleString()} ${groups.length === 1 ? "group" : "groups"} of
      photos that look (almost) the same.` : "No near-duplicates found."}</p>
    ${groups.map((g) => `<section class="dup-group" data-count="${g.entries.length}">
      <h3>${g.entries.length} photos <small class="muted">similarity ${g.min_score.toFixed(2)}${g.max_score !== g.min_score ? `–${g.max_score.toFixed(2)}` : ""}</small></h3>
      <div class="dup-row">${g.entries.map((it) => {
        const url = previewUrl(it, 256);
        return `<a href="${BASE}/view/${esc(it.id)}" class="dup-cell" data-id="${esc(it.id)}" title="${esc(describe(it))}">${
          url ? `<img src="${url}" alt="${esc(describe(it))}" loading="lazy">` : esc(it.id.slice(0, 8))}</a>`;
      }).join("")}</div></section>`).join("")}`;
  for (const a of el.querySelectorAll("a.dup-cell")) {
    a.addEventListener("click", (e) => { e.preventDefault(); onOpen(a.dataset.id); });
  }
}

// Files that could not be imported (hg-build's failures table): path, stage, reason, paged.
const PAGE = 100;

export async function failuresPage(el, { offset = 0, onPage }) {
  const { total, failures } = await api.failures(offset, PAGE);
  const end = offset + failures.length;
  const link = (to, text, rel) => `<a href="${BASE}/failures?offset=${to}" data-offset="${to}" rel="${rel}">${text}</a>`;
  const pager = total > PAGE ? `<nav class="pager" aria-label="Pages">
      ${offset > 0 ? link(Math.max(0, offset - PAGE), "‹ Newer", "prev") : ""}
      <span>${(offset + 1).toLocaleString()}–${end.toLocaleString()} of ${total.toLocaleString()}</span>
      ${end < total ? link(end, "Older ›", "next") : ""}</nav>` : "";
  el.innerHTML = `<h2>Not imported</h2>
    <p class="muted">${total ? `${total.toLocaleString()} ${total === 1 ? "file" : "files"} could not be imported. They are tried again when the
      extractor changes, or when imported with <code>--retry-failed</code>.` : "Every file was imported."}</p>
    ${failures.length ? `<table class="failures-list"><thead><tr><th>File</th><th>Stage</th><th>Reason</th><th>Last seen</th></tr></thead><tbody>
      ${failures.map((f) => `<tr>
        <td class="path">${esc(f.source)}: ${esc(f.path)}</td>
        <td>${esc(f.stage)}</td>
        <td class="reason">${esc(f.error)}${f.details?.length ? `<details><summary>details</summary><pre>${esc(f.details.map((d) => typeof d === "string" ? d : JSON.stringify(d)).join("\n"))}</pre></details>` : ""}</td>
        <td class="when">${esc((f.last_seen || "").slice(0, 16).replace("T", " "))}</td></tr>`).join("")}
      </tbody></table>` : ""}
    ${pager}`;
  for (const a of el.querySelectorAll(".pager a")) {
    a.addEventListener("click", (e) => { e.preventDefault(); onPage(Number(a.dataset.offset)); });
  }
}
