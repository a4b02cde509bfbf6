// Talking to hg-serve: JSON fetches (errors carry the server's message) and file URLs.
// The base path comes in a <meta> tag: an inline script would break the page's CSP.
// A static export (hg-serve export static) has `<meta name="hg-static" content="data/…">`:
// no server, so the API is answered in the browser from that file (static-data.js), the
// base is "." (every URL relative to index.html: any host, any base path) and the app
// routes in the URL's hash (a static host has no page at …/view/<id>).
const STATIC_DATA = document.querySelector('meta[name="hg-static"]')?.content || null;
export const STATIC = STATIC_DATA !== null;
export const BASE = STATIC ? "." : document.querySelector('meta[name="hg-base"]')?.content || "";
let staticGallery = null;
async function gallery() {
  if (!staticGallery) {
    staticGallery = Promise.all([import("./static-data.js"), fetch(STATIC_DATA).then((r) => {
      if (!r.ok) throw new Error(`${STATIC_DATA}: ${r.status} ${r.statusText}`);
      return r.json();
    })]).then(([mod, data]) => new mod.StaticGallery(data));
  }
  return staticGallery;
}
// A static export's answer: the same shapes, computed from the exported data.
const local = (name, ...args) => gallery().then((g) => g[name](...args)).catch((err) => {
  throw err.status ? new ApiError(err.status, err.message) : err;
});

// The app's own location: the path (/years, /view/<id>) and search of the page, or in a
// static export those of the hash (#/years?q=x).
export function appLocation() {
  if (!STATIC) return { path: location.pathname.slice(BASE.length) || "/", search: location.search };
  const h = location.hash.replace(/^#/, "");
  const i = h.indexOf("?");
  return { path: (i < 0 ? h : h.slice(0, i)) || "/", search: i < 0 ? "" : h.slice(i) };
}
// The URL of an app path (with its ?query) to push into the history or link to.
export const appUrl = (path) => (STATIC ? `#${path}` : `${BASE}${path}`);

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function request(path, options = {}) {
  const headers = { "X-Requested-With": "hg", ...(options.headers || {}) };
  const res = await fetch(BASE + path, { ...options, headers, credentials: "same-origin" });
  if (res.status === 401) { location.href = `${BASE}/login?next=${encodeURIComponent(location.pathname + location.search)}`; }
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) throw new ApiError(res.status, (body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}

const qs = (params) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
};

let info = null;

const serverApi = {
  // The server's settings for the app (user, failures count, map tiles): one fetch,
  // again when `fresh` (after a database change).
  info: (fresh = false) => {
    if (!info || fresh) info = request("/api/info").catch((err) => { info = null; throw err; });
    return info;
  },
  failures: (offset, limit) => request("/api/failures" + qs({ offset, limit })),
  importStatus: () => request("/api/import-status"),
  entries: (q, offset, limit) => request("/api/entries" + qs({ q, offset, limit })),
  entry: (id) => request(`/api/entries/${encodeURIComponent(id)}`),
  years: (q) => request("/api/years" + qs({ q })),
  tags: (q) => request("/api/tags" + qs({ q })),
  folders: (path, q) => request("/api/folders" + qs({ path, q })),
  geo: (q) => request("/api/geo" + qs({ q })),
  duplicates: (q) => request("/api/duplicates" + qs({ q })),
  similar: (id) => request(`/api/entries/${encodeURIComponent(id)}/similar`),
  people: (q) => request("/api/people" + qs({ q })),
  // A correction of the people (name, merge, move, reject): a personAction in the event log.
  personEvent: (body) => request("/api/people/events", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  }),
  postEvent: (targetIds, actions) => request("/api/events", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ targetIds, actions }),
  }),
};

// A static export: what has no server (edits, live events, failures, the map and
// near-duplicates) is absent.
const staticApi = {
  info: () => Promise.resolve({ user: null, auth: false, filter: null, map_tiles: "", failures: 0, static: true }),
  failures: () => Promise.resolve({ total: 0, failures: [] }),
  importStatus: () => Promise.resolve({ state: "idle", text: "" }),
  entries: (q, offset, limit) => local("entries", q, offset, limit),
  entry: (id) => local("entry", id),
  years: (q) => local("years", q),
  tags: (q) => local("tags", q),
  folders: (path, q) => local("folders", path, q),
  geo: () => Promise.reject(new ApiError(404, "the map is not in a static export")),
  duplicates: () => Promise.reject(new ApiError(404, "near-duplicates are not in a static export")),
  similar: (id) => local("similar", id),
  people: () => Promise.reject(new ApiError(404, "people are not in a static export")),
  personEvent: () => Promise.reject(new ApiError(405, "a static export cannot be edited")),
  postEvent: () => Promise.reject(new ApiError(405, "a static export cannot be edited")),
};
export const api = STATIC ? staticApi : serverApi;

// The smallest preview whose long side covers `needed` device pixels (else the largest).
export function pickSize(sizes, needed) {
  if (!sizes || !sizes.length) return null;
  const asc = [...sizes].sort((a, b) => a - b);
  return asc.find((s) => s >= needed) || asc[asc.length - 1];
}

export function previewUrl(item, needed) {
  const size = pickSize(item.sizes, needed);
  return size && item.preview ? `${BASE}/files/${item.preview}-image-preview-${size}.jpg` : null;
}

export const fileUrl = (path) => `${BASE}/files/${path}`;
// The n-th file of an entry as it lies in its source (hg-serve's /originals/ route); in a
// static export the copy under originals/ (`originals` of the record, when exported).
export const originalUrl = (id, n, d = null) => (STATIC
  ? (d?.originals?.[n] ? `${BASE}/${d.originals[n]}` : null)
  : `${BASE}/originals/${encodeURIComponent(id)}/${n}`);
// The n-th face of an entry, cut from its preview by hg-serve (`/faces/<id>/<n>`), `size`
// pixels square; none in a static export (no server to cut it).
export const faceUrl = (id, n, size = 192) => (STATIC ? null
  : `${BASE}/faces/${encodeURIComponent(id)}/${n}?size=${size}`);
