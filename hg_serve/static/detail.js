// The detail view: one entry full-size, next/prev (keys, swipe), zoom and pan (wheel,
// pinch, double-click), video playback, and the info panel whose values search on click.
import { api, BASE, faceUrl, fileUrl, originalUrl, pickSize, previewUrl, STATIC } from "./api.js";
import { describe, formatDuration, photoTime, photoTimeParts } from "./labels.js";
import { nameOptions, namingEdit, personQuery } from "./people.js";
import { Slideshow } from "./slideshow.js";
import { zoomable } from "./zoom.js";

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const quote = (v) => (/^[^\s:=<>!()[\],"']+$/.test(v) ? v : `"${String(v).replace(/["\\]/g, "\\$&")}"`);

// HomeGallery's face search: the photos with a face like face n (0-based, the record's
// order) of the entry.
const faceQuery = (id, n) => `face:${id}.${n}`;
// A face's name, when the people feature gave it one (`name`, or its `person`'s).
const faceName = (f) => (typeof f.name === "string" && f.name) || (typeof f.person?.name === "string" && f.person.name) || "";

export function formatBytes(n) {
  if (!n && n !== 0) return "";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function exposureText(d) {
  const parts = [];
  if (d.exposure) parts.push(d.exposure >= 1 ? `${d.exposure} s` : `1/${Math.round(1 / d.exposure)} s`);
  if (d.aperture) parts.push(`ƒ/${d.aperture}`);
  if (d.iso) parts.push(`ISO ${d.iso}`);
  if (d.focal_length) parts.push(`${d.focal_length} mm`);
  return parts.join(" · ");
}

export class Detail {
  constructor(root, { items, onNavigate, onClose, onSearch, onMap, onChronology, onEdit, onPersonEdit }) {
    Object.assign(this, { root, items, onNavigate, onClose, onSearch, onMap, onChronology, onEdit, onPersonEdit });
    this.faceEdit = null; // the face (its n) whose form is open in the info panel
    this.index = -1;
    this.showInfo = window.innerWidth > 900;
    // Hidden by default, remembered while browsing (and over a reload of the tab).
    this.showBoxes = sessionStorage.getItem("hg.boxes") === "1";
    this.showFaces = sessionStorage.getItem("hg.faces") === "1";
    this.data = null;
    this.slideshow = new Slideshow(this);
    document.addEventListener("keydown", (e) => this.key(e));
  }

  get open() { return !this.root.hidden; }

  show(index) {
    const list = this.items();
    if (index < 0 || index >= list.length) return;
    if (list[index]?.id !== this.data?.id) this.faceEdit = null;
    this.index = index;
    const item = list[index];
    this.root.hidden = false;
    document.body.classList.add("detail-open");
    // The buttons live in the viewer (the photo's area), not over the whole view: beside the
    // info panel on a desktop, above it on a phone, ‹ › stay at the photo's middle.
    this.root.innerHTML = `
      <div class="viewer">
        <div class="stage"></div>
        <button class="close" type="button" title="Close (Esc)" aria-label="Close">✕</button>
        <button class="prev" type="button" title="Previous (←)" aria-label="Previous">‹</button>
        <button class="next" type="button" title="Next (→)" aria-label="Next">›</button>
        <button class="info-toggle" type="button" title="Info (i)" aria-label="Info">i</button>
        <button class="play" type="button" title="Slideshow (p)" aria-label="Slideshow">▶</button>
        <button class="boxes-toggle" type="button" title="Object boxes (o)" aria-label="Object boxes"
          aria-pressed="${this.showBoxes}" hidden>▢</button>
        <button class="faces-toggle" type="button" title="Faces (f)" aria-label="Faces"
          aria-pressed="${this.showFaces}" hidden>☺</button>
      </div>
      <aside class="info" aria-label="Info" ${this.showInfo ? "" : "hidden"}></aside>`;
    this.root.querySelector(".close").onclick = () => this.onClose();
    this.root.querySelector(".prev").onclick = () => this.step(-1);
    this.root.querySelector(".next").onclick = () => this.step(1);
    this.root.querySelector(".info-toggle").onclick = () => this.toggleInfo();
    this.root.querySelector(".play").onclick = () => (this.slideshow.playing ? this.slideshow.toggle() : this.slideshow.start());
    this.root.querySelector(".boxes-toggle").onclick = () => this.toggleBoxes();
    this.root.querySelector(".faces-toggle").onclick = () => this.toggleFaces();
    this.renderMedia(item);
    this.preload(index);
    this.data = null;
    this.loadInfo(item.id);
    this.slideshow.shown();
  }

  renderMedia(item) {
    const stage = this.root.querySelector(".stage");
    const needed = Math.max(window.innerWidth, window.innerHeight) * (window.devicePixelRatio || 1);
    const poster = previewUrl(item, needed);
    if (item.type === "video") {
      stage.innerHTML = `<video class="media" controls playsinline preload="metadata"
        ${poster ? `poster="${poster}"` : ""}></video>`;
      this.video = stage.querySelector("video");
      this.zoom = null;
    } else {
      stage.innerHTML = `<img class="media" alt="${esc(describe(item))}" src="${poster || ""}" draggable="false">`;
      this.video = null;
      this.zoom = zoomable(stage, stage.querySelector("img"), {
        onSwipe: (dir) => this.step(dir),
      });
    }
    if (item.color) stage.style.background = item.color + "33";
  }

  async loadInfo(id) {
    try {
      const d = await api.entry(id);
      if (this.items()[this.index]?.id !== id) return;
      this.data = d;
      if (this.video && d.video && !this.video.src) {
        this.video.src = fileUrl(d.video);
        this.slideshow.shown(); // a video plays in the slideshow once it has its source
      }
      this.renderInfo();
      this.renderBoxes();
    } catch (err) {
      const info = this.root.querySelector(".info");
      if (info) info.textContent = err.message;
    }
  }

  refresh(event) {
    if (!this.open || !this.data) return;
    if (!event || (event.targetIds || []).includes(this.data.id)) this.loadInfo(this.data.id);
  }

  renderInfo() {
    const d = this.data;
    const info = this.root.querySelector(".info");
    if (!info || !d) return;
    const link = (label, q) => `<a href="#" class="search-link" data-q="${esc(q)}">${esc(label)}</a>`;
    const rows = [];
    if (d.date) {
      // The year once, as a link inside the date (not the date and the year again).
      const t = photoTimeParts(d.date);
      const text = t ? t.parts.map((p) => (p.type === "year" ? link(p.value, `year:${d.date.slice(0, 4)}`) : esc(p.value))).join("")
        + (t.zone ? ` (${esc(t.zone)})` : "") : esc(d.date);
      rows.push(["Date", text]);
    }
    if (d.type === "video" && d.duration) rows.push(["Duration", formatDuration(d.duration)]);
    if (d.make || d.model) {
      rows.push(["Camera", [d.make && link(d.make, `make:${quote(d.make)}`),
        d.model && link(d.model, `model:${quote(d.model)}`)].filter(Boolean).join(" ")]);
    }
    if (d.lens) rows.push(["Lens", esc(d.lens)]);
    const exp = exposureText(d);
    if (exp) rows.push(["Exposure", esc(exp)]);
    if (d.width && d.height) rows.push(["Size", `${d.width} × ${d.height}`]);
    const place = ["road", "city", "state", "country"].filter((k) => d[k])
      .map((k) => link(d[k], `${k}:${quote(d[k])}`));
    if (place.length) rows.push(["Place", place.join(", ")]);
    if (d.description || d.title) rows.push(["Text", esc([d.title, d.description].filter(Boolean).join(" — "))]);
    // Each file is a download of the original (hg-serve checks the user's filter).
    // (A static export has them only when exported with --originals: else the name alone.)
    const files = (d.files || []).map((f, n) => {
      const url = originalUrl(d.id, n, d);
      const name = url ? `<a href="${esc(url)}" download class="original" title="Download the original">${esc(f.path)}</a>`
        : `<span class="original">${esc(f.path)}</span>`;
      return `<div class="file">${name} <small>${formatBytes(f.size)}</small></div>`;
    });
    rows.push(["Files", files.join("")]);
    const primary = Math.max(0, (d.files || []).findIndex((f) => f.primary));
    const downloads = [];
    const original = d.files?.length ? originalUrl(d.id, primary, d) : null;
    if (original) downloads.push(`<a href="${esc(original)}" download class="download-original">Original</a>`);
    if (d.sizes?.length && d.preview) {
      // The largest preview (a size class: a smaller photo is not enlarged to it).
      const long = Math.max(d.width || 0, d.height || 0);
      downloads.push(`<a href="${fileUrl(`${d.preview}-image-preview-${d.sizes[0]}.jpg`)}" download
        class="download-preview">Preview ${long ? Math.min(long, d.sizes[0]) : d.sizes[0]} px</a>`);
    }
    if (d.video) downloads.push(`<a href="${fileUrl(d.video)}" download class="download-video">Video</a>`);
    if (downloads.length) rows.push(["Download", downloads.join(" · ")]);
    // Each tag searches on click and has its own remove button; the form adds one, with the
    // gallery's tags as suggestions. Both go through POST /api/events (the event log).
    const tags = (d.tags || []).map((t) => `<span class="tag-chip"><a href="#" class="tag search-link"
      data-q="${esc(`tag:${quote(t)}`)}">${esc(t)}</a><button type="button" class="tag-remove"
      data-tag="${esc(t)}" title="Remove tag ${esc(t)}" aria-label="Remove tag ${esc(t)}">×</button></span>`);
    rows.push(["Tags", `<div class="tag-list">${tags.join(" ") || '<span class="muted">none</span>'}</div>
      <form class="detail-tag-form"><input class="detail-tag-input" list="detail-tag-suggestions"
        placeholder="Add a tag (t)" autocomplete="off" spellcheck="false" aria-label="Add a tag">
        <datalist id="detail-tag-suggestions"></datalist><button type="submit">Add</button></form>`]);
    if (d.objects?.length) {
      const counts = new Map();
      for (const o of d.objects) counts.set(o.class, (counts.get(o.class) || 0) + 1);
      const labels = [...counts].map(([c, n]) => link(n > 1 ? `${c} ×${n}` : c, `object:${quote(c)}`));
      rows.push(["Objects", labels.join(" ")]);
    }
    // One link a face: the photos with this face (HomeGallery's face search), by name
    // once the face has one; a grouped face's ✎ (or its box) opens its form under the list.
    if (d.faces?.length) {
      const edit = (f, n) => (f.person && !STATIC ? `<button type="button" class="face-edit" data-n="${n}"
        title="Name this person" aria-label="Name face ${n + 1}">✎</button>` : "");
      rows.push(["Faces", d.faces.map((f, n) => `<span class="face-chip"><a href="#" class="search-link face-link"
        data-q="${esc(faceQuery(d.id, n))}" title="Photos with this face">${esc(faceName(f) || `face ${n + 1}`)}</a>${edit(f, n)}</span>`).join(" ")]);
    }
    // A re-render (a live edit, a reload) keeps what is being typed into the tag input.
    const typing = info.querySelector(".detail-tag-input");
    const keep = typing && { value: typing.value, focused: document.activeElement === typing };
    const naming = info.querySelector(".face-name-input");
    const keepName = naming && Number(naming.closest("form").dataset.n) === this.faceEdit
      && { value: naming.value, focused: document.activeElement === naming };
    info.innerHTML = `<dl>${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>${this.faceForm(d)}
      ${d.latitude != null && !STATIC ? '<div class="minimap"></div>' : ""}
      ${d.has_similar ? `<a href="#" class="search-link" data-q="similar:${esc(d.id)}">Similar images</a>` : ""}`;
    for (const a of info.querySelectorAll(".search-link")) {
      a.addEventListener("click", (e) => { e.preventDefault(); this.onSearch(a.dataset.q); });
    }
    if (d.latitude != null && !STATIC) this.minimap(info.querySelector(".minimap"), d.latitude, d.longitude);
    this.wireTags(info, keep);
    this.wireFaces(info, keepName);
  }

  // The open face's form: its crop, a name with the gallery's names as suggestions (the
  // name of someone else merges this person into them: "this is Anna"), the person's
  // photos, similar faces and "not this person" (the face leaves its person).
  faceForm(d) {
    const n = this.faceEdit;
    const f = n === null ? null : d.faces?.[n];
    if (!f) return "";
    const name = f.person?.name || "";
    const url = faceUrl(d.id, n, 128); // 64 css px, sharp at 2x
    const person = STATIC ? null : f.person; // a static export cannot be edited
    return `<form class="face-form" data-n="${n}">
      ${url ? `<img class="face-crop" src="${esc(url)}" alt="">` : ""}
      ${person ? `<div class="face-name-row"><input class="face-name-input" list="face-name-suggestions"
        placeholder="Who is this?" autocomplete="off" spellcheck="false" aria-label="Name of this person">
        <datalist id="face-name-suggestions"></datalist><button type="submit">Save</button></div>` : ""}
      <div class="face-actions">
        ${person ? `<a href="#" class="search-link person-link" data-q="${esc(personQuery(person))}">Photos of ${esc(name || "this person")}</a>` : ""}
        <a href="#" class="search-link face-similar" data-q="${esc(faceQuery(d.id, n))}">Similar faces</a>
        ${person ? `<button type="button" class="face-reject">Not ${esc(name || "this person")}</button>` : ""}
      </div></form>`;
  }

  wireFaces(info, keep) {
    for (const b of info.querySelectorAll(".face-edit")) {
      b.addEventListener("click", () => this.editFace(Number(b.dataset.n)));
    }
    const form = info.querySelector(".face-form");
    if (!form) return;
    const d = this.data;
    const n = Number(form.dataset.n);
    const person = d.faces[n].person;
    const input = form.querySelector(".face-name-input");
    if (input) {
      input.value = keep ? keep.value : person?.name || "";
      input.addEventListener("focus", () => this.loadNames(), { once: true });
      if (keep?.focused) input.focus();
      input.addEventListener("keydown", (e) => {
        if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); this.editFace(null); }
      });
    }
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const people = await this.people();
      const edit = person && namingEdit(people, person, input.value);
      if (!edit) { this.editFace(null); return; }
      const { label, ...body } = edit;
      await this.personEdit(body, label);
    });
    form.querySelector(".face-reject")?.addEventListener("click", () => this.personEdit(
      { action: "reject", face: `${d.id}.${n}` }, `Taken out of ${person.name || "this person"}`));
  }

  async personEdit(body, label) {
    const id = this.data?.id;
    if (!(await this.onPersonEdit(body, label))) return;
    this.peopleList = null; // names and groups changed
    if (this.data?.id === id) this.editFace(null); // the refresh relabels the boxes
  }

  // The people this user can see (GET /api/people: within their filter), once per open form.
  people() {
    if (!this.peopleList) {
      this.peopleList = api.people("").then((r) => r.people).catch(() => { this.peopleList = null; return []; });
    }
    return this.peopleList;
  }

  async loadNames() {
    const people = await this.people();
    const own = this.data?.faces?.[this.faceEdit]?.person?.name;
    const list = this.root.querySelector("#face-name-suggestions");
    if (list) list.innerHTML = nameOptions(people, own);
  }

  // A face's form open (n) or closed (null); the info panel opens for it when hidden.
  editFace(n) {
    this.faceEdit = n;
    if (n !== null && !this.showInfo) this.toggleInfo();
    this.renderInfo();
    if (n !== null) this.root.querySelector(".face-name-input")?.focus();
  }

  wireTags(info, keep) {
    const input = info.querySelector(".detail-tag-input");
    if (keep) {
      input.value = keep.value;
      if (keep.focused) input.focus();
    }
    info.querySelector(".detail-tag-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const value = input.value.trim();
      if (value) this.editTag("addTag", value);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); input.blur(); }
    });
    input.addEventListener("focus", () => this.loadSuggestions(), { once: true });
    for (const b of info.querySelectorAll(".tag-remove")) {
      b.addEventListener("click", () => this.editTag("removeTag", b.dataset.tag));
    }
  }

  // The gallery's tags the user can see (GET /api/tags answers within their filter).
  async loadSuggestions() {
    if (!this.suggestions) this.suggestions = api.tags("").catch(() => { this.suggestions = null; return []; });
    const tags = await this.suggestions;
    const list = this.root.querySelector("#detail-tag-suggestions");
    const own = new Set(this.data?.tags || []);
    list?.replaceChildren(...tags.filter((t) => !own.has(t.tag)).slice(0, 200).map((t) => {
      const o = document.createElement("option");
      o.value = t.tag;
      return o;
    }));
  }

  async editTag(action, value) {
    const d = this.data;
    if (!d) return;
    const ok = await this.onEdit([d.id], [{ action, value }]);
    if (!ok || this.data?.id !== d.id) return;
    const input = this.root.querySelector(".detail-tag-input");
    if (action === "addTag" && input) input.value = "";
    this.suggestions = null; // a new tag is a suggestion from now on
    // Shown at once (also when the edit waits offline), then confirmed by the server.
    d.tags = action === "addTag" ? [...new Set([...(d.tags || []), value])].sort()
      : (d.tags || []).filter((t) => t !== value);
    this.renderInfo();
    this.loadInfo(d.id);
  }

  // t: the tag input (the info panel opens for it when hidden).
  focusTagInput() {
    if (!this.showInfo) this.toggleInfo();
    this.root.querySelector(".detail-tag-input")?.focus();
  }

  async minimap(el, lat, lon) {
    const { loadLeaflet, tileLayer, worldOutline } = await import("./leaflet-loader.js");
    const L = await loadLeaflet();
    if (!el.isConnected) return;
    const map = L.map(el, { zoomControl: false, attributionControl: false }).setView([lat, lon], 11);
    const [tiles] = await Promise.all([tileLayer(L), worldOutline(L, map)]);
    if (tiles) tiles.once("tileerror", () => map.setZoom(4)).addTo(map); // no tiles: show the region
    else map.setZoom(4);
    L.circleMarker([lat, lon], { radius: 6, color: "#3b82f6" }).addTo(map);
    // Made while the panel may be hidden (a phone): sized again when it is shown.
    this.mini = { map, center: [lat, lon] };
  }

  preload(index) {
    const list = this.items();
    const needed = Math.max(window.innerWidth, window.innerHeight) * (window.devicePixelRatio || 1);
    for (const i of [index + 1, index - 1]) {
      const item = list[i];
      if (!item) continue;
      const url = previewUrl(item, needed);
      if (url) { const img = new Image(); img.src = url; }
    }
  }

  step(dir) {
    const next = this.index + dir;
    if (next < 0 || next >= this.items().length) return;
    this.onNavigate(next);
  }

  toggleInfo() {
    this.showInfo = !this.showInfo;
    const info = this.root.querySelector(".info");
    if (info) info.hidden = !this.showInfo;
    this.zoom?.reset(); // the photo's area changed size: show it whole again
    if (this.showInfo && this.mini?.map.getContainer().isConnected) {
      this.mini.map.invalidateSize();
      this.mini.map.setView(this.mini.center, this.mini.map.getZoom());
    }
  }

  toggleBoxes() {
    this.showBoxes = !this.showBoxes;
    sessionStorage.setItem("hg.boxes", this.showBoxes ? "1" : "0");
    this.renderBoxes();
  }

  toggleFaces() {
    this.showFaces = !this.showFaces;
    sessionStorage.setItem("hg.faces", this.showFaces ? "1" : "0");
    this.renderBoxes();
  }

  // What can be drawn over the photo, of the record's `objects` or `faces`: the ones with a
  // box, each with its index in the list (a face's search names it by that), none on a
  // video (no boxes to draw over). The one rule for both layers, their buttons and keys.
  drawable(list) {
    if (!this.root.querySelector(".stage img.media")) return [];
    return (list || []).map((item, n) => ({ item, n })).filter(({ item }) => item.width > 0 && item.height > 0);
  }

  // The boxes over the photo, objects' and faces' in one SVG over the image with the
  // preview's pixel size as its viewBox and the image's `object-fit: contain` as its
  // preserveAspectRatio, so boxes (relative to the oriented preview the models saw) land on
  // the photo at any displayed size; zoom.js moves it with the image. Attributes, not
  // style attributes: the content security policy allows styles from files only. A face
  // is a link to the photos with that face, labelled with its person's name when it has one.
  renderBoxes() {
    const stage = this.root.querySelector(".stage");
    const img = stage?.querySelector("img.media");
    const objects = this.drawable(this.data?.objects);
    const faces = this.drawable(this.data?.faces);
    for (const [selector, list, on] of [[".boxes-toggle", objects, this.showBoxes], [".faces-toggle", faces, this.showFaces]]) {
      const button = this.root.querySelector(selector);
      if (!button) continue;
      button.hidden = !img || !list.length;
      button.setAttribute("aria-pressed", String(on));
    }
    stage?.querySelector(".boxes")?.remove();
    const shown = [...(this.showBoxes ? objects : []), ...(this.showFaces ? faces : [])];
    if (!img || !shown.length) return;
    if (!img.naturalWidth) { img.addEventListener("load", () => this.renderBoxes(), { once: true }); return; }
    const w = img.naturalWidth;
    const h = img.naturalHeight;
    const font = Math.max(w, h) / 40;
    const box = (o, label) => {
      const [x, y, bw, bh] = [o.x * w, o.y * h, o.width * w, o.height * h];
      const ty = y > font * 1.2 ? y - font * 0.3 : y + font;
      return `<rect x="${x}" y="${y}" width="${bw}" height="${bh}"></rect>${label
        ? `<text x="${x + font * 0.2}" y="${ty}" font-size="${font}">${esc(label)}</text>` : ""}`;
    };
    const id = this.data.id;
    const svg = `<svg class="boxes" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}"
      preserveAspectRatio="xMidYMid meet">${this.showBoxes ? objects.map(({ item: o }) =>
        `<g class="box" aria-hidden="true">${box(o, `${o.class} ${Math.round(o.score * 100)}%`)}</g>`).join("") : ""}${
      this.showFaces ? faces.map(({ item: f, n }) => {
        const name = faceName(f);
        const what = name ? `${name}: name, photos, similar faces` : "Who is this? Name, photos, similar faces";
        return `<a href="#" class="face-box" data-q="${esc(faceQuery(id, n))}" data-n="${n}"
          aria-label="${esc(what)}"><title>${esc(what)}</title>${box(f, name)}</a>`;
      }).join("") : ""}</svg>`;
    img.insertAdjacentHTML("afterend", svg);
    const overlay = stage.querySelector(".boxes");
    overlay.style.transform = img.style.transform;
    for (const a of overlay.querySelectorAll(".face-box")) {
      a.addEventListener("click", (e) => { e.preventDefault(); this.editFace(Number(a.dataset.n)); });
    }
  }

  close() {
    this.slideshow.stop();
    this.root.hidden = true;
    this.root.replaceChildren();
    document.body.classList.remove("detail-open");
    this.video = null;
    this.zoom = null;
  }

  // Go to an index, clamped to the list (Home/End, ±10, ±100).
  go(index) {
    const last = this.items().length - 1;
    const to = Math.max(0, Math.min(last, index));
    if (to !== this.index) this.onNavigate(to);
  }

  // HomeGallery's media-view keys (useMediaViewHotkeys) and hg's own (o, f, d, t); `?` lists
  // them (help.js). Space on a focused video's controls stays the video's.
  key(e) {
    if (!this.open || e.target.closest?.("input, textarea")) return;
    if (e.altKey || e.metaKey) return;
    if (this.slideshow.key(e)) { e.preventDefault(); return; }
    const jump = e.ctrlKey ? (e.shiftKey ? 100 : 10) : 1;
    const k = e.key;
    const d = this.data;
    if (k === "ArrowRight" || (k === "k" && !e.ctrlKey)) this.go(this.index + jump);
    else if (k === "ArrowLeft" || (k === "j" && !e.ctrlKey)) this.go(this.index - jump);
    else if (e.ctrlKey) return; // the browser's own Ctrl keys (copy, find, …)
    else if (k === " " && !e.target.closest?.("video")) this.go(this.index + 1);
    else if (k === "Backspace") this.go(this.index - 1);
    else if (k === "Home") this.go(0);
    else if (k === "End") this.go(this.items().length - 1);
    else if (k === "Escape") this.onClose();
    else if (k === "i") this.toggleInfo();
    else if (k === "o" && this.drawable(d?.objects).length) this.toggleBoxes();
    else if (k === "f" && this.drawable(d?.faces).length) this.toggleFaces();
    else if (k === "s" && d?.has_similar) this.onSearch(`similar:${d.id}`);
    else if (k === "m" && d?.latitude != null) this.onMap?.(d);
    else if (k === "c" && d) this.onChronology?.(d.id);
    else if (k === "t" && d) this.focusTagInput();
    else if (k === "d" && d?.files?.length) this.root.querySelector(".download-original")?.click();
    else return;
    e.preventDefault();
  }
}

export { BASE, photoTime, pickSize };
