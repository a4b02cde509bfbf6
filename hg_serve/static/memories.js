// Memories, "on this day": the photos taken on this month and day in earlier years. A
// timeline view like Videos, whose query is `memories:MM-DD` (the browser's date, so the
// day is the user's, not the server's) ANDed with the search; a bar above it names the
// day and steps to the day before or after.
const pad = (n) => String(n).padStart(2, "0");

export function todayMD(now = new Date()) {
  return `${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

// Days are counted in a leap year, so 29 February is a day like any other.
function asDate(md) {
  const [m, d] = md.split("-").map(Number);
  return new Date(2000, m - 1, d);
}

export function validMD(md) {
  if (!/^\d\d-\d\d$/.test(md || "")) return false;
  const date = asDate(md);
  return todayMD(date) === md;
}

export function shiftDay(md, delta) {
  const date = asDate(md);
  date.setDate(date.getDate() + delta);
  date.setFullYear(2000); // 31 December + 1 is 1 January, not of 2001
  return todayMD(date);
}

export function dayLabel(md) {
  return new Intl.DateTimeFormat(undefined, { day: "numeric", month: "long" }).format(asDate(md));
}

export function memoriesQuery(md, q) {
  return [`memories:${md}`, q].filter(Boolean).join(" ");
}

export class MemoriesBar {
  constructor(el, { onDay }) {
    this.el = el;
    el.innerHTML = `<button type="button" class="mem-prev" title="The day before" aria-label="The day before">‹</button>
      <h2 class="mem-title"></h2>
      <button type="button" class="mem-next" title="The day after" aria-label="The day after">›</button>
      <span class="mem-count muted"></span>`;
    el.querySelector(".mem-prev").addEventListener("click", () => onDay(shiftDay(this.md, -1)));
    el.querySelector(".mem-next").addEventListener("click", () => onDay(shiftDay(this.md, 1)));
  }

  show(md, total) {
    this.md = md;
    this.el.querySelector(".mem-title").textContent = `On this day: ${dayLabel(md)}`;
    this.el.querySelector(".mem-count").textContent = total === null || total === undefined ? ""
      : `${total.toLocaleString()} ${total === 1 ? "photo" : "photos"} from earlier years`;
  }
}
