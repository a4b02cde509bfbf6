// The People view: one tile per person (their best face, cut by the server from a preview
// the user may see; name or "Unnamed"; photo count), named people first, the most
// photographed first (the server's order). A tile opens the person's photos; its name
// is edited in place, with the gallery's names as suggestions; Select mode picks people
// to merge. Every change is a POST /api/people/events (a personAction in the event log).
import { api, appUrl, faceUrl } from "./api.js";

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
export const quote = (v) => (/^[^\s:=<>!()[\],"']+$/.test(v) ? v : `"${String(v).replace(/["\\]/g, "\\$&")}"`);

// The search for a person's photos: by name when named (a readable URL), else by id.
export const personQuery = (p) => (p.name ? `person:${quote(p.name)}` : `person:${p.id}`);

// The people's distinct names, for a <datalist> of suggestions.
export function nameOptions(people, except = null) {
  const names = [...new Set(people.map((p) => p.name).filter((n) => n && n !== except))];
  names.sort((a, b) => a.localeCompare(b));
  return names.map((n) => `<option value="${esc(n)}"></option>`).join("");
}

// What naming `person` `name` means: the name of someone else is "this is them" (a merge
// into that person), a new name names them, their own name is nothing to do.
export function namingEdit(people, person, name) {
  const wanted = name.trim();
  if (wanted === (person.name || "")) return null;
  const other = wanted && people.find((p) => p.id !== person.id && p.name
    && p.name.localeCompare(wanted, undefined, { sensitivity: "accent" }) === 0);
  if (other) return { action: "merge", person: other.id, from: person.id, label: `Merged into ${other.name}` };
  return { action: "name", person: person.id, name: wanted, label: wanted ? `Named ${wanted}` : "Name removed" };
}

export class PeopleView {
  constructor({ onPerson, onEdit }) {
    Object.assign(this, { onPerson, onEdit });
    this.selecting = false;
    this.selected = new Set(); // person ids, kept over a re-render (a live reload)
    this.editing = null; // {id, value} of the name being typed, kept over a re-render too
    this.renders = 0;
  }

  async render(el, q) {
    const { people } = await api.people(q);
    this.people = people;
    const shown = new Set(people.map((p) => p.id));
    for (const id of this.selected) if (!shown.has(id)) this.selected.delete(id);
    const named = people.filter((p) => p.name).length;
    el.innerHTML = `<h2>People</h2>
      <p class="muted">${people.length ? `${people.length.toLocaleString()} ${people.length === 1 ? "person" : "people"},
        ${named.toLocaleString()} named. Click a name to change it; select two people to merge them.`
        : "No faces found yet."}</p>
      ${people.length > 1 ? `<div class="people-tools">
        <button type="button" class="people-select" aria-pressed="${this.selecting}">Select</button>
        <button type="button" class="people-merge" hidden>Merge</button>
        <span class="people-selected muted" role="status"></span></div>` : ""}
      <datalist id="people-names">${nameOptions(people)}</datalist>
      <ul class="people${this.selecting ? " selecting" : ""}">${people.map((p) => {
        const url = faceUrl(p.face.entry, p.face.n);
        const label = p.name || "Unnamed";
        return `<li class="person${p.name ? "" : " unnamed"}" data-id="${esc(p.id)}">
          <a href="${esc(appUrl(`/?q=${encodeURIComponent(personQuery(p))}`))}" class="person-photos"
            title="Photos of ${esc(label)}">${url ? `<img class="face" src="${esc(url)}" alt="${esc(label)}" loading="lazy">` : ""}</a>
          <button type="button" class="person-name" title="Name this person">${esc(label)}</button>
          <span class="person-count">${p.photos.toLocaleString()} ${p.photos === 1 ? "photo" : "photos"}</span></li>`;
      }).join("")}</ul>`;
    this.el = el;
    for (const li of el.querySelectorAll("li.person")) {
      const person = people.find((p) => p.id === li.dataset.id);
      li.querySelector(".person-photos").addEventListener("click", (e) => {
        if (e.ctrlKey || e.metaKey) return; // a new tab
        e.preventDefault();
        if (this.selecting) this.toggle(person.id);
        else this.onPerson(personQuery(person));
      });
      li.querySelector(".person-name").addEventListener("click", () => this.editName(li, person));
    }
    el.querySelector(".people-select")?.addEventListener("click", () => this.setSelecting(!this.selecting));
    el.querySelector(".people-merge")?.addEventListener("click", () => this.merge());
    this.showSelection();
    const typing = this.editing && el.querySelector(`li.person[data-id="${CSS.escape(this.editing.id)}"]`);
    if (typing) this.editName(typing, people.find((p) => p.id === this.editing.id), this.editing.value);
    else this.editing = null;
    el.dataset.people = String(people.length);
    el.dataset.renders = String(++this.renders);
  }

  setSelecting(on) {
    this.selecting = on;
    if (!on) this.selected.clear();
    this.el.querySelector(".people")?.classList.toggle("selecting", on);
    this.el.querySelector(".people-select")?.setAttribute("aria-pressed", String(on));
    this.showSelection();
  }

  toggle(id) {
    if (this.selected.has(id)) this.selected.delete(id); else this.selected.add(id);
    this.showSelection();
  }

  showSelection() {
    const el = this.el;
    for (const li of el.querySelectorAll("li.person")) {
      li.classList.toggle("selected", this.selected.has(li.dataset.id));
      li.querySelector(".person-photos").setAttribute("aria-pressed", this.selecting ? String(this.selected.has(li.dataset.id)) : "false");
    }
    const merge = el.querySelector(".people-merge");
    if (merge) merge.hidden = !this.selecting || this.selected.size < 2;
    const count = el.querySelector(".people-selected");
    if (count) count.textContent = this.selecting ? `${this.selected.size} selected` : "";
  }

  // The selected people into one: the first of them in the list stays (named before
  // unnamed, then the most photographed: the server's order), keeping their id and name.
  async merge() {
    const chosen = this.people.filter((p) => this.selected.has(p.id));
    if (chosen.length < 2) return;
    const [keep, ...others] = chosen;
    for (const other of others) {
      const ok = await this.onEdit({ action: "merge", person: keep.id, from: other.id },
        `Merged ${chosen.length} people into ${keep.name || "one"}`);
      if (!ok) return;
    }
    this.selected.clear();
    this.selecting = false;
  }

  // The name in place becomes a form: Enter saves (through namingEdit), Escape cancels.
  editName(li, person, typed = null) {
    const button = li.querySelector(".person-name");
    const form = document.createElement("form");
    form.className = "person-name-form";
    form.innerHTML = `<input class="person-name-input" list="people-names" placeholder="Name" autocomplete="off"
      spellcheck="false" aria-label="Name of this person"><button type="submit">Save</button>`;
    const input = form.querySelector("input");
    input.value = typed ?? (person.name || "");
    button.replaceWith(form);
    input.focus();
    if (typed === null) input.select();
    this.editing = { id: person.id, value: input.value };
    input.addEventListener("input", () => { this.editing = { id: person.id, value: input.value }; });
    const cancel = () => { this.editing = null; form.replaceWith(button); };
    input.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); cancel(); } });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const edit = namingEdit(this.people, person, input.value);
      if (!edit) { cancel(); return; }
      const { label, ...body } = edit;
      input.disabled = true;
      this.editing = null;
      if (!(await this.onEdit(body, label))) {
        this.editing = { id: person.id, value: input.value };
        input.disabled = false;
        input.focus();
      }
    });
  }
}
