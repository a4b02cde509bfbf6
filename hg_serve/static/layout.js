// Justified rows with month headers: pure, O(n), so re-laying 100k entries on resize is cheap.
export const monthKey = (date) => (date || "").slice(0, 7);
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];

export function monthLabel(key) {
  const [y, m] = key.split("-");
  return m ? `${MONTHS[Number(m) - 1]} ${y}` : "Unknown date";
}

export function aspect(item) {
  const r = item.w > 0 && item.h > 0 ? item.w / item.h : 1;
  return Math.min(4, Math.max(0.25, r));
}

// rows: {kind: "header"|"row", top, height, label?, start, end, lefts[], widths[]}
// Without `headers` (items not in date order: similarity, random, size) no month headers.
export function justify(items, width, targetHeight, headers = true, gap = 4, headerHeight = 44) {
  const rows = [];
  let top = 0;
  let start = 0;
  let sum = 0;
  let month = null;
  const close = (end, stretch) => {
    if (end <= start) return;
    const n = end - start;
    const h = stretch ? (width - gap * (n - 1)) / sum : targetHeight;
    const lefts = [];
    const widths = [];
    let x = 0;
    for (let i = start; i < end; i++) {
      const w = aspect(items[i]) * h;
      lefts.push(x);
      widths.push(w);
      x += w + gap;
    }
    rows.push({ kind: "row", top, height: h, start, end, lefts, widths });
    top += h + gap;
    start = end;
    sum = 0;
  };
  for (let i = 0; i < items.length; i++) {
    const key = headers ? monthKey(items[i].date) : null;
    if (headers && key !== month) {
      close(i, false);
      month = key;
      rows.push({ kind: "header", top, height: headerHeight, label: monthLabel(key), key, start: i, end: i });
      top += headerHeight;
      start = i;
    }
    sum += aspect(items[i]);
    if (sum * targetHeight + gap * (i - start) >= width) close(i + 1, true);
  }
  close(items.length, false);
  return { rows, height: top };
}

// Index of the last row whose top is <= y (binary search).
export function rowAt(rows, y) {
  let lo = 0;
  let hi = rows.length - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid].top <= y) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}

// The year scrubber: each year's label at its share of the timeline's height, in px of a
// track `trackHeight` tall. A label that would overlap the one above it (labels are `size`
// px) becomes a tick without text; the labels never run past the track's end.
export function scrubberMarks(years, gridHeight, trackHeight, size = 30) {
  const marks = [];
  let free = 0; // the first y where a label fits
  const last = Math.max(0, trackHeight - size);
  for (const { year, top } of years) {
    const y = Math.min(last, Math.round((top / Math.max(1, gridHeight)) * trackHeight));
    const label = y >= free;
    if (label) free = y + size;
    marks.push({ year, y, label });
  }
  return marks;
}

// The first header row of `year` (rows are newest first, so its latest month).
export function yearRow(rows, year) {
  return rows.find((r) => r.kind === "header" && r.key.startsWith(String(year)));
}
