// Words for what the app shows: durations, dates on the camera's clock and the accessible
// names of tiles and images. Pure (the locale is a parameter), so easy to check.

export function formatDuration(seconds) {
  if (!seconds && seconds !== 0) return "";
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

const ISO = /^(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|[+-]\d\d:\d\d)?$/;

// The time on the camera's clock where the photo was taken, as Intl parts (the year is one
// of them, so the detail view can make it a link without writing it twice), and its zone
// when the file has one ("UTC+03:00"): a photo taken at 14:12 in Helsinki reads 14:12 in any
// browser. null when the text is not a date.
export function photoTimeParts(iso, locale) {
  const m = ISO.exec(iso || "");
  const wall = new Date(m ? m[1] : iso); // no zone in the text: read as this clock's time
  if (Number.isNaN(wall.getTime())) return null;
  const parts = new Intl.DateTimeFormat(locale, { dateStyle: "full", timeStyle: "short" })
    .formatToParts(wall);
  const zone = m && m[3] ? `UTC${m[3] === "Z" ? "" : m[3]}` : null;
  return { parts, zone };
}

export function photoTime(iso, locale) {
  const t = photoTimeParts(iso, locale);
  if (!t) return iso;
  const text = t.parts.map((p) => p.value).join("");
  return t.zone ? `${text} (${t.zone})` : text;
}

// "October 23, 2008 at 2:57 PM" on the camera's clock (no zone), or "" without a date.
export function takenText(iso, locale) {
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d))?/.exec(iso || "");
  if (!m) return "";
  const [y, mo, d, h, mi] = m.slice(1).map((v) => Number(v || 0));
  const style = m[4] ? { dateStyle: "long", timeStyle: "short" } : { dateStyle: "long" };
  return new Date(y, mo - 1, d, h, mi).toLocaleString(locale, style);
}

const KINDS = { image: "Photo", rawImage: "Photo", video: "Video" };

// A tile's accessible name: "Photo, October 23, 2008 at 2:57 PM, Arezzo, Italy",
// "Video 0:02, February 2, 2020 at 12:00 PM".
export function describe(item, locale) {
  let kind = KINDS[item.type] || "Photo";
  if (item.type === "video" && item.duration) kind += ` ${formatDuration(item.duration)}`;
  return [kind, takenText(item.date, locale), item.place].filter(Boolean).join(", ");
}
