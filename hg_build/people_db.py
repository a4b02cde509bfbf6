"""People in the database: faces grouped into people, kept up to date chunk by chunk, and
the user's corrections replayed from the event log.

Tables (`schema.PEOPLE_TABLES`): `person_faces` (every kept face with a descriptor: its
person, model, descriptor, score and area), `people` (id and name), `person_events` (the
log's `personAction` events) and `faces_pending` (entries whose faces were written since
the last `update`, filled by triggers on `entries`).

- `update` (at the end of every chunk, in its transaction): the pending entries' faces are
  compared with their `person_faces` rows; a face that is unchanged keeps its person, a new
  one joins the person of its nearest known face of the same model within
  `people.THRESHOLD`, else starts a new person (`people.assign`). Then the events that name
  these entries' faces are applied again, in order (a rebuild brings the faces after the
  events were imported).
- `recluster`: every face again with `people.cluster` (Chinese whispers); each old person id
  goes to the new cluster that holds the most of its faces (greedily, largest overlaps
  first, each cluster and each id once; on a tie a named person, then the older one), so
  ids and names stay
  where the clusters still match; then every event is replayed.
- `replay`: every event in (date, log) order (`person_events` rows are inserted in the
  log's order, so its rowid breaks ties: a script's events share a millisecond); also at
  the end of a rebuild or first build.

A person id is 10 hex digits of a hash of its first face (`<entry id>.<n>`), so a rebuild
that meets the faces in the same order makes the same ids; a name event also carries the id
and gives it back to the person of its face when it is free, so named people keep theirs.

Events refer to faces, never only to person ids: a face is `<entry id>.<n>`, the entry's
n-th face in its `faces` list (0-based, after the score threshold: stable for a given
`-faces.json`). A person is named by a face of theirs (the anchor). Actions (`EVENT_ACTIONS`):

- `name`: `face`, `name` (empty: unnamed), `person` (the id it had): the anchor's person.
- `merge`: `face` (the person who stays), `from` (a face of the person merged in).
- `move`: `face` joins the person of `to` (a face), or a person of its own (`to` null).
- `reject` ("not this person"): `face` leaves the person of `anchor` (another face of
  theirs) and becomes a person of its own; replayed after a recluster, it never goes back
  unless a later `move` says so.

An event whose faces are gone (the entry was deleted, a new face model found other faces)
does nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from hg_build.events import now_iso

EVENT_TYPE = "personAction"
EVENT_ACTIONS = ("name", "merge", "move", "reject")
MAX_NAME = 200


# -- faces ------------------------------------------------------------------------------------


def face_key(entry_id: str, n: int) -> str:
    return f"{entry_id}.{n}"


def split_face(key: Any) -> tuple[str, int] | None:
    """(entry id, n) of `<entry id>.<n>`, None when it is not one."""
    if not isinstance(key, str):
        return None
    entry_id, dot, n = key.rpartition(".")
    if not dot or not entry_id or not n.isdigit():
        return None
    return entry_id, int(n)


def _entry_faces(faces_json: str, blob: bytes | None) -> list[tuple[int, str, bytes, float, float]]:
    """(n, model, descriptor bytes, score, area) of an entry's faces with a descriptor."""
    import numpy as np

    from hg_build.faces import split_blob

    split = split_blob(blob) if blob else None
    if split is None:
        return []
    tag, matrix = split
    listed = orjson.loads(faces_json or "[]")
    out = []
    for n, vector in enumerate(matrix):
        if np.isnan(vector).any():
            continue
        face = listed[n] if n < len(listed) and isinstance(listed[n], dict) else {}
        score = float(face.get("score") or 0)
        area = float(face.get("width") or 0) * float(face.get("height") or 0)
        out.append((n, tag.decode(errors="replace"), vector.astype(np.float16).tobytes(),
                    score, area))  # fmt: skip
    return out


def new_person_id(conn: sqlite3.Connection, entry_id: str, n: int) -> str:
    """10 hex digits of a hash of the person's first face (another try on a collision)."""
    seed = face_key(entry_id, n)
    for attempt in range(100):
        text = seed if not attempt else f"{seed}#{attempt}"
        pid = hashlib.blake2b(text.encode(), digest_size=5).hexdigest()
        if not conn.execute("SELECT 1 FROM people WHERE id = ?", (pid,)).fetchone():
            return pid
    raise RuntimeError("no free person id")  # pragma: no cover


def _new_person(conn: sqlite3.Connection, entry_id: str, n: int) -> str:
    pid = new_person_id(conn, entry_id, n)
    conn.execute("INSERT INTO people (id) VALUES (?)", (pid,))
    return pid


def _known(conn: sqlite3.Connection, model: str):
    """(person ids, float32 matrix) of every known face of a model."""
    import numpy as np

    rows = conn.execute(
        "SELECT person_id, descriptor FROM person_faces WHERE model = ?", (model,)
    ).fetchall()
    people = [r[0] for r in rows]
    if not rows:
        return people, np.zeros((0, 128), np.float32)
    matrix = np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(len(rows), -1)
    return people, matrix.astype(np.float32)


_person_moves = 0
"""Bumped by every write of `person_faces.person_id` but `update`'s new rows (corrections,
re-clustering): a `KnownFaces` made before holds the old persons."""


def _persons_moved() -> None:
    global _person_moves
    _person_moves += 1


class KnownFaces:
    """The known faces (persons and descriptors per model) kept between the chunks of one
    hg-build run on one connection (`Builder` owns one): a chunk then reads no known
    descriptor again, only its new faces are added (at 100k faces the read took as long
    as the assignment: bench/people.py --database).

    Checked at the start of each `update` against a stamp taken at the end of the one
    before: SQLite's `data_version` (another connection committed, e.g. hg-serve applied
    a correction), the number of faces (a face deleted with its entry, a chunk rolled
    back) and `_person_moves` (a correction in this process). Any difference, and any
    face that `update` deletes or replaces, drops what is held: the next read is the full
    one again."""

    def __init__(self) -> None:
        self.models: dict[str, tuple[list[str], Any]] = {}
        self.stamp: tuple[int, int, int] | None = None

    def _stamp(self, conn: sqlite3.Connection) -> tuple[int, int, int]:
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        faces = conn.execute("SELECT count(*) FROM person_faces").fetchone()[0]
        return version, faces, _person_moves

    def check(self, conn: sqlite3.Connection) -> None:
        if self.stamp is None or self.stamp != self._stamp(conn):
            self.clear()

    def clear(self) -> None:
        self.models = {}
        self.stamp = None

    def known(self, conn: sqlite3.Connection, model: str):
        if model not in self.models:
            self.models[model] = _known(conn, model)
        return self.models[model]

    def add(self, model: str, people: list[str], vectors: Any) -> None:
        import numpy as np

        held = self.models.get(model)
        if held is not None:
            self.models[model] = (held[0] + people, np.concatenate([held[1], vectors]))

    def settle(self, conn: sqlite3.Connection) -> None:
        """What is held is the database's state now (the end of `update`)."""
        self.stamp = self._stamp(conn)


def update(conn: sqlite3.Connection, cache: KnownFaces | None = None) -> int:
    """Group the pending entries' faces (see the module doc); returns the faces assigned.
    Runs in the caller's transaction. `cache`: the known descriptors kept between the
    chunks of one run (`KnownFaces`)."""
    pending = [r[0] for r in conn.execute("SELECT entry_id FROM faces_pending")]
    if not pending:
        return 0
    import numpy as np

    from hg_build import people

    conn.execute("DELETE FROM faces_pending")
    if cache is not None:
        cache.check(conn)
    changed = False  # a known face deleted or replaced: the cache's rows are not the table's
    new: dict[str, list[tuple[str, int, bytes, float, float]]] = {}
    touched: set[str] = set()
    for start in range(0, len(pending), 500):
        part = pending[start : start + 500]
        marks = ",".join("?" * len(part))
        stored: dict[str, dict[int, tuple[str, bytes]]] = {}  # entry -> n -> (model, desc)
        for e, n, m, d in conn.execute(
            f"SELECT entry_id, n, model, descriptor FROM person_faces WHERE entry_id IN ({marks})",
            part,
        ):
            stored.setdefault(e, {})[n] = (m, d)
        rows = conn.execute(
            f"SELECT id, faces, face_descriptors FROM entries WHERE id IN ({marks})", part
        ).fetchall()
        present = {r[0] for r in rows}
        for entry_id, faces_json, blob in rows:
            keep = set()
            known = stored.get(entry_id, {})
            for n, model, desc, score, area in _entry_faces(faces_json, blob):
                if known.get(n) == (model, desc):
                    keep.add(n)
                    conn.execute(
                        "UPDATE person_faces SET score = ?, area = ? WHERE entry_id = ? AND n = ?",
                        (score, area, entry_id, n),
                    )
                else:
                    new.setdefault(model, []).append((entry_id, n, desc, score, area))
                    changed = changed or n in known
            gone = [(entry_id, n) for n in known if n not in keep]
            changed = changed or bool(gone)
            conn.executemany("DELETE FROM person_faces WHERE entry_id = ? AND n = ?", gone)
            touched.add(entry_id)
        for entry_id in set(part) - present:
            changed = changed or entry_id in stored
            conn.execute("DELETE FROM person_faces WHERE entry_id = ?", (entry_id,))
    if cache is not None and changed:
        cache.clear()
    assigned = 0
    for model, faces in new.items():
        known_people, known = _known(conn, model) if cache is None else cache.known(conn, model)
        vectors = np.frombuffer(b"".join(f[2] for f in faces), np.float16)
        vectors = vectors.reshape(len(faces), -1).astype(np.float32)
        labels = people.assign(known, np.arange(len(known_people)), vectors, len(known_people))
        founded: dict[int, str] = {}
        rows = []
        for (entry_id, n, desc, score, area), label in zip(faces, labels, strict=True):
            label = int(label)
            if label < len(known_people):
                pid = known_people[label]
            elif label in founded:
                pid = founded[label]
            else:
                pid = founded[label] = _new_person(conn, entry_id, n)
            rows.append((entry_id, n, pid, model, desc, score, area))
        conn.executemany(
            "INSERT OR REPLACE INTO person_faces "
            "(entry_id, n, person_id, model, descriptor, score, area) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        if cache is not None:
            cache.add(model, [r[2] for r in rows], vectors)
        assigned += len(rows)
    _drop_empty(conn)
    moves = _person_moves
    if touched and conn.execute("SELECT 1 FROM person_events LIMIT 1").fetchone():
        replay(conn, touched)
    if cache is not None:
        if moves != _person_moves:  # corrections moved faces: the held persons are old
            cache.clear()
        cache.settle(conn)
    return assigned


def _drop_empty(conn: sqlite3.Connection) -> None:
    """Unnamed people without a face are forgotten (a named one keeps its name)."""
    conn.execute(
        "DELETE FROM people WHERE name IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM person_faces WHERE person_id = people.id)"
    )


# -- events -----------------------------------------------------------------------------------


def validate(event: Any) -> dict[str, Any] | None:
    """The event when it is a well-formed personAction, else None (skipped)."""
    if not isinstance(event, dict) or event.get("type") != EVENT_TYPE:
        return None
    if not isinstance(event.get("id"), str) or not isinstance(event.get("date"), str):
        return None
    action = event.get("action")
    if action not in EVENT_ACTIONS or split_face(event.get("face")) is None:
        return None
    if action == "name" and not isinstance(event.get("name"), str):
        return None
    if action == "merge" and split_face(event.get("from")) is None:
        return None
    if action == "move" and event.get("to") is not None and split_face(event["to"]) is None:
        return None
    if action == "reject" and split_face(event.get("anchor")) is None:
        return None
    return event


def event_entries(event: Mapping[str, Any]) -> list[str]:
    """The entry ids of the faces an event names."""
    keys = (event.get(k) for k in ("face", "from", "to", "anchor"))
    return sorted({split[0] for k in keys if (split := split_face(k)) is not None})


def make_event(action: str, face: str, **fields: Any) -> dict[str, Any]:
    """A new personAction event (see the module doc for the fields of each action)."""
    event = {"type": EVENT_TYPE, "id": str(uuid.uuid4()), "date": now_iso(),
             "action": action, "face": face, **fields}  # fmt: skip
    if validate(event) is None:
        raise ValueError(f"not a valid {action} event: {fields}")
    return event


def store_event(conn: sqlite3.Connection, event: Mapping[str, Any]) -> bool:
    """Keep an imported event (idempotent by id); True when it is new."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO person_events (event_id, date, event, entries) VALUES (?, ?, ?, ?)",
        (event["id"], event["date"], orjson.dumps(event).decode(),
         orjson.dumps(event_entries(event)).decode()),
    )  # fmt: skip
    return bool(cur.rowcount)


def _person_of(conn: sqlite3.Connection, key: Any) -> str | None:
    split = split_face(key)
    if split is None:
        return None
    row = conn.execute(
        "SELECT person_id FROM person_faces WHERE entry_id = ? AND n = ?", split
    ).fetchone()
    return row[0] if row else None


def _rename_id(conn: sqlite3.Connection, old: str, new: str) -> None:
    _persons_moved()
    conn.execute("UPDATE people SET id = ? WHERE id = ?", (new, old))
    conn.execute("UPDATE person_faces SET person_id = ? WHERE person_id = ?", (new, old))


def apply_event(conn: sqlite3.Connection, event: Mapping[str, Any]) -> bool:
    """Apply one event to the current people; False when its faces are not there."""
    action, face = event["action"], event["face"]
    person = _person_of(conn, face)
    if person is None:
        return False
    if action == "name":
        wanted = event.get("person")
        if isinstance(wanted, str) and wanted != person:
            taken = conn.execute("SELECT 1 FROM people WHERE id = ?", (wanted,)).fetchone()
            if not taken:  # the id it had when it was named: a rebuild gives it back
                _rename_id(conn, person, wanted)
                person = wanted
        name = event["name"].strip() or None
        conn.execute(
            "UPDATE people SET name = ?, name_f = ? WHERE id = ?",
            (name, name.casefold() if name else None, person),
        )
        return True
    if action == "merge":
        other = _person_of(conn, event["from"])
        if other is None:
            return False
        if other != person:
            _persons_moved()
            conn.execute(
                "UPDATE person_faces SET person_id = ? WHERE person_id = ?", (person, other)
            )
            name = conn.execute("SELECT name FROM people WHERE id = ?", (person,)).fetchone()
            if name and name[0] is None:  # an unnamed person takes the merged one's name
                conn.execute(
                    "UPDATE people SET (name, name_f) = (SELECT name, name_f FROM people "
                    "WHERE id = ?) WHERE id = ?",
                    (other, person),
                )
            conn.execute("DELETE FROM people WHERE id = ?", (other,))
        return True
    entry_id, n = split_face(face)  # type: ignore[misc]
    if action == "move":
        target = event.get("to")
        if target is None:
            if _alone(conn, person):
                return True
            dest = _new_person(conn, entry_id, n)
        else:
            dest = _person_of(conn, target)
            if dest is None:
                return False
        _set_person(conn, entry_id, n, dest)
        return True
    # reject: leave the anchor's person
    rejected = _person_of(conn, event["anchor"])
    if rejected is None or rejected != person:
        return rejected is not None
    _set_person(conn, entry_id, n, _new_person(conn, entry_id, n))
    return True


def _alone(conn: sqlite3.Connection, person: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM person_faces WHERE person_id = ?", (person,)
    ).fetchone()
    return row[0] == 1


def _set_person(conn: sqlite3.Connection, entry_id: str, n: int, person: str) -> None:
    _persons_moved()
    conn.execute(
        "UPDATE person_faces SET person_id = ? WHERE entry_id = ? AND n = ?",
        (person, entry_id, n),
    )
    _drop_empty(conn)


def replay(conn: sqlite3.Connection, entries: Iterable[str] | None = None) -> int:
    """Apply the stored events again in (date, log) order: all, or those that name a face
    of `entries`. Returns how many applied."""
    if entries is None:
        rows = conn.execute("SELECT event FROM person_events ORDER BY date, rowid").fetchall()
    else:
        wanted = list(entries)
        rows = []
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            rows += conn.execute(
                "SELECT DISTINCT p.date, p.rowid, p.event FROM person_events p, "
                f"json_each(p.entries) j WHERE j.value IN ({','.join('?' * len(part))})",
                part,
            ).fetchall()
        rows = [(r[2],) for r in sorted(set(rows))]
    applied = sum(apply_event(conn, orjson.loads(raw)) for (raw,) in rows)
    _drop_empty(conn)
    return applied


# -- re-clustering ----------------------------------------------------------------------------


def recluster(conn: sqlite3.Connection) -> dict[str, int]:
    """Every face again with Chinese whispers (see the module doc); in the caller's
    transaction. Returns counts: faces, people, kept (ids that stayed)."""
    import numpy as np

    from hg_build import people

    update(conn)
    models = [r[0] for r in conn.execute("SELECT DISTINCT model FROM person_faces")]
    total = kept = 0
    named = {r[0] for r in conn.execute("SELECT id FROM people WHERE name IS NOT NULL")}
    age = {r[0]: r[1] for r in conn.execute("SELECT id, rowid FROM people")}
    for model in models:
        rows = conn.execute(
            "SELECT entry_id, n, person_id, descriptor FROM person_faces WHERE model = ? "
            "ORDER BY entry_id, n",
            (model,),
        ).fetchall()
        vectors = np.frombuffer(b"".join(r[3] for r in rows), np.float16)
        labels = people.cluster(vectors.reshape(len(rows), -1).astype(np.float32))
        overlap: dict[tuple[int, str], int] = {}
        for row, label in zip(rows, labels, strict=True):
            overlap[(int(label), row[2])] = overlap.get((int(label), row[2]), 0) + 1
        ids: dict[int, str] = {}
        used: set[str] = set()
        # largest overlap first; on a tie a named person, then the older one (a person a
        # correction split off is younger than the one it left)
        ranked = sorted(
            overlap.items(),
            key=lambda kv: (-kv[1], kv[0][1] not in named, age.get(kv[0][1], 0), kv[0]),
        )
        for (label, pid), _count in ranked:
            if label not in ids and pid not in used:
                ids[label] = pid
                used.add(pid)
        kept += len(ids)
        updates = []
        for row, label in zip(rows, labels, strict=True):
            label = int(label)
            if label not in ids:
                ids[label] = _new_person(conn, row[0], row[1])
            updates.append((ids[label], row[0], row[1]))
        _persons_moved()
        conn.executemany(
            "UPDATE person_faces SET person_id = ? WHERE entry_id = ? AND n = ?", updates
        )
        total += len(rows)
    _drop_empty(conn)
    replay(conn)
    found = conn.execute("SELECT count(DISTINCT person_id) FROM person_faces").fetchone()[0]
    return {"faces": total, "people": found, "kept": kept}


# -- reading ----------------------------------------------------------------------------------


def list_people(
    conn: sqlite3.Connection,
    where: str = "1",
    params: Iterable[Any] = (),
    person: str | None = None,
) -> list[dict[str, Any]]:
    """People with at least one face in the entries `where` selects (a WHERE clause over
    `entries e`: a user's filter and query): id, name, faces, photos and the best face
    (highest score, then largest) among those; named people first, then the unnamed, each
    by photos (most first), then by name. `person`: only that one."""
    params = list(params)
    only = ""
    if person is not None:
        only = " AND f.person_id = ?"
        params.append(person)
    source = (
        "person_faces f JOIN entries e ON e.id = f.entry_id JOIN people p ON p.id = f.person_id "
        f"WHERE ({where}){only}"
    )
    best = conn.execute(
        "SELECT person_id, name, entry_id, n, score, faces FROM ("
        "SELECT f.person_id, p.name, f.entry_id, f.n, f.score, e.faces, row_number() OVER ("
        "PARTITION BY f.person_id ORDER BY f.score DESC, f.area DESC, f.entry_id, f.n) AS rank "
        f"FROM {source}) WHERE rank = 1",
        params,
    ).fetchall()
    counts = {
        pid: (faces, photos)
        for pid, faces, photos in conn.execute(
            f"SELECT f.person_id, count(*), count(DISTINCT f.entry_id) FROM {source} "
            "GROUP BY f.person_id",
            params,
        )
    }
    out = []
    for pid, name, entry_id, n, score, faces_json in best:
        faces, photos = counts[pid]
        listed = orjson.loads(faces_json or "[]")
        box = listed[n] if n < len(listed) and isinstance(listed[n], dict) else {}
        face = {"entry": entry_id, "n": n, "face": face_key(entry_id, n), "score": score,
                **{k: box.get(k) for k in ("x", "y", "width", "height")}}  # fmt: skip
        out.append({"id": pid, "name": name, "faces": faces, "photos": photos,
                    "face": face})  # fmt: skip
    # the People view's order: the people someone named (those they care about) before the
    # unnamed clusters, each the most photographed first
    out.sort(key=lambda p: (p["name"] is None, -p["photos"], (p["name"] or "").casefold(), p["id"]))
    return out


def person_faces(
    conn: sqlite3.Connection,
    person: str,
    where: str = "1",
    params: Iterable[Any] = (),
    limit: int | None = None,
) -> list[str]:
    """The face keys of a person within the entries `where` selects, best first; the
    first `limit` only (in SQL: a person may have thousands, callers keep one to 500)."""
    rows = conn.execute(
        "SELECT f.entry_id, f.n FROM person_faces f JOIN entries e ON e.id = f.entry_id "
        f"WHERE ({where}) AND f.person_id = ? "
        "ORDER BY f.score DESC, f.area DESC, f.entry_id, f.n LIMIT ?",
        [*params, person, -1 if limit is None else limit],  # -1: no limit (SQLite)
    ).fetchall()
    return [face_key(e, n) for e, n in rows]


def face_person(conn: sqlite3.Connection, key: str) -> str | None:
    """The person of a face key (`<entry id>.<n>`)."""
    return _person_of(conn, key)


# -- requests -> events -----------------------------------------------------------------------


class PeopleError(ValueError):
    """A correction that cannot be made (unknown or invisible person or face, bad name)."""


def request_event(
    conn: sqlite3.Connection, body: Any, where: str = "1", params: Iterable[Any] = ()
) -> dict[str, Any]:
    """The personAction event for a request, checked against the people that the entries
    `where` selects (a user's filter): a person is known through a visible face only, and
    is named in the event by their best visible face. Requests:

    `{"action": "name", "person": ID, "name": TEXT}` (empty text: unnamed),
    `{"action": "merge", "person": ID, "from": ID}` (`from` merges into `person`),
    `{"action": "move", "face": "<entry id>.<n>", "person": ID | null}` (null: alone),
    `{"action": "reject", "face": "<entry id>.<n>"}` (not the person it is with)."""
    params = list(params)
    if not isinstance(body, Mapping) or body.get("action") not in EVENT_ACTIONS:
        raise PeopleError(f"action must be one of {', '.join(EVENT_ACTIONS)}")
    action = body["action"]

    def anchor(pid: Any) -> str:
        faces = person_faces(conn, pid, where, params, limit=1) if isinstance(pid, str) else []
        if not faces:
            raise PeopleError(f"no such person: {pid!r}")
        return faces[0]

    def visible_face(key: Any) -> tuple[str, str]:
        split = split_face(key)
        row = None
        if split is not None:
            row = conn.execute(
                "SELECT f.person_id FROM person_faces f JOIN entries e ON e.id = f.entry_id "
                f"WHERE f.entry_id = ? AND f.n = ? AND ({where})",
                [*split, *params],
            ).fetchone()
        if row is None:
            raise PeopleError(f"no such face: {key!r} (a face is <entry id>.<n>)")
        return face_key(*split), row[0]  # type: ignore[misc]

    if action == "name":
        name = body.get("name")
        if not isinstance(name, str) or len(name.strip()) > MAX_NAME:
            raise PeopleError(f"name must be text of at most {MAX_NAME} characters")
        if any(ord(c) < 32 for c in name):
            raise PeopleError("a name has no control characters")
        return make_event("name", anchor(body.get("person")), name=name.strip(),
                          person=body["person"])  # fmt: skip
    if action == "merge":
        if body.get("person") == body.get("from"):
            raise PeopleError("merge needs two different people")
        return make_event("merge", anchor(body.get("person")), **{"from": anchor(body.get("from"))})
    face, current = visible_face(body.get("face"))
    if action == "move":
        target = body.get("person")
        to = None if target is None else anchor(target)
        return make_event("move", face, to=to)
    # the best two: one of them is not `face`, when the person has another
    others = [f for f in person_faces(conn, current, where, params, limit=2) if f != face]
    if not others:
        raise PeopleError("the face is the only one of its person: nothing to leave")
    return make_event("reject", face, anchor=others[0])
