// The slideshow: the detail view steps through the result set by itself. `p` (or the ▶
// button) starts it on the photo shown, or from the grid on the first; every `interval`
// seconds the next one, a video plays to its end first. Space or p pauses and resumes,
// ← → step (the timer starts again), + and − make it slower or faster (1–60 s, kept in
// localStorage), Esc stops it (a second Esc closes the detail view); it stops after the
// last photo.
const KEY = "hg.slideshow.interval";
const MIN = 1;
const MAX = 60;

export class Slideshow {
  constructor(detail) {
    this.detail = detail;
    this.playing = false;
    this.paused = false;
    this.timer = 0;
    const kept = Number(localStorage.getItem(KEY));
    this.interval = kept >= MIN && kept <= MAX ? kept : 5;
  }

  start() {
    this.playing = true;
    this.paused = false;
    this.shown();
  }

  stop() {
    this.playing = false;
    clearTimeout(this.timer);
    this.badge()?.remove();
  }

  toggle() {
    this.paused = !this.paused;
    this.shown();
  }

  // The detail view shows an item (a step, by hand or by the timer): the timer starts again.
  shown() {
    clearTimeout(this.timer);
    if (!this.playing) return;
    const video = this.detail.video;
    this.render(video);
    if (video) video.onended = null;
    if (this.paused) { video?.pause(); return; }
    if (!video) { this.timer = setTimeout(() => this.next(), this.interval * 1000); return; }
    if (!video.src) return; // the detail view sets it once the entry is loaded, then calls again
    video.onended = () => this.next();
    // Played to its end; if the browser refuses to play it, shown as long as a photo.
    video.play().catch(() => { this.timer = setTimeout(() => this.next(), this.interval * 1000); });
  }

  next() {
    if (!this.playing || this.paused || !this.detail.open) return;
    if (this.detail.index >= this.detail.items().length - 1) { this.stop(); return; }
    this.detail.step(1);
  }

  badge() { return this.detail.root.querySelector(".slideshow"); }

  render(video) {
    let el = this.badge();
    if (!el) {
      el = document.createElement("div");
      el.className = "slideshow";
      el.setAttribute("role", "status");
      this.detail.root.querySelector(".viewer")?.append(el);
    }
    el.textContent = this.paused ? "❚❚ paused" : video ? "▶ video" : `▶ ${this.interval} s`;
  }

  setInterval(seconds) {
    this.interval = Math.max(MIN, Math.min(MAX, seconds));
    localStorage.setItem(KEY, String(this.interval));
    this.shown();
  }

  // Keys while the detail view is open; true when the slideshow took the key.
  key(e) {
    if (e.ctrlKey || e.altKey || e.metaKey) return false;
    if (!this.playing) {
      if (e.key !== "p") return false;
      this.start();
      return true;
    }
    if (e.key === " " || e.key === "p") this.toggle();
    else if (e.key === "Escape") this.stop();
    else if (e.key === "+" || e.key === "=") this.setInterval(this.interval + 1);
    else if (e.key === "-" || e.key === "−") this.setInterval(this.interval - 1);
    else return false; // ← → and the rest: the detail view's (a step restarts the timer)
    return true;
  }
}
