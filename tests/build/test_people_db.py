"""People through the real `hg-index | hg-extract | hg-build` on real photos of people
(tests/fixtures/media/faces: three photos of Barack Obama, one of Joe Biden, one of Eileen
Collins, and a group photo made of three of them): each person one cluster, stable ids,
naming that survives `hg-build --rebuild`, merge / move / not-this-person as events,
`person:` queries and a full re-clustering that keeps names."""

from __future__ import annotations

import json

import orjson
import pytest

from tests.build.conftest import hg_build, query
from tests.conftest import face_photos
from tests.extract.conftest import run_extract, run_index

PHOTOS = {
    "obama-portrait.jpg": "obama",
    "obama-speech.jpg": "obama",
    "obama-blue-room.jpg": "obama",
    "biden-portrait.jpg": "biden",
    "astronaut-collins.jpg": "collins",
}
GROUP = "group.jpg"  # obama, biden and collins side by side


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The records of one real extraction, and its home (storage and index)."""
    base = tmp_path_factory.mktemp("people")
    src = face_photos(base / "src", PHOTOS, group=GROUP)
    home = base / "home"
    code, records, stderr = run_extract(home, run_index(home, src), "--jobs", "2", "--no-geo")
    assert code == 0, stderr
    return home, b"".join(orjson.dumps(r) + b"\n" for r in records)


@pytest.fixture
def home(extracted, tmp_path):
    """A fresh database (and event log) over the extracted storage, built from the records."""
    src_home, stdin = extracted
    home = tmp_path / "home"
    home.mkdir()
    (home / "storage").symlink_to(src_home / "storage")
    (home / "index").symlink_to(src_home / "index")
    hg_build(home, stdin=stdin)
    return home


def people(home, *args):
    out = hg_build(home, "people", *args).stdout
    return [json.loads(line) for line in out.splitlines()]


def name_of(record):
    return record["files"][0]["path"].rsplit("/", 1)[-1]


def names(home, text):
    return sorted(name_of(r) for r in query(home, text))


def photos_of(home, person_id):
    return names(home, f"person:{person_id}")


def by_person(home):
    """Person (by the names of their photos) -> their record."""
    return {tuple(photos_of(home, p["id"])): p for p in people(home)}


def ok(proc):
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_each_person_is_one_cluster_with_counts_and_a_best_face(home):
    found = by_person(home)
    assert set(found) == {
        (GROUP, "obama-blue-room.jpg", "obama-portrait.jpg", "obama-speech.jpg"),
        ("biden-portrait.jpg", GROUP),
        ("astronaut-collins.jpg", GROUP),
    }
    obama = found[(GROUP, "obama-blue-room.jpg", "obama-portrait.jpg", "obama-speech.jpg")]
    assert obama["faces"] == 4 and obama["photos"] == 4 and obama["name"] is None
    assert len(obama["id"]) == 10
    best = obama["face"]
    assert best["face"] == f"{best['entry']}.{best['n']}"
    assert 0 < best["width"] <= 1 and 0 <= best["x"] < 1 and best["score"] > 0.3
    assert {p["faces"] for p in found.values()} == {4, 2}
    # only the faces in the photos a query selects
    [only] = people(home, "--query", "filename:biden-portrait.jpg")
    assert only["id"] == found[("biden-portrait.jpg", GROUP)]["id"] and only["photos"] == 1
    [portrait] = query(home, "filename:biden-portrait.jpg")
    assert only["faces"] == 1 and only["face"]["entry"] == portrait["id"]  # best among those
    # the same photos again (a re-run): nobody changes
    before = people(home)
    hg_build(home, "--rebuild")
    assert people(home) == before


def test_naming_and_person_queries_survive_a_rebuild(home):
    found = by_person(home)
    obama = next(p for k, p in found.items() if "obama-speech.jpg" in k)
    biden = next(p for k, p in found.items() if "biden-portrait.jpg" in k)
    collins = next(p for k, p in found.items() if "astronaut-collins.jpg" in k)
    [event] = ok(hg_build(home, "people", "name", obama["id"], "Barack Obama"))
    assert event["type"] == "personAction" and event["action"] == "name"
    assert event["face"] == obama["face"]["face"] and event["person"] == obama["id"]
    ok(hg_build(home, "people", "name", biden["id"], "Joe"))

    def check():
        listed = people(home)
        assert [p["name"] for p in listed] == ["Barack Obama", "Joe", None]  # named first
        assert {p["id"] for p in listed} == {obama["id"], biden["id"], collins["id"]}
        obama_photos = [GROUP, "obama-blue-room.jpg", "obama-portrait.jpg", "obama-speech.jpg"]
        assert names(home, 'person:"Barack Obama"') == obama_photos
        assert names(home, "person:'barack obama'") == obama_photos  # casefolded
        assert names(home, f"person:{obama['id']}") == obama_photos  # an id too
        assert names(home, "person:(joe and 'barack obama')") == [GROUP]
        both = sorted(["biden-portrait.jpg", *obama_photos])
        assert names(home, "person:(joe or 'barack obama')") == both
        assert names(home, "not person:*") == ["astronaut-collins.jpg"]
        assert names(home, "person:*") == both
        assert names(home, "barack") == obama_photos  # free text finds a person's name
        assert names(home, "person~bara") == obama_photos
        assert names(home, "person:nobody") == []

    check()
    hg_build(home, "--rebuild")
    check()
    ok(hg_build(home, "people", "name", obama["id"], "Barack"))  # renamed
    assert names(home, 'person:"Barack Obama"') == []
    assert len(names(home, "person:barack")) == 4


def test_merge_move_and_not_this_person_are_events_replayed_by_a_rebuild(home):
    found = by_person(home)
    obama = next(p for k, p in found.items() if "obama-speech.jpg" in k)
    biden = next(p for k, p in found.items() if "biden-portrait.jpg" in k)
    collins = next(p for k, p in found.items() if "astronaut-collins.jpg" in k)
    ok(hg_build(home, "people", "name", biden["id"], "Joe"))
    # a wrong merge: Collins into Joe
    ok(hg_build(home, "people", "merge", biden["id"], collins["id"]))
    assert names(home, "person:joe") == ["astronaut-collins.jpg", "biden-portrait.jpg", GROUP]
    assert collins["id"] not in {p["id"] for p in people(home)}
    # and corrected: her portrait's face to a person of her own, the group's face to her
    collins_face = f"{collins['face']['entry'][:12]}.{collins['face']['n']}"
    [moved] = ok(hg_build(home, "people", "move", collins_face, "new"))
    assert moved["action"] == "move" and moved["to"] is None
    her = by_person(home)[("astronaut-collins.jpg",)]
    group = next(r for r in query(home, "") if name_of(r) == GROUP)
    [right] = [n for n, f in enumerate(group["faces"]) if f["x"] > 0.6]  # hers: on the right
    ok(hg_build(home, "people", "move", f"{group['id']}.{right}", her["id"]))
    # not this person: the blue-room face is not Obama's
    blue = next(r["id"] for r in query(home, "") if name_of(r) == "obama-blue-room.jpg")
    [rejected] = ok(hg_build(home, "people", "reject", f"{blue}.0"))
    assert rejected["action"] == "reject" and rejected["anchor"] != rejected["face"]

    def check():
        listed = {tuple(photos_of(home, p["id"])): p for p in people(home)}
        assert set(listed) == {
            ("obama-blue-room.jpg",),  # alone now
            (GROUP, "obama-portrait.jpg", "obama-speech.jpg"),
            ("biden-portrait.jpg", GROUP),
            ("astronaut-collins.jpg", GROUP),
        }
        assert listed[("biden-portrait.jpg", GROUP)]["name"] == "Joe"
        assert listed[("astronaut-collins.jpg", GROUP)]["name"] is None
        assert listed[(GROUP, "obama-portrait.jpg", "obama-speech.jpg")]["id"] == obama["id"]

    check()
    hg_build(home, "--rebuild")
    check()
    [counts] = ok(hg_build(home, "people", "recluster"))
    assert counts["type"] == "recluster" and counts["faces"] == 8
    check()  # the blue-room face does not go back to Obama


def test_usage_errors(home):
    for args in (("name", "nobody1234", "X"), ("merge", "a"), ("move", "zz.0", "new"),
                 ("reject", "0123456789.7"), ("frobnicate",)):  # fmt: skip
        proc = hg_build(home, "people", *args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
    assert not (home / "events.ndjson").exists()  # nothing appended
