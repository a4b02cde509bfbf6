// The timeline: loads a query's grid items in chunks, lays them out in justified rows and
// keeps only the rows near the viewport in the DOM (virtual scrolling for 100k entries).
import { api, appUrl, previewUrl } from "./api.js";
import { describe, formatDuration } from "./labels.js";
import { justify, rowAt, scrubberMarks, yearRow } from "./layout.js";

export { formatDuration };

const CHUNKS = [500, 2000, 5000];
const BUFFER = 800; // px rendered above and below the viewport

export class Timeline {
  constructor(scroller, grid, scrubber, { onOpen, onClick, onLoaded, onError }) {
    Object.assign(this, { scroller, grid, scrubber, onOpen, onClick, onLoaded, onError });
    this.items = [];
    this.index = new Map();
    this.rows = [];
    this.total = 0;
    this.base = 0; // the place of items[0] in the query's results (a year jump: > 0)
    this.before = [];
    this.wantYear = null;
    this.dated = true; // the items are in date order: month headers
    this.q = null;
    this.generation = 0;
    this.rendered = new Map();
    this.selection = new Set();
    this.width = 0;
    scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => {
      this.relayout();
      if (this.scrubber.clientHeight !== this.track) this.renderScrubber(); // taller or shorter
    }).observe(scroller);
    grid.addEventListener("click", (e) => this.click(e));
  }

  targetHeight() {
    return this.scroller.clientWidth < 600 ? 110 : 180;
  }

  // Load query q's items from `start` to the end; keepAnchor keeps the first visible entry
  // where it is. `start` is 0 (every item), a year's place in the results (a year jump:
  // the newer items load only when the view is scrolled up to them, see loadBefore), or,
  // by default, where the shown items of q start (a refresh).
  // Every load ends in setItems, also one without results (the grid empties, the count
  // says 0): nothing of the previous query stays on screen.
  async load(q, keepAnchor = false, start = null) {
    const generation = ++this.generation;
    const anchor = keepAnchor ? this.anchor() : null;
    const base = start ?? (q === this.q ? this.base : 0);
    if (start === null) this.wantYear = null;
    this.before = []; // the items loadBefore put ahead of `base`
    const items = [];
    let offset = base;
    let total = 0;
    let chunk = 0;
    let dated = true;
    const all = () => (this.before.length ? [...this.before, ...items] : items);
    try {
      for (;;) {
        const page = await api.entries(q, offset, CHUNKS[Math.min(chunk++, CHUNKS.length - 1)]);
        if (generation !== this.generation) return;
        items.push(...page.entries);
        dated = page.dated !== false;
        offset += page.entries.length;
        total = page.entries.length ? page.total : offset; // fewer than announced: shrank meanwhile
        const done = offset >= total;
        // First chunk of a new query paints at once; a refresh swaps when complete.
        if (!keepAnchor) this.setItems(q, all(), total, null, done, dated, base - this.before.length);
        if (done) break;
      }
    } catch (err) {
      if (generation === this.generation) this.onError(err);
      return;
    }
    if (keepAnchor) this.setItems(q, all(), total, anchor, true, dated, base - this.before.length);
  }

  // Show a year of query q without loading every newer item first (a million entries:
  // minutes of JSON): load from the year's offset in the results (/api/years), then put
  // its first month header at the top (setItems).
  jumpToYear(q, year, offset) {
    this.wantYear = String(year);
    this.load(q, false, offset);
  }

  // The shown items start after the query's first (a year jump) and the view is near
  // their top: load the chunk before them, keeping the entry at the top where it is.
  async loadBefore() {
    if (this.loadingBefore || this.base <= 0) return;
    const generation = this.generation;
    this.loadingBefore = true;
    try {
      const start = Math.max(0, this.base - CHUNKS[1]);
      const page = await api.entries(this.q, start, this.base - start);
      if (generation !== this.generation) return;
      // at the very top anchor() means "stay at the top": here the first row stays put
      const first = this.rows[0];
      const anchor = this.scroller.scrollTop > 0 || !first ? this.anchor()
        : { id: this.items[first.start].id, header: first.kind === "header", offset: 0 };
      const after = this.items.slice(this.before.length);
      this.before = [...page.entries, ...this.before];
      this.setItems(this.q, [...this.before, ...after], this.total, anchor, false, this.dated, start);
    } catch (err) {
      if (generation === this.generation) this.onError(err);
    } finally {
      this.loadingBefore = false;
    }
  }

  setItems(q, items, total, anchor, done, dated = true, base = 0) {
    const fresh = q !== this.q;
    this.q = q;
    this.dated = dated;
    this.items = items;
    this.base = base; // the place of items[0] in the query's results
    this.total = total;
    this.index = new Map(items.map((it, i) => [it.id, i]));
    this.relayout(true);
    if (fresh && !anchor) this.scroller.scrollTop = 0;
    if (anchor) { this.restore(anchor); this.render(); } // the rows there now, not a frame later
    if (this.wantYear && this.scrollToYear(this.wantYear)) this.wantYear = null;
    if (done) this.onLoaded(this);
  }

  // What is at the top of the view: the top itself, or the first visible row (a month
  // header or a row of photos) by its first entry, and how far it is scrolled past.
  anchor() {
    const top = this.scroller.scrollTop;
    if (top <= 0) return { top: true };
    const r = this.rows[rowAt(this.rows, top)];
    if (!r || !this.items.length) return null;
    const i = Math.min(r.start, this.items.length - 1);
    return { id: this.items[i].id, header: r.kind === "header", offset: r.top - top };
  }

  restore(anchor) {
    if (anchor.top) { this.scroller.scrollTop = 0; return; }
    const i = this.index.get(anchor.id);
    if (i === undefined) return;
    const row = (anchor.header && this.rows.find((r) => r.kind === "header" && r.start === i))
      || this.rowOf(i);
    if (row) this.scroller.scrollTop = row.top - anchor.offset;
  }

  rowOf(i) {
    return this.rows.find((r) => r.kind === "row" && r.start <= i && i < r.end);
  }

  relayout(force = false) {
    const width = this.scroller.clientWidth - 8;
    if (width <= 0) { // hidden (another view is open): lay out again when shown
      this.width = 0;
      if (force) { this.rows = []; this.clear(); }
      return;
    }
    if (!force && width === this.width) return;
    const anchor = force ? null : this.anchor();
    this.width = width;
    const { rows, height } = justify(this.items, width, this.targetHeight(), this.dated);
    this.rows = rows;
    this.height = height;
    this.grid.style.height = `${height}px`;
    this.clear();
    if (anchor) this.restore(anchor);
    this.render();
    this.renderScrubber();
  }

  clear() {
    for (const el of this.rendered.values()) el.remove();
    this.rendered.clear();
  }

  schedule() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = null; this.render(); });
  }

  render() {
    if (!this.rows.length) return;
    if (this.base > 0 && this.scroller.scrollTop < BUFFER) this.loadBefore();
    const top = this.scroller.scrollTop - BUFFER;
    const bottom = this.scroller.scrollTop + this.scroller.clientHeight + BUFFER;
    const first = rowAt(this.rows, Math.max(0, top));
    const wanted = new Set();
    for (let r = first; r < this.rows.length && this.rows[r].top < bottom; r++) wanted.add(r);
    for (const [r, el] of this.rendered) if (!wanted.has(r)) { el.remove(); this.rendered.delete(r); }
    for (const r of wanted) if (!this.rendered.has(r)) this.rendered.set(r, this.renderRow(this.rows[r]));
    this.markScrubber();
  }

  renderRow(row) {
    const el = document.createElement("div");
    el.style.transform = `translateY(${row.top}px)`;
    el.style.height = `${row.height}px`;
    if (row.kind === "header") {
      el.className = "month";
      el.textContent = row.label;
      el.dataset.month = row.key;
    } else {
      el.className = "row";
      const dpr = window.devicePixelRatio || 1;
      for (let i = row.start; i < row.end; i++) {
        const item = this.items[i];
        const cell = document.createElement("a");
        const w = row.widths[i - row.start];
        cell.className = "cell" + (this.selection.has(item.id) ? " selected" : "");
        cell.href = appUrl(`/view/${item.id}`);
        cell.setAttribute("aria-label", describe(item));
        cell.dataset.index = i;
        cell.dataset.id = item.id;
        cell.style.left = `${row.lefts[i - row.start]}px`;
        cell.style.width = `${w}px`;
        cell.style.height = `${row.height}px`;
        if (item.color) cell.style.background = item.color;
        const url = previewUrl(item, Math.max(w, row.height) * dpr);
        if (url) {
          const img = document.createElement("img");
          img.decoding = "async";
          img.alt = describe(item);
          img.draggable = false;
          img.onload = () => img.classList.add("loaded");
          img.src = url;
          cell.append(img);
        }
        if (item.type === "video") {
          const badge = document.createElement("span");
          badge.className = "badge";
          badge.textContent = `▶ ${formatDuration(item.duration)}`;
          cell.append(badge);
        }
        el.append(cell);
      }
    }
    this.grid.append(el);
    return el;
  }

  click(event) {
    const cell = event.target.closest(".cell");
    if (!cell || event.ctrlKey || event.metaKey || event.button !== 0) return;
    event.preventDefault();
    this.onClick(Number(cell.dataset.index), event);
  }

  refreshSelection() {
    for (const el of this.grid.querySelectorAll(".cell")) {
      el.classList.toggle("selected", this.selection.has(el.dataset.id));
    }
  }

  scrollToIndex(i) {
    const row = this.rowOf(i);
    if (!row) return;
    const view = this.scroller;
    if (row.top < view.scrollTop || row.top + row.height > view.scrollTop + view.clientHeight) {
      view.scrollTop = row.top - view.clientHeight / 3;
    }
  }

  // The year's first month header at the top of the view. Lays out first: the timeline
  // may have just been shown again (from the years page) with rows of another width.
  scrollToYear(year) {
    this.relayout();
    const row = yearRow(this.rows, year);
    if (row) { this.scroller.scrollTop = row.top; this.render(); }
    return Boolean(row);
  }

  years() {
    const seen = [];
    for (const r of this.rows) {
      if (r.kind !== "header") continue;
      const y = r.key.slice(0, 4);
      if (y && seen[seen.length - 1]?.year !== y) seen.push({ year: y, top: r.top });
    }
    return seen;
  }

  // Years as labels where they fit, as ticks where they would overlap (scrubberMarks).
  renderScrubber() {
    this.track = this.scrubber.clientHeight;
    const marks = scrubberMarks(this.years(), this.height || 1, this.track);
    this.scrubber.replaceChildren(...marks.map(({ year, y, label }) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = label ? "label" : "tick";
      b.textContent = label ? year : "";
      b.title = year;
      b.dataset.year = year;
      if (!label) b.setAttribute("aria-label", year);
      b.style.top = `${y}px`;
      b.addEventListener("click", () => this.scrollToYear(year));
      return b;
    }));
    this.markScrubber();
  }

  markScrubber() {
    const r = this.rows[rowAt(this.rows, this.scroller.scrollTop + 1)];
    if (!r) return;
    const item = this.items[Math.min(r.start, this.items.length - 1)];
    const year = item?.date?.slice(0, 4);
    for (const b of this.scrubber.children) b.classList.toggle("current", b.dataset.year === year);
  }
}
