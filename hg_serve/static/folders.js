// The folder view: the sources' folder tree, one folder at a time (breadcrumbs, then its
// child folders as cards with a cover, the newest photo below them, and a count). A folder
// is also a query, `folder:"a/b"` (the folder and everything below it), so "Show photos"
// opens the timeline with it ANDed to the current search, and the counts here are those of
// the current search too.
import { api, appUrl, previewUrl } from "./api.js";
import { describe } from "./labels.js";

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
export const quote = (v) => (/^[^\s:=<>!()[\],"']+$/.test(v) ? v : `"${String(v).replace(/["\\]/g, "\\$&")}"`);

// The query of a folder combined with a search (the folder first: a trailing `order by`
// of the search stays at the end, where the grammar wants it).
export function folderQuery(path, q) {
  const term = path ? `folder:${quote(path)}` : "";
  return [term, q].filter(Boolean).join(" ");
}

export function folderUrl(path, q) {
  const p = new URLSearchParams();
  if (path) p.set("path", path);
  if (q) p.set("q", q);
  const s = p.toString();
  return appUrl(`/folders${s ? `?${s}` : ""}`);
}

const plural = (n) => `${n.toLocaleString()} ${n === 1 ? "entry" : "entries"}`;

export async function foldersPage(el, q, { path, onFolder, onPhotos }) {
  const tree = await api.folders(path, q);
  const parts = tree.path ? tree.path.split("/") : [];
  const crumbs = [`<a href="${folderUrl("", q)}" data-path="">Folders</a>`,
    ...parts.map((name, i) => {
      const to = parts.slice(0, i + 1).join("/");
      return i === parts.length - 1 ? `<span aria-current="page">${esc(name)}</span>`
        : `<a href="${esc(folderUrl(to, q))}" data-path="${esc(to)}">${esc(name)}</a>`;
    })];
  const here = tree.count
    ? `<a href="#" class="show-photos" data-path="${esc(tree.path)}">Show ${plural(tree.count)}</a>
       ${tree.direct && tree.folders.length ? `<span class="muted">(${tree.direct.toLocaleString()} in this folder itself)</span>` : ""}`
    : `<span class="muted">${q ? `Nothing here matches “${esc(q)}”.` : "No photos here."}</span>`;
  el.innerHTML = `<nav class="crumbs" aria-label="Folder">${crumbs.join('<span class="sep">›</span>')}</nav>
    <p class="folder-here">${here}</p>
    <ul class="folders">${tree.folders.map((f) => `
      <li><a href="${esc(f.folders ? folderUrl(f.path, q) : appUrl(`/?q=${encodeURIComponent(folderQuery(f.path, q))}`))}" class="folder" data-path="${esc(f.path)}"
          data-leaf="${f.folders ? "" : "1"}" title="${esc(f.path)}">
        <span class="cover">${previewUrl(f.cover, 256) ? `<img src="${previewUrl(f.cover, 256)}" alt="${esc(describe(f.cover))}" loading="lazy">` : ""}</span>
        <span class="name">${esc(f.name)}</span>
        <span class="count">${plural(f.count)}</span></a></li>`).join("")}</ul>`;
  for (const a of el.querySelectorAll(".crumbs a")) {
    a.addEventListener("click", (e) => { e.preventDefault(); onFolder(a.dataset.path); });
  }
  // A folder without folders of its own opens its photos at once (no page with one link).
  for (const a of el.querySelectorAll("a.folder")) {
    a.addEventListener("click", (e) => {
      if (e.ctrlKey || e.metaKey) return;
      e.preventDefault();
      if (a.dataset.leaf) onPhotos(a.dataset.path); else onFolder(a.dataset.path);
    });
  }
  el.querySelector(".show-photos")?.addEventListener("click", (e) => {
    e.preventDefault();
    onPhotos(tree.path);
  });
  el.dataset.path = tree.path;
}
