// The static export's answers to the API (hg-serve export static): no server, so the
// app's questions are answered in the browser from data/gallery.json, which the export
// wrote in the shapes /api/entries and /api/entries/<id> answer (grid items, detail
// records). Search runs here too, over the detail records: a subset of hg's query
// language (README: "Static export"), anything else is a clear error, never a wrong answer.

export class StaticError extends Error {
  constructor(message) { super(message); this.status = 400; }
}

const fold = (s) => String(s ?? "").toLowerCase();

// Tokens: quoted strings, parentheses are not supported; `key:value`, `key:"a b"`, `-x`,
// `not x`, `and` (implicit anyway), `or` between two terms.
export function tokenize(text) {
  const out = [];
  const re = /\s*(-?)(?:([a-z_]+):)?(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))/gy;
  let m;
  let pos = 0;
  const src = text.trim();
  re.lastIndex = 0;
  while (pos < src.length && (m = re.exec(src))) {
    pos = re.lastIndex;
    const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, "$1") : m[4];
    out.push({ neg: m[1] === "-", key: m[2] ? m[2].toLowerCase() : null, value, quoted: m[3] !== undefined });
  }
  if (pos < src.trim().length) throw new StaticError(`cannot read the search at ${pos}: "${src.slice(pos)}"`);
  return out;
}

const yearOf = (d) => Number((d.date || "").slice(0, 4)) || null;
const monthOf = (d) => Number((d.date || "").slice(5, 7)) || null;
const dayOf = (d) => Number((d.date || "").slice(8, 10)) || null;

function number(value, fn) {
  if (!/^\d+$/.test(value)) throw new StaticError(`expected a number, got '${value}'`);
  const n = Number(value);
  return (d) => fn(d) === n;
}

// What free text matches: the fields hg-build puts into its search text.
function haystack(d) {
  if (d._text === undefined) {
    const parts = [d.make, d.model, d.lens, d.description, d.title, d.country, d.state, d.city, d.road,
      d.type, ...(d.tags || []), ...(d.objects || []).map((o) => o.class), ...(d.files || []).map((f) => f.path),
      (d.date || "").slice(0, 10)];
    Object.defineProperty(d, "_text", { value: fold(parts.filter(Boolean).join(" ")), enumerable: false });
  }
  return d._text;
}

// similar:<prefix>: the seed (the first entry whose id starts so) and its `similar` ids.
function similarTo(prefix, data) {
  const seed = Object.keys(data.details).find((id) => id.startsWith(prefix));
  return seed && data.details[seed].similar ? [seed, ...data.details[seed].similar] : [];
}

const FIELDS = ["make", "model", "lens", "country", "state", "city", "road", "description", "title"];

function term(t, data) {
  const v = fold(t.value);
  switch (t.key) {
    case null: return (d) => haystack(d).includes(v);
    case "tag": return (d) => (d.tags || []).some((x) => fold(x) === v);
    case "type": return (d) => fold(d.type) === v || (v === "image" && d.type === "rawImage");
    case "year": case "y": return number(t.value, yearOf);
    case "month": case "m": return number(t.value, monthOf);
    case "day": case "d": return number(t.value, dayOf);
    case "date": return (d) => (d.date || "").startsWith(t.value);
    case "id": return (d) => d.id.startsWith(v);
    case "object": return (d) => (d.objects || []).some((o) => fold(o.class) === v);
    case "file": case "filename": return (d) => (d.files || []).some((f) => fold(f.path.split("/").pop()).includes(v));
    // hg's folder: (the folder and those below it, case-sensitive as hg-build's)
    case "folder": {
      const prefix = t.value.replace(/^\/+|\/+$/g, "");
      return (d) => (d.files || []).some((f) => !prefix || f.path.startsWith(`${prefix}/`));
    }
    case "memories": {
      // memories:MM-DD: that day in earlier years than the newest one shown (the app asks
      // with the browser's day; "today" is today)
      const md = v === "today" ? new Date().toISOString().slice(5, 10) : v;
      if (!/^\d\d-\d\d$/.test(md)) throw new StaticError(`memories: wants MM-DD, not ${t.value}`);
      const thisYear = new Date().getFullYear();
      return (d) => (d.date || "").slice(5, 10) === md && yearOf(d) < thisYear;
    }
    case "similar": { // the seed and the export's entries most similar to it (as hg's)
      const ids = new Set(similarTo(v, data));
      return (d) => ids.has(d.id);
    }
    default:
      if (FIELDS.includes(t.key)) return (d) => fold(d[t.key]).includes(v);
      throw new StaticError(`${t.key}: is not supported by the static export's search`);
  }
}

// A predicate over detail records: terms ANDed, `or` between two terms, `-x`/`not x`.
export function compile(text, data) {
  const tokens = tokenize(text || "");
  // hg's grammar beyond this subset (groups, comparisons, ranges, functions, order by) is
  // refused: read as free text it would quietly answer something else.
  for (const [i, t] of tokens.entries()) {
    const next = tokens[i + 1];
    if ((!t.quoted && /[()[\]<>=~]/.test(t.value))
        || (!t.key && !t.quoted && fold(t.value) === "order" && next && fold(next.value) === "by")) {
      throw new StaticError(`"${t.value}" is not supported by the static export's search`);
    }
  }
  const groups = [[]]; // OR of ANDs
  let negate = false;
  for (const t of tokens) {
    if (!t.key && !t.quoted && !t.neg) {
      const word = fold(t.value);
      if (word === "and") continue;
      if (word === "not") { negate = true; continue; }
      if (word === "or") { groups.push([]); continue; }
    }
    const p = term(t, data);
    const neg = t.neg !== negate;
    negate = false;
    groups[groups.length - 1].push(neg ? (d) => !p(d) : p);
  }
  if (groups.some((g) => !g.length) && tokens.length) throw new StaticError("or needs a term on both sides");
  return (d) => groups.some((g) => g.every((p) => p(d)));
}

export class StaticGallery {
  constructor(data) {
    this.data = data;
    this.items = data.entries; // grid items in the export's order
    this.byId = new Map(this.items.map((it, i) => [it.id, i]));
  }

  select(q) {
    const match = compile(q, this.data);
    let items = this.items.filter((it) => match(this.data.details[it.id]));
    const sim = (q || "").match(/(?:^|\s)similar:([0-9a-f]+)/);
    if (sim) { // most similar first, as hg-serve orders it
      const order = new Map(similarTo(sim[1], this.data).map((id, i) => [id, i]));
      items = items.sort((a, b) => order.get(a.id) - order.get(b.id));
    }
    return items;
  }

  entries(q, offset = 0, limit = 1000) {
    const items = this.select(q);
    const similar = /(?:^|\s)similar:/.test(q || "");
    return { total: items.length, offset, dated: !similar && this.data.dated, entries: items.slice(offset, offset + limit) };
  }

  entry(id) {
    const d = this.data.details[id];
    if (!d) throw Object.assign(new Error("no such entry"), { status: 404 });
    return d;
  }

  years(q) {
    const years = new Map();
    for (const it of this.select(q)) {
      const d = this.data.details[it.id];
      const y = yearOf(d);
      if (!y) continue;
      const year = years.get(y) || { year: y, count: 0, months: new Map() };
      year.count++;
      const m = monthOf(d);
      year.months.set(m, (year.months.get(m) || 0) + 1);
      years.set(y, year);
    }
    return [...years.values()].sort((a, b) => b.year - a.year).map((y) => ({
      year: y.year, count: y.count,
      months: [...y.months].sort((a, b) => a[0] - b[0]).map(([month, count]) => ({ month, count })),
    }));
  }

  tags(q) {
    const tags = new Map();
    for (const it of this.select(q)) {
      for (const tag of this.data.details[it.id].tags || []) {
        const key = fold(tag);
        const t = tags.get(key) || { tag, count: 0 };
        t.count++;
        tags.set(key, t);
      }
    }
    return [...tags.values()].sort((a, b) => b.count - a.count || a.tag.localeCompare(b.tag));
  }

  // hg-build's folders.folders over the exported records: a folder's entries (in it or
  // below), those directly in it, and its child folders with counts and a cover (the
  // entry of the child's most recently modified file), by name.
  folders(folder, q) {
    const path = String(folder || "").trim().replace(/^\/+|\/+$/g, "");
    const skip = path ? path.length + 1 : 0;
    const everything = new Set();
    const direct = new Set();
    const children = new Map();
    for (const it of this.select(q)) {
      for (const f of this.data.details[it.id].files || []) {
        const cut = f.path.lastIndexOf("/");
        const dir = cut < 0 ? "" : f.path.slice(0, cut);
        if (path && dir !== path && !dir.startsWith(`${path}/`)) continue;
        everything.add(it.id);
        if (dir === path) { direct.add(it.id); continue; }
        const rest = dir.slice(skip);
        const slash = rest.indexOf("/");
        const name = slash < 0 ? rest : rest.slice(0, slash);
        let child = children.get(name);
        if (!child) children.set(name, child = { ids: new Set(), deeper: false, cover: it.id, mtime: f.mtime });
        child.ids.add(it.id);
        child.deeper ||= slash >= 0;
        if (f.mtime != null && (child.mtime == null || f.mtime > child.mtime)) Object.assign(child, { cover: it.id, mtime: f.mtime });
      }
    }
    const names = [...children.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      path, count: everything.size, direct: direct.size,
      folders: names.map((name) => {
        const c = children.get(name);
        return { name, path: path ? `${path}/${name}` : name, count: c.ids.size, folders: c.deeper,
          cover: this.items[this.byId.get(c.cover)] };
      }),
    };
  }

  similar(id) {
    return { entries: (this.data.details[id]?.similar || []).filter((s) => this.byId.has(s)).map((s) => this.items[this.byId.get(s)]) };
  }
}
