// Zoom and pan for one image: wheel and double-click zoom at the pointer, two-finger
// pinch, drag to pan when zoomed, horizontal swipe (when not zoomed) to change images.
const MAX = 8;

export function zoomable(stage, img, { onSwipe }) {
  let scale = 1;
  let tx = 0;
  let ty = 0;
  const pointers = new Map();
  let start = null; // gesture start: {x, y, tx, ty, scale, dist, mid}

  const clamp = () => {
    scale = Math.min(MAX, Math.max(1, scale));
    const w = stage.clientWidth;
    const h = stage.clientHeight;
    tx = Math.min(0, Math.max(w * (1 - scale), tx));
    ty = Math.min(0, Math.max(h * (1 - scale), ty));
    if (scale === 1) { tx = 0; ty = 0; }
  };
  const apply = () => {
    clamp();
    img.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`;
    // The object boxes' overlay (detail.js) moves with the image.
    const boxes = stage.querySelector(".boxes");
    if (boxes) boxes.style.transform = img.style.transform;
    img.dataset.scale = scale.toFixed(3);
    stage.classList.toggle("zoomed", scale > 1);
  };
  const local = (e) => {
    const r = stage.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  const zoomAt = (p, next) => {
    const ratio = Math.min(MAX, Math.max(1, next)) / scale;
    tx = p.x - (p.x - tx) * ratio;
    ty = p.y - (p.y - ty) * ratio;
    scale *= ratio;
    apply();
  };

  stage.addEventListener("wheel", (e) => {
    e.preventDefault();
    zoomAt(local(e), scale * Math.exp(-e.deltaY * 0.002));
  }, { passive: false });

  stage.addEventListener("dblclick", (e) => {
    e.preventDefault();
    zoomAt(local(e), scale > 1 ? 1 : 2.5);
  });

  const dist = (a, b) => Math.hypot(a.x - b.x, a.y - b.y);
  const begin = () => {
    const ps = [...pointers.values()];
    start = { tx, ty, scale, x: ps[0].x, y: ps[0].y, moved: false };
    if (ps.length === 2) {
      start.dist = dist(ps[0], ps[1]);
      start.mid = { x: (ps[0].x + ps[1].x) / 2, y: (ps[0].y + ps[1].y) / 2 };
    }
  };

  stage.addEventListener("pointerdown", (e) => {
    if (e.target.closest("button, a, video")) return;
    stage.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, local(e));
    begin();
  });
  stage.addEventListener("pointermove", (e) => {
    if (!pointers.has(e.pointerId) || !start) return;
    pointers.set(e.pointerId, local(e));
    const ps = [...pointers.values()];
    if (ps.length === 2 && start.dist) {
      const mid = { x: (ps[0].x + ps[1].x) / 2, y: (ps[0].y + ps[1].y) / 2 };
      const next = Math.min(MAX, Math.max(1, start.scale * (dist(ps[0], ps[1]) / start.dist)));
      const ratio = next / start.scale;
      scale = next;
      tx = mid.x - (start.mid.x - start.tx) * ratio;
      ty = mid.y - (start.mid.y - start.ty) * ratio;
      apply();
    } else if (ps.length === 1 && scale > 1) {
      tx = start.tx + ps[0].x - start.x;
      ty = start.ty + ps[0].y - start.y;
      apply();
    }
    start.moved = true;
  });
  const end = (e) => {
    const p = pointers.get(e.pointerId);
    if (p && pointers.size === 1 && start && start.scale === 1 && scale === 1) {
      const dx = p.x - start.x;
      const dy = p.y - start.y;
      if (Math.abs(dx) > 60 && Math.abs(dx) > 2 * Math.abs(dy)) onSwipe(dx < 0 ? 1 : -1);
    }
    pointers.delete(e.pointerId);
    if (pointers.size) begin(); else start = null;
  };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", end);
  apply();
  return { get scale() { return scale; }, reset() { scale = 1; apply(); } };
}
