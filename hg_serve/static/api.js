// Talking to hg-serve: JSON fetches (errors carry the server's message) and file URLs.
// The base path comes in a <meta> tag: an inline script would break the page's CSP.
export const BASE = document.querySelector('meta[name="hg-base"]')?.content || "";

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

export const api = {
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
  similar: (id) => request(`/api/entries/${encodeURIComponent(id)}/similar`),
  postEvent: (targetIds, actions) => request("/api/events", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ targetIds, actions }),
  }),
};

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
// The n-th file of an entry as it lies in its source (hg-serve's /originals/ route).
export const originalUrl = (id, n) => `${BASE}/originals/${encodeURIComponent(id)}/${n}`;
