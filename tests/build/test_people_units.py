"""`hg_build.people_db` on synthetic descriptors, in process: incremental grouping across
chunks with stable ids, a re-extracted entry, a deleted entry, the score threshold, models
kept apart, events before their faces arrive, a re-clustering that keeps ids and names,
and the per-user reading."""

from __future__ import annotations

import numpy as np
import pytest

from hg_build import db, people_db
from hg_build.build import Builder
from hg_build.query.search import search_ids

from .test_fresh_build import entry

RNG = np.random.default_rng(17)
CENTRES = RNG.normal(size=(4, 128))
CENTRES *= 0.5 / np.linalg.norm(CENTRES, axis=1, keepdims=True)  # people ~0.7 apart


def face_of(person: int, jitter: float = 0.02) -> list[float]:
    return [float(v) for v in CENTRES[person] + RNG.normal(scale=jitter / 11, size=128)]


def with_faces(n: int, people: list[int], scores=None, model="dlib-resnet-v1"):
    """Entry n with one face per person listed (score 1.0, or `scores`)."""
    rec = entry(n, f"2020:01:{n % 28 + 1:02d} 10:00:00")
    scores = scores or [1.0] * len(people)
    data = [{"box": [100 * i, 100, 50 + 10 * i, 50], "score": s, "descriptor": face_of(p)}
            for i, (p, s) in enumerate(zip(people, scores, strict=True))]  # fmt: skip
    rec["faces"] = {"model": model, "version": "1", "width": 1000, "height": 1000, "data": data}
    return rec


@pytest.fixture
def conn(tmp_path):
    c = db.open_database(tmp_path / "g.db")
    yield c
    c.close()


def build(conn, records):
    Builder(conn, print).apply_chunk(records)


def groups(conn) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list] = {}
    for e, n, p in conn.execute("SELECT entry_id, n, person_id FROM person_faces ORDER BY 1, 2"):
        out.setdefault(p, []).append((e, n))
    return out


def eid(n: int) -> str:
    return entry(n, "2020:01:01")["id"]


def person_of(conn, n, face=0):
    return people_db.face_person(conn, f"{eid(n)}.{face}")


def test_incremental_groups_keep_ids_across_chunks_and_changes(conn):
    build(conn, [with_faces(1, [0, 1]), with_faces(2, [0])])
    first = groups(conn)
    assert sorted(len(v) for v in first.values()) == [1, 2]
    anna = person_of(conn, 1, 0)
    assert person_of(conn, 2) == anna and len(anna) == 10
    build(conn, [with_faces(3, [1, 0, 2], scores=[1.0, 0.1, 1.0])])  # 0.1: below 0.3
    assert person_of(conn, 3, 0) == person_of(conn, 1, 1)
    assert person_of(conn, 3, 1) not in (anna, person_of(conn, 3, 0))  # the kept third face
    assert len(groups(conn)) == 3 and person_of(conn, 1, 0) == anna  # ids stayed
    # the same entry again (a re-run): nothing moves; with other faces: regrouped
    build(conn, [with_faces(2, [0])])
    assert person_of(conn, 2) == anna
    build(conn, [with_faces(2, [3])])
    assert person_of(conn, 2) != anna
    assert len(groups(conn)) == 4
    # another model's faces are never compared with these
    build(conn, [with_faces(4, [0], model="face-api")])
    assert person_of(conn, 4) != anna
    # a deleted entry's faces leave their people; an unnamed person left empty is gone
    db.remove_file(conn, "s", entry(4, "2020:01:01")["files"][0]["path"])
    conn.execute("INSERT INTO faces_pending VALUES ('x')")  # any later chunk tidies up
    people_db.update(conn)
    assert person_of(conn, 4) is None and len(groups(conn)) == 4
    assert conn.execute("SELECT count(*) FROM people").fetchone()[0] == 4


def event(conn, body, where="1", params=()):
    ev = people_db.request_event(conn, body, where, params)
    assert people_db.store_event(conn, ev)
    people_db.apply_event(conn, ev)
    return ev


def test_events_name_merge_move_reject_and_a_recluster_that_keeps_ids(conn):
    build(conn, [with_faces(1, [0, 1]), with_faces(2, [0]), with_faces(3, [1]),
                 with_faces(4, [2])])  # fmt: skip
    anna, ben, cleo = person_of(conn, 1, 0), person_of(conn, 1, 1), person_of(conn, 4)
    event(conn, {"action": "name", "person": anna, "name": "Anna"})
    assert set(search_ids(conn, "person:anna")) == {eid(1), eid(2)}
    event(conn, {"action": "merge", "person": anna, "from": cleo})
    assert person_of(conn, 4) == anna and cleo not in groups(conn)
    event(conn, {"action": "move", "face": f"{eid(4)}.0", "person": None})
    cleo2 = person_of(conn, 4)
    assert cleo2 not in (anna, ben)
    event(conn, {"action": "move", "face": f"{eid(3)}.0", "person": anna})
    assert person_of(conn, 3) == anna  # a wrong move
    event(conn, {"action": "reject", "face": f"{eid(3)}.0"})
    assert person_of(conn, 3) not in (anna, ben)
    with pytest.raises(people_db.PeopleError):
        event(conn, {"action": "reject", "face": f"{eid(3)}.0"})  # alone: nothing to leave
    with pytest.raises(people_db.PeopleError):
        event(conn, {"action": "name", "person": "nobody", "name": "x"})
    with pytest.raises(people_db.PeopleError):
        event(conn, {"action": "merge", "person": anna, "from": anna})
    before = groups(conn)
    counts = people_db.recluster(conn)
    assert counts["faces"] == 5 and counts["people"] == 4
    after = groups(conn)
    assert after[anna] == before[anna]  # Anna kept her id, name and faces
    assert after[ben] == before[ben]
    # the re-clustering put entry 3's face with Ben's again, and the replay of the events
    # (moved to Anna, then rejected from her) leaves it on its own, as before
    assert sorted(after.values()) == sorted(before.values())
    assert person_of(conn, 3) not in (anna, ben)
    assert conn.execute("SELECT name FROM people WHERE id = ?", (anna,)).fetchone()[0] == "Anna"


def test_events_before_their_faces_arrive_are_applied_when_they_do(conn, tmp_path):
    build(conn, [with_faces(1, [0]), with_faces(2, [1])])
    anna = person_of(conn, 1)
    ev = event(conn, {"action": "name", "person": anna, "name": "Anna"})
    merge = event(conn, {"action": "merge", "person": anna, "from": person_of(conn, 2)})
    fresh = db.open_database(tmp_path / "fresh.db")  # a rebuild: the events come first
    for e in (ev, merge):
        people_db.store_event(fresh, e)
        assert not people_db.apply_event(fresh, e)  # no faces yet
    build(fresh, [with_faces(1, [0])])
    assert people_db.face_person(fresh, f"{eid(1)}.0") == anna  # its id given back
    build(fresh, [with_faces(2, [1])])
    assert people_db.face_person(fresh, f"{eid(2)}.0") == anna  # the merge, replayed
    assert list(search_ids(fresh, "person:anna")) == list(search_ids(conn, "person:anna"))
    fresh.close()


def test_reading_within_a_filter(conn):
    build(conn, [with_faces(1, [0, 1]), with_faces(2, [0]), with_faces(3, [1])])
    listed = people_db.list_people(conn)
    assert sorted((p["faces"], p["photos"]) for p in listed) == [(2, 2), (2, 2)]
    only = people_db.list_people(conn, "e.id = ?", [eid(2)])
    assert [(p["id"], p["photos"]) for p in only] == [(person_of(conn, 2), 1)]
    assert only[0]["face"]["entry"] == eid(2)  # the best face among the visible ones
    best = people_db.list_people(conn)[0]["face"]
    assert best["width"] == 0.06 and best["n"] == 1  # larger box wins at equal scores
    with pytest.raises(people_db.PeopleError):
        people_db.request_event(conn, {"action": "name", "person": person_of(conn, 3),
                                       "name": "x"}, "e.id = ?", [eid(2)])  # fmt: skip


def test_known_faces_kept_between_chunks_follow_every_change(tmp_path):
    """One Builder over many chunks keeps the known faces (`people_db.KnownFaces`); the
    same steps with a new Builder per chunk (every known face read again) must give the
    same people after each step, through a correction in this process, one committed by
    another connection (hg-serve), a deleted entry and a re-extracted one. Each step's new
    face copies a known face whose person just changed, so a stale cache would show."""
    held = db.open_database(tmp_path / "held.db")
    fresh = db.open_database(tmp_path / "fresh.db")
    builder = Builder(held, print)
    descs: dict[tuple[int, int], list[float]] = {}

    def rec(n: int, faces: list) -> dict:
        """Entry n with these faces: a person's number (a new descriptor of theirs) or a
        (n, i) face whose descriptor it copies nearly (0.01 away, on one side for an even n
        and on the other for an odd one: two copies of a face are 0.02 apart)."""
        out = with_faces(n, [0] * len(faces))
        shift = (0.01 if n % 2 else -0.01) / 128**0.5
        for i, f in enumerate(faces):
            d = face_of(f) if isinstance(f, int) else [v + shift for v in descs[f]]
            descs[(n, i)] = d
            out["faces"]["data"][i]["descriptor"] = d
        return out

    def step(records=(), sql=None, event=None, other=False):
        for conn in (held, fresh):
            if sql:
                with db.transaction(conn):
                    conn.execute(*sql)
            if other:  # another process commits it (hg-serve applying a correction)
                import sqlite3

                with sqlite3.connect(conn.execute("PRAGMA database_list").fetchone()[2]) as c2:
                    c2.execute(*other)
            if event:
                with db.transaction(conn):
                    people_db.apply_event(conn, event)
            if records:
                (builder if conn is held else Builder(conn, print)).apply_chunk(list(records))
        assert groups(held) == groups(fresh)
        return groups(held)

    step([rec(1, [0, 1]), rec(2, [0])])
    step([rec(3, [1, 2])])
    anna = person_of(held, 1, 0)
    move = people_db.make_event("move", f"{eid(3)}.1", to=f"{eid(1)}.0")
    step(event=move)  # in this process: the face of person 2 is anna's now
    step([rec(4, [(3, 1)])])
    assert person_of(held, 4) == anna
    taken_out = ("UPDATE person_faces SET person_id = 'elsewhere' WHERE entry_id = ? AND n = 1",
                 (eid(3),))  # fmt: skip
    step(other=taken_out)  # another process takes it out again
    step([rec(5, [(3, 1)])])
    assert person_of(held, 5) == person_of(held, 3, 1) != anna
    step(sql=("DELETE FROM entries WHERE id = ?", (eid(4),)))  # its face goes with it
    step([rec(6, [(4, 0)])])
    assert person_of(held, 6) == person_of(held, 3, 1)
    descs[(99, 0)] = descs[(5, 0)]
    # re-extracted: the faces of person 2 are others' now, none of theirs is left
    step([rec(3, [1, 0]), rec(5, [3]), rec(6, [3])])
    step([rec(7, [(99, 0)])])  # like the one that is gone: a new person
    assert len(groups(held)[person_of(held, 7)]) == 1
    assert len(builder.known_faces.models) == 1  # held, not read again, at the end
    held.close()
    fresh.close()


def test_person_faces_best_first_and_limited_in_sql(conn):
    build(conn, [with_faces(1, [0], scores=[0.9]), with_faces(2, [0], scores=[1.0]),
                 with_faces(3, [0], scores=[0.8])])  # fmt: skip
    anna = person_of(conn, 1)
    every = people_db.person_faces(conn, anna)
    assert every == [f"{eid(2)}.0", f"{eid(1)}.0", f"{eid(3)}.0"]
    assert people_db.person_faces(conn, anna, limit=2) == every[:2]
    assert people_db.person_faces(conn, anna, "e.id != ?", [eid(2)], limit=1) == [every[1]]
    # naming anchors on the best face; rejecting the best face anchors on the next best
    named = people_db.request_event(conn, {"action": "name", "person": anna, "name": "A"})
    assert named["face"] == every[0]
    rejected = people_db.request_event(conn, {"action": "reject", "face": every[0]})
    assert rejected["anchor"] == every[1]
