// hg web app: URL routing, search, live reload, selection and tag editing.
import { api, ApiError, appLocation, appUrl, BASE, STATIC } from "./api.js";
import { Detail } from "./detail.js";
import { folderQuery, foldersPage, folderUrl } from "./folders.js";
import { Help } from "./help.js";
import { dayLabel, MemoriesBar, memoriesQuery, todayMD, validMD } from "./memories.js";
import { PeopleView } from "./people.js";
import { Timeline } from "./timeline.js";
import { duplicatesPage, failuresPage, mapPage, tagsPage, yearsPage } from "./views.js";

const $ = (id) => document.getElementById(id);
const state = { view: "all", q: "", selecting: false, lastClicked: null, pendingYear: null, day: null };
// The views that show the timeline (the others render into the page section).
const TIMELINE_VIEWS = new Set(["all", "videos", "memories"]);
const quote = (v) => (/^[^\s:=<>!()[\],"']+$/.test(v) ? v : `"${String(v).replace(/["\\]/g, "\\$&")}"`);

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  const text = err instanceof ApiError && err.status === 400 ? `Search problem: ${err.message}` : err.message;
  box.textContent = text;
  box.hidden = false;
}

// A short message (an edit done, kept offline) at the bottom for a few seconds; the entry
// count has its own place in the header, so nothing sits on the photos for good.
let toastTimer = 0;
function status(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = !text;
  clearTimeout(toastTimer);
  if (text) toastTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

function showCount(total) {
  $("count").textContent = total === null ? "" : `${total.toLocaleString()} ${total === 1 ? "entry" : "entries"}`;
}

// No results: say so (the grid is already empty), with the query and a way back.
function showEmpty(total) {
  const isTimeline = TIMELINE_VIEWS.has(state.view);
  const empty = isTimeline && total === 0;
  $("empty").hidden = !empty;
  if (!empty) return;
  const what = state.view === "videos" ? "videos" : "photos";
  $("empty-text").textContent = state.view === "memories"
    ? `No photos from ${dayLabel(state.day)} in earlier years${state.q ? ` match “${state.q}”` : ""}.`
    : state.q ? `No ${what} match “${state.q}”.` : `No ${what} yet.`;
  $("empty-all").hidden = !state.q && state.view === "all";
}

const timeline = new Timeline($("timeline"), $("grid"), $("scrubber"), {
  onClick: (i, e) => (state.selecting || e.shiftKey ? selectClick(i, e) : openIndex(i)),
  onLoaded: (t) => {
    showCount(t.total);
    showEmpty(t.total);
    if (state.view === "memories") memoriesBar.show(state.day, t.total);
    document.body.dataset.loaded = state.q + "|" + state.view;
    if (state.pendingYear) { timeline.scrollToYear(state.pendingYear); state.pendingYear = null; }
    if (state.pendingId) openId(state.pendingId, false);
    if (state.pendingScroll) scrollToPending();
  },
  onError: (err) => { showError(err); showCount(null); document.body.dataset.loaded = "error"; },
});

const detail = new Detail($("detail"), {
  items: () => timeline.items,
  onNavigate: (i) => openIndex(i, true),
  onClose: () => closeDetail(),
  onSearch: (q) => { closeDetail(false); navigate("/", q); },
  // m: the map around the photo; c: the photo in the whole timeline (no search).
  onMap: (d) => { if (STATIC) return; closeDetail(false); state.mapCenter = [d.latitude, d.longitude]; navigate("/map", state.q); },
  onChronology: (id) => { closeDetail(false); state.pendingScroll = id; navigate("/", ""); },
  // The same path as the grid's Select mode: POST /api/events, queued while offline.
  onEdit: async (ids, actions) => {
    const ok = await sendEdit(ids, actions);
    if (ok && state.view === "tags") renderPage();
    return ok;
  },
  onPersonEdit: (body, label) => sendPersonEdit(body, label),
});
new Help($("help"));

const people = new PeopleView({
  onPerson: (q) => navigate("/", q),
  onEdit: (body, label) => sendPersonEdit(body, label),
});

// After `c`: the photo's tile in view and focused, once the timeline has it.
function scrollToPending() {
  const id = state.pendingScroll;
  const i = id && timeline.index.get(id);
  if (i === undefined || i === null || i === "") return;
  state.pendingScroll = null;
  timeline.scrollToIndex(i);
  timeline.render();
  requestAnimationFrame(() => timeline.grid.querySelector(`.cell[data-id="${id}"]`)?.focus());
}

// ---- routing ---------------------------------------------------------------------------
function effectiveQuery() {
  if (state.view === "memories") return memoriesQuery(state.day, state.q);
  return state.view === "videos" ? (state.q ? `type:video ${state.q}` : "type:video") : state.q;
}

// A memories URL names its day unless it is today.
function urlFor(path, q) {
  const p = [];
  if (path.startsWith("/memories") && state.day && state.day !== todayMD()) p.push(`day=${state.day}`);
  if (q) p.push(`q=${encodeURIComponent(q)}`);
  return appUrl(`${path}${p.length ? `?${p.join("&")}` : ""}`);
}

const memoriesBar = new MemoriesBar($("memories"), {
  onDay: (day) => { state.day = day; navigate("/memories"); },
});

function navigate(path, q = state.q, replace = false) {
  const url = urlFor(path, q);
  if (replace) history.replaceState({}, "", url); else history.pushState({}, "", url);
  route();
}

let shownQuery = null;
async function route() {
  const { path, search } = appLocation();
  const params = new URLSearchParams(search);
  state.q = params.get("q") || "";
  $("q").value = state.q;
  const viewMatch = path.match(/^\/view\/([0-9a-f]+)$/);
  const page = path.replace(/^\//, "") || "all";
  state.view = viewMatch ? (TIMELINE_VIEWS.has(state.view) ? state.view : "all") : page;
  if (state.view === "memories" && !viewMatch) state.day = validMD(params.get("day")) ? params.get("day") : todayMD();
  $("memories").hidden = state.view !== "memories";
  if (state.view === "memories") memoriesBar.show(state.day, shownQuery === effectiveQuery() ? timeline.total : null);
  for (const a of document.querySelectorAll(".views a, a.failures")) {
    a.classList.toggle("active", a.dataset.view === state.view);
  }
  showError(null);
  const pageEl = $("page");
  const isTimeline = TIMELINE_VIEWS.has(state.view);
  pageEl.hidden = isTimeline;
  $("timeline").hidden = !isTimeline;
  $("scrubber").hidden = !isTimeline;
  if (!isTimeline) $("empty").hidden = true;
  else if (shownQuery === effectiveQuery()) showEmpty(timeline.total);
  state.pendingId = viewMatch ? viewMatch[1] : null;
  if (!viewMatch && detail.open) detail.close();
  const q = effectiveQuery();
  if (shownQuery !== q) {
    shownQuery = q;
    timeline.load(q);
  } else if (state.pendingId && timeline.items.length) {
    openId(state.pendingId, false);
  } else if (state.pendingScroll && timeline.items.length) {
    scrollToPending();
  }
  if (!isTimeline) await renderPage();
}

async function renderPage() {
  const el = $("page");
  el.replaceChildren();
  el.dataset.view = state.view;
  try {
    if (state.view === "years") {
      await yearsPage(el, state.q, {
        onYear: (y, offset) => {
          navigate("/", state.q);
          // The year is loaded: jump now. Else load the results from the year's offset
          // (a million entries: not every newer year first), or, without an offset (a
          // static export), jump once everything is loaded.
          const q = effectiveQuery();
          const shown = timeline.q === q && timeline.scrollToYear(y);
          if (!shown && offset !== null) timeline.jumpToYear(q, y, offset);
          state.pendingYear = shown || offset !== null ? null : y;
        },
      });
    } else if (state.view === "tags") {
      await tagsPage(el, state.q, { onTag: (t) => navigate("/", `tag:${quote(t)}`) });
    } else if (state.view === "folders") {
      await foldersPage(el, state.q, {
        path: new URLSearchParams(appLocation().search).get("path") || "",
        onFolder: (path) => { history.pushState({}, "", folderUrl(path, state.q)); renderPage(); },
        onPhotos: (path) => navigate("/", folderQuery(path, state.q)),
      });
    } else if (state.view === "failures") {
      await failuresPage(el, {
        offset: Number(new URLSearchParams(appLocation().search).get("offset")) || 0,
        onPage: (offset) => {
          history.pushState({}, "", appUrl(`/failures${offset ? `?offset=${offset}` : ""}`));
          renderPage();
        },
      });
    } else if (state.view === "people") {
      await people.render(el, state.q);
    } else if (state.view === "duplicates") {
      await duplicatesPage(el, state.q, { onOpen: (id) => navigate(`/view/${id}`, state.q) });
    } else if (state.view === "map") {
      const center = state.mapCenter;
      state.mapCenter = null;
      await mapPage(el, state.q, {
        center,
        onOpen: (id) => navigate(`/view/${id}`, state.q),
        items: () => timeline.items,
      });
    } else {
      el.innerHTML = "<h2>Not found</h2>";
    }
    el.dataset.ready = "1";
  } catch (err) {
    showError(err);
  }
}

// ---- detail ------------------------------------------------------------------------------
function openIndex(i, replace = false) {
  const item = timeline.items[i];
  if (!item) return;
  const url = urlFor(`/view/${item.id}`, state.q);
  if (replace) history.replaceState({}, "", url); else history.pushState({}, "", url);
  state.pendingId = null;
  detail.show(i);
  timeline.scrollToIndex(i);
}

function openId(id) {
  state.pendingId = null;
  const i = timeline.index.get(id);
  if (i !== undefined) { detail.show(i); timeline.scrollToIndex(i); }
}

function closeDetail(push = true) {
  detail.close();
  const back = state.view === "all" ? "/" : `/${state.view}`;
  if (push) history.pushState({}, "", urlFor(back, state.q));
}

// ---- search ------------------------------------------------------------------------------
document.querySelector(".search").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = $("q").value.trim();
  if (state.view === "folders") { // a search within the folder shown
    history.pushState({}, "", folderUrl(new URLSearchParams(appLocation().search).get("path") || "", q));
    route();
    return;
  }
  const path = state.view === "all" ? "/" : `/${state.view}`;
  navigate(path, q);
});

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-nav]");
  if (!a || e.ctrlKey || e.metaKey) return;
  e.preventDefault();
  // a static export's links are #/path (its host has no page at …/years)
  const path = (STATIC ? a.getAttribute("href").replace(/^#/, "") : new URL(a.href).pathname.slice(BASE.length)) || "/";
  navigate(path, a.hasAttribute("data-clear") ? "" : state.q);
});
window.addEventListener("popstate", route);

// ---- selection and tags ---------------------------------------------------------------------
function setSelecting(on) {
  state.selecting = on;
  document.body.classList.toggle("selecting", on);
  $("selection").hidden = !on;
  $("select-toggle").classList.toggle("active", on);
  if (!on) { timeline.selection.clear(); timeline.refreshSelection(); }
  updateSelection();
  if (on) loadSuggestions();
}

function updateSelection() {
  const n = timeline.selection.size;
  $("selection-count").textContent = `${n} selected`;
  $("tag-add").disabled = $("tag-remove").disabled = n === 0;
}

function selectClick(i, e) {
  if (!state.selecting) setSelecting(true);
  const id = timeline.items[i].id;
  if (e.shiftKey && state.lastClicked !== null) {
    const [a, b] = [Math.min(state.lastClicked, i), Math.max(state.lastClicked, i)];
    for (let k = a; k <= b; k++) timeline.selection.add(timeline.items[k].id);
  } else if (timeline.selection.has(id)) timeline.selection.delete(id);
  else timeline.selection.add(id);
  state.lastClicked = i;
  timeline.refreshSelection();
  updateSelection();
}

async function loadSuggestions() {
  try {
    const tags = await api.tags("");
    $("tag-suggestions").replaceChildren(...tags.slice(0, 200).map((t) => {
      const o = document.createElement("option");
      o.value = t.tag;
      return o;
    }));
  } catch { /* suggestions are optional */ }
}

// A correction of the people (the People view, the detail view's faces): not queued
// offline like a tag (it names people as the server knows them now); the views refresh at
// once, as a filtered user's page hears no personAction (live.py) and others hear it too.
async function sendPersonEdit(body, label) {
  try {
    await api.personEvent(body);
  } catch (err) {
    status(`Not saved: ${err.message}`);
    return false;
  }
  status(label);
  scheduleRefresh();
  return true;
}

const PENDING = "hg-pending-edits";
async function sendEdit(ids, actions) {
  try {
    await api.postEvent(ids, actions);
    return true;
  } catch (err) {
    if (err instanceof ApiError) { showError(err); return false; }
    const queue = JSON.parse(localStorage.getItem(PENDING) || "[]");
    queue.push({ ids, actions });
    localStorage.setItem(PENDING, JSON.stringify(queue));
    status("Offline: the edit is kept and sent when the server is back");
    return true;
  }
}

async function flushPending() {
  const queue = JSON.parse(localStorage.getItem(PENDING) || "[]");
  if (!queue.length) return;
  localStorage.removeItem(PENDING);
  for (const edit of queue) await sendEdit(edit.ids, edit.actions);
}

async function editTags(action) {
  const value = $("tag-input").value.trim();
  const ids = [...timeline.selection];
  if (!value || !ids.length) return;
  const ok = await sendEdit(ids, [{ action, value }]);
  if (ok) {
    status(`${action === "addTag" ? "Added" : "Removed"} “${value}” ${action === "addTag" ? "to" : "from"} ${ids.length}`);
    $("tag-input").value = "";
    loadSuggestions();
    if (state.view === "tags") renderPage();
  }
}

$("select-toggle").addEventListener("click", () => setSelecting(!state.selecting));
$("select-all").addEventListener("click", () => {
  for (const it of timeline.items) timeline.selection.add(it.id);
  timeline.refreshSelection();
  updateSelection();
});
$("select-none").addEventListener("click", () => {
  timeline.selection.clear();
  timeline.refreshSelection();
  updateSelection();
});
$("tag-form").addEventListener("submit", (e) => { e.preventDefault(); editTags("addTag"); });
$("tag-remove").addEventListener("click", () => editTags("removeTag"));
document.addEventListener("keydown", (e) => {
  if (detail.open || e.target.closest("input, textarea")) return;
  if (e.key === "Escape" && state.selecting) setSelecting(false);
  if (e.key === "/") { e.preventDefault(); $("q").focus(); }
  // p on the grid: a slideshow of the result set from its first photo
  if (e.key === "p" && !e.ctrlKey && !e.metaKey && !e.altKey && !$("timeline").hidden && timeline.items.length) {
    e.preventDefault();
    openIndex(0);
    detail.slideshow.start();
  }
});

// ---- live reload ---------------------------------------------------------------------------
function live() {
  const source = new EventSource(`${BASE}/api/events/stream`);
  let connected = false;
  source.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "pong") {
      if (connected) refresh(); // reconnected: something may have changed meanwhile
      connected = true;
      document.body.dataset.live = "1";
      flushPending();
    } else if (msg.type === "server" && msg.action === "databaseChanged") {
      refresh();
      pollImport();
      loadInfo(true);
    } else if (msg.type === "personAction") {
      scheduleRefresh(); // names and groups change what person: finds and the boxes say
    } else if (msg.type === "userAction") {
      detail.refresh(msg);
      if (state.view === "tags") renderPage();
    }
  };
}

// ---- import indicator ----------------------------------------------------------------------
// "importing: 1,234 / 50,000 — ETA 3 h" while hg-import runs; polled, faster while running.
let importTimer = 0;
async function pollImport() {
  clearTimeout(importTimer);
  let running = false;
  try {
    const s = await api.importStatus();
    running = s.state === "running";
    $("importing").textContent = running ? s.text : "";
    $("importing").hidden = !running;
  } catch (e) { /* the indicator is best effort */ }
  importTimer = setTimeout(pollImport, running ? 3000 : 15000);
}

// One refresh for an edit that is both answered and heard (our own person edit).
let refreshTimer = 0;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 50);
}

function refresh() {
  timeline.load(effectiveQuery(), true);
  detail.refresh();
  if (!$("page").hidden && state.view !== "map") renderPage();
}

// ---- server info: the signed-in user and the failures count ----------------------------
async function loadInfo(fresh = false) {
  let info;
  try { info = await api.info(fresh); } catch { return; }
  const failures = info.failures || 0;
  const link = $("failures");
  link.hidden = failures === 0;
  link.textContent = `${failures.toLocaleString()} failed`;
  link.title = `${failures.toLocaleString()} ${failures === 1 ? "file" : "files"} could not be imported`;
  if (info.user && !document.querySelector(".bar .user")) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = `${BASE}/logout`;
    form.className = "user";
    const button = document.createElement("button");
    button.type = "submit";
    button.title = "Sign out";
    button.textContent = `${info.user} ⎋`;
    form.append(button);
    document.querySelector(".bar").append(form);
  }
}

// ---- start ---------------------------------------------------------------------------------
if (matchMedia("(max-width: 480px)").matches) $("q").placeholder = "Search…"; // a phone: no room for examples
// A static export has no server: no import, login, live events or edits (styles hide
// the edit controls and the views it cannot answer: app.css, body.static).
if (STATIC) {
  document.body.classList.add("static");
  document.getElementById("static-hint")?.remove(); // we run: not opened as a file
  route();
} else {
  pollImport();
  loadInfo();
  route();
  live();
  flushPending();
}
