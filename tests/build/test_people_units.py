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
