// The keyboard help: `?` opens an overlay listing the keys of the grid and of the detail
// view (HomeGallery's media-view keys and hg's own), Esc or `?` closes it. Listens in the
// capture phase, so the Esc that closes the help does not also close the detail view.
const KEYS = [
  ["Everywhere", [["?", "this help"], ["/", "search"], ["Esc", "close, or stop selecting"],
    ["p", "slideshow (on the grid: from the first photo)"]]],
  ["Photo", [
    ["→ k Space", "next"], ["← j Backspace", "previous"], ["Ctrl+→ Ctrl+←", "10 on, 10 back"],
    ["Ctrl+Shift+→ Ctrl+Shift+←", "100 on, 100 back"], ["Home End", "first, last"],
    ["i", "info"], ["o", "object boxes"], ["f", "faces (click one: name it, its person, similar faces)"], ["s", "similar images"], ["m", "on the map"],
    ["c", "in the whole timeline (chronology)"], ["d", "download the original"], ["t", "add a tag (Enter adds, Esc leaves the input)"],
    ["p", "slideshow: play, pause"], ["Esc", "back to the photos"],
  ]],
  ["Slideshow", [["Space p", "pause, play"], ["→ ←", "next, previous"], ["+ -", "slower, faster"],
    ["Esc", "stop"]]],
];

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export class Help {
  constructor(root) {
    this.root = root;
    root.innerHTML = `<div class="help-box" role="dialog" aria-modal="true" aria-labelledby="help-title">
      <h2 id="help-title">Keys</h2>
      ${KEYS.map(([title, keys]) => `<h3>${esc(title)}</h3><dl>${keys.map(([k, what]) =>
        `<dt>${k.split(" ").map((key) => `<kbd>${esc(key)}</kbd>`).join(" ")}</dt><dd>${esc(what)}</dd>`).join("")}</dl>`).join("")}
      <button type="button" class="help-close">Close</button></div>`;
    root.querySelector(".help-close").addEventListener("click", () => this.close());
    root.addEventListener("click", (e) => { if (e.target === root) this.close(); });
    document.addEventListener("keydown", (e) => this.key(e), true);
  }

  get open() { return !this.root.hidden; }

  show() {
    this.returnFocus = document.activeElement;
    this.root.hidden = false;
    this.root.querySelector(".help-close").focus();
  }

  close() {
    this.root.hidden = true;
    this.returnFocus?.focus?.();
  }

  key(e) {
    if (e.target.closest?.("input, textarea")) return;
    if (e.key === "?" && !e.ctrlKey && !e.metaKey) {
      if (this.open) this.close(); else this.show();
    } else if (this.open && e.key === "Escape") this.close();
    else if (!this.open) return;
    // While open, the help takes every key (the photo behind it does not move).
    e.preventDefault();
    e.stopPropagation();
  }
}
