"""The People view and the detail view's face forms in Debian's Chromium, against a real
hg-serve on a gallery imported from the real face photos (3 of Obama, Biden, Eileen
Collins) and a group photo of three of them: tiles with face crops, naming, merging, "not
this person", live reload, and a user whose filter hides the group photo."""

from __future__ import annotations

import shutil

import orjson
import pytest
import requests

from hg_serve.passwords import hash_password
from tests.conftest import face_photos, run_tool
from tests.serve.conftest import start_server
from tests.serve.pipeline import import_media
from tests.serve.test_browser import shot

sync_api = pytest.importorskip("playwright.sync_api")

PHOTOS = ("obama-portrait.jpg", "obama-speech.jpg", "obama-blue-room.jpg",
          "biden-portrait.jpg", "astronaut-collins.jpg")  # fmt: skip
GROUP = "group.jpg"  # Obama, Biden and Collins side by side
ANNA, BEN = ("anna", "anna-secret"), ("ben", "ben-secret")  # ben never sees the group photo


@pytest.fixture(scope="module")
def people_home(tmp_path_factory):
    base = tmp_path_factory.mktemp("people-web")
    home = base / "home"
    import_media(face_photos(base / "src", PHOTOS, group=GROUP), home)
    (home / "config.toml").write_text(f"""
[[server.users]]
name = "anna"
password = "{hash_password(ANNA[1])}"

[[server.users]]
name = "ben"
password = "{hash_password(BEN[1])}"
filter = "not filename~group"
""")
    return home


@pytest.fixture
def srv(people_home, tmp_path):
    """hg-serve on a private copy of the home (the tests' corrections stay theirs)."""
    home = tmp_path / "home"
    shutil.copytree(people_home, home, symlinks=True)
    server = start_server(home)
    yield server
    server.stop()


def names_of(home) -> dict[str, str]:
    """entry id -> file name."""
    run = run_tool("hg-build", "query", "", "--home", str(home))
    assert run.returncode == 0, run.stderr
    return {r["id"]: r["files"][0]["path"].rsplit("/", 1)[-1] for r in run.records}


def query_ids(home, q: str) -> set[str]:
    run = run_tool("hg-build", "query", q, "--home", str(home))
    assert run.returncode == 0, run.stderr
    return {r["id"] for r in run.records}


def person_events(home) -> list[dict]:
    """The personAction events of the home's event log, in order."""
    lines = (home / "events.ndjson").read_text().splitlines()
    return [e for e in map(orjson.loads, lines) if e.get("type") == "personAction"]


@pytest.fixture
def login(browser):
    """A page of a new browser context, signed in as a user (the app's login form)."""
    contexts, errors = [], []

    def open_page(srv, user):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        pg = context.new_page()
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.set_default_timeout(20_000)
        pg.goto(srv.url + "/login")
        pg.fill("input[name=name]", user[0])
        pg.fill("input[name=password]", user[1])
        pg.click("button[type=submit]")
        pg.wait_for_url(lambda url: "/login" not in url)
        return pg

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, errors


def people_page(pg, srv, renders: int = 1) -> list[dict]:
    """Open (or wait for a re-render of) the People view; its tiles, in order."""
    if "/people" not in pg.url:
        pg.goto(srv.url + "/people")
    pg.wait_for_function(
        "n => Number(document.querySelector('#page[data-view=people]')?.dataset.renders) >= n",
        arg=renders,
    )
    return tiles(pg)


def tiles(pg) -> list[dict]:
    return pg.eval_on_selector_all(
        "li.person",
        """els => els.map(li => ({
            id: li.dataset.id,
            name: li.querySelector('.person-name')?.textContent.trim(),
            count: li.querySelector('.person-count').textContent,
            src: li.querySelector('img.face')?.getAttribute('src'),
            loaded: (li.querySelector('img.face')?.naturalWidth || 0) > 0,
        }))""",
    )


def crops_loaded(pg) -> None:
    pg.wait_for_function(
        "() => [...document.querySelectorAll('li.person img.face')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )


def rerendered(pg, before: int) -> None:
    pg.wait_for_function(
        "n => Number(document.querySelector('#page[data-view=people]').dataset.renders) > n",
        arg=before,
    )


def renders(pg) -> int:
    return int(pg.get_attribute("#page[data-view=people]", "data-renders"))


def grid_ids(pg, q: str) -> set[str]:
    pg.wait_for_function(
        "q => document.body.dataset.loaded === q + '|all'", arg=q
    )  # the grid of this search, not the one before
    return set(pg.eval_on_selector_all(".cell", "els => els.map(e => e.dataset.id)"))


def test_people_view_shows_faces_and_names_a_person(srv, login):
    """Three people, each a tile with their face cut by the server, unnamed, the most
    photographed first; naming Obama in place moves him first (named) and a second open
    page follows without a reload; `person:"Barack Obama"` then finds exactly his photos,
    and the name is an event in the log that survives `hg-build --rebuild`."""
    names = names_of(srv.home)
    obama = {i for i, n in names.items() if n.startswith("obama") or n == GROUP}
    group = next(i for i, n in names.items() if n == GROUP)
    pg = login(srv, ANNA)
    other = login(srv, ANNA)
    shown = people_page(pg, srv)
    crops_loaded(pg)
    assert [(t["name"], t["count"]) for t in shown] == [
        ("Unnamed", "4 photos"), ("Unnamed", "2 photos"), ("Unnamed", "2 photos"),
    ]  # fmt: skip
    assert all(t["src"].startswith("/faces/") for t in shown)
    assert pg.locator(".views a[data-view='people']").get_attribute("class") == "active"
    people_page(other, srv)
    other.wait_for_selector("body[data-live='1']")
    seen_by_other = renders(other)

    before = renders(pg)
    pg.locator("li.person .person-name").first.click()
    name_input = pg.locator("li.person .person-name-input")
    assert name_input.evaluate("e => e === document.activeElement")
    name_input.fill("Barack Obama")
    name_input.press("Enter")
    rerendered(pg, before)
    shown = tiles(pg)
    assert [(t["name"], t["count"]) for t in shown][0] == ("Barack Obama", "4 photos")
    assert [t["name"] for t in shown[1:]] == ["Unnamed", "Unnamed"]
    assert pg.locator("#toast").inner_text() == "Named Barack Obama"
    crops_loaded(pg)
    shot(pg, "people")
    # the other page heard the personAction and shows the name too
    rerendered(other, seen_by_other)
    assert tiles(other)[0]["name"] == "Barack Obama"

    # a tile opens the person's photos; the search finds the same
    pg.locator("li.person .person-photos").first.click()
    assert grid_ids(pg, 'person:"Barack Obama"') == obama
    pg.fill("#q", 'person:"barack obama"')  # the whole name, in any case
    pg.press("#q", "Enter")
    assert grid_ids(pg, 'person:"barack obama"') == obama
    # an unnamed person's tile: their photos by id (Biden's, or Collins's: 2 each)
    before = renders(pg)
    pg.locator(".views a[data-view='people']").click()
    unnamed = people_page(pg, srv, before + 1)[1]
    pg.locator(f"li.person[data-id='{unnamed['id']}'] .person-photos").click()
    theirs = grid_ids(pg, f"person:{unnamed['id']}")
    assert len(theirs) == 2 and group in theirs and not theirs & (obama - {group})

    assert [(e["action"], e["name"]) for e in person_events(srv.home)] == [("name", "Barack Obama")]
    srv.stop()
    run = run_tool("hg-build", "--rebuild", "-q", "--home", str(srv.home))
    assert run.returncode == 0, run.stderr
    assert query_ids(srv.home, 'person:"Barack Obama"') == obama


def test_detail_view_names_faces_with_suggestions(srv, login):
    """A face box opens the face's form: "not this person" takes Obama's face out of the
    speech photo (a person of its own), and naming it again with the suggested "Barack
    Obama" puts it back (a merge into him); Biden is named from the ✎ in the info panel."""
    names = names_of(srv.home)
    speech = next(i for i, n in names.items() if n == "obama-speech.jpg")
    biden = next(i for i, n in names.items() if n == "biden-portrait.jpg")
    people = srv.get("/api/people", auth=ANNA).json()["people"]
    obama = people[0]  # 4 photos
    naming = {"action": "name", "person": obama["id"], "name": "Barack Obama"}
    assert srv.post("/api/people/events", auth=ANNA, json=naming).status_code == 201

    pg = login(srv, ANNA)
    pg.goto(f"{srv.url}/view/{speech}")
    pg.wait_for_selector(".info a.face-link:text('Barack Obama')")
    pg.keyboard.press("f")
    pg.wait_for_selector(".boxes .face-box text")
    assert pg.locator(".boxes .face-box text").text_content() == "Barack Obama"
    pg.locator(".boxes .face-box").first.click()
    form = pg.locator(".info .face-form")
    form.wait_for()
    assert form.locator(".face-name-input").input_value() == "Barack Obama"
    form.locator("img.face-crop").evaluate("i => i.decode()")  # the server's crop loads
    assert form.locator(".person-link").inner_text() == "Photos of Barack Obama"
    shot(pg, "detail-face-form")
    form.locator(".face-reject").click()
    pg.wait_for_selector(".info a.face-link:text('face 1')")  # unnamed now
    assert pg.locator(".boxes .face-box text").count() == 0
    listed = srv.get("/api/people", auth=ANNA).json()["people"]
    assert [(p["name"], p["photos"]) for p in listed][:1] == [("Barack Obama", 3)]
    assert len(listed) == 4

    # name it again: the gallery's names are suggested; the name of someone else merges
    pg.locator(".info .face-edit").first.click()
    name_input = pg.locator(".info .face-name-input")
    assert name_input.input_value() == ""
    pg.wait_for_function(
        "() => [...document.querySelectorAll('#face-name-suggestions option')]"
        ".some(o => o.value === 'Barack Obama')"
    )
    name_input.fill("barack obama")  # as typed: the suggestion's person, whatever the case
    name_input.press("Enter")
    pg.wait_for_selector(".info a.face-link:text('Barack Obama')")
    assert pg.locator(".info .face-form").count() == 0  # closed after saving
    listed = srv.get("/api/people", auth=ANNA).json()["people"]
    assert [(p["id"], p["name"], p["photos"]) for p in listed][0] == (
        obama["id"], "Barack Obama", 4,
    )  # fmt: skip
    assert len(listed) == 3

    # a new name from the detail view (the arrow keys take the next photo, the form
    # closes with it)
    pg.goto(f"{srv.url}/view/{biden}")
    pg.locator(".info .face-edit").first.click()
    name_input = pg.locator(".info .face-name-input")
    name_input.fill("Joe Biden")
    pg.locator(".info .face-form button[type=submit]").click()
    pg.wait_for_selector(".info a.face-link:text('Joe Biden')")
    assert query_ids(srv.home, 'person:"Joe Biden"') == {
        biden, next(i for i, n in names.items() if n == GROUP)
    }  # fmt: skip


def test_merge_two_people_in_the_people_view(srv, login):
    """Obama's face in the speech photo, taken out of his person, is a fourth tile; Select,
    the two tiles, Merge: three people again, Obama with his four photos and his name."""
    names = names_of(srv.home)
    speech = next(i for i, n in names.items() if n == "obama-speech.jpg")
    obama = srv.get("/api/people", auth=ANNA).json()["people"][0]
    for body in ({"action": "name", "person": obama["id"], "name": "Barack Obama"},
                 {"action": "reject", "face": f"{speech}.0"}):  # fmt: skip
        assert srv.post("/api/people/events", auth=ANNA, json=body).status_code == 201
    pg = login(srv, ANNA)
    shown = people_page(pg, srv)
    crops_loaded(pg)
    assert [(t["name"], t["count"]) for t in shown] == [
        ("Barack Obama", "3 photos"), ("Unnamed", "2 photos"), ("Unnamed", "2 photos"),
        ("Unnamed", "1 photo"),
    ]  # fmt: skip
    split = shown[3]
    assert f"/faces/{speech}/0" in split["src"]
    assert pg.locator(".people-merge").is_hidden()
    # a name being typed stays when an edit elsewhere re-renders the view
    pg.locator(f"li.person[data-id='{split['id']}'] .person-name").click()
    pg.locator(".person-name-input").press_sequentially("Barack Ob")
    before = renders(pg)
    biden = {"action": "name", "person": shown[1]["id"], "name": "Someone"}
    assert srv.post("/api/people/events", auth=ANNA, json=biden).status_code == 201
    rerendered(pg, before)
    assert tiles(pg)[1]["name"] == "Someone"
    typing = pg.locator(f"li.person[data-id='{split['id']}'] .person-name-input")
    assert typing.input_value() == "Barack Ob"
    assert typing.evaluate("e => e === document.activeElement")
    typing.press("Escape")
    assert pg.locator(".person-name-input").count() == 0
    pg.locator(".people-select").click()
    pg.locator(f"li.person[data-id='{split['id']}'] .person-photos").click()
    assert pg.locator(".people-selected").inner_text() == "1 selected"
    assert pg.locator(".people-merge").is_hidden()
    assert "/people" in pg.url  # selecting opens nothing
    pg.locator(f"li.person[data-id='{obama['id']}'] .person-photos").click()
    assert pg.locator(".people-selected").inner_text() == "2 selected"
    before = renders(pg)
    pg.locator(".people-merge").click()
    rerendered(pg, before)
    shown = tiles(pg)
    assert [(t["id"], t["name"], t["count"]) for t in shown] == [
        (obama["id"], "Barack Obama", "4 photos"),
        (shown[1]["id"], "Someone", "2 photos"), (shown[2]["id"], "Unnamed", "2 photos"),
    ]  # fmt: skip
    assert pg.locator(".people-selected").inner_text() == ""  # select mode ended
    assert [e["action"] for e in person_events(srv.home)] == ["name", "reject", "name", "merge"]


def test_a_filtered_user_sees_no_face_of_a_photo_hidden_from_him(srv, login):
    """ben's filter hides the group photo: his People view counts without it, and no tile
    shows a face from it, also where it is the person's best face for anna; the crop
    route answers 404 for its faces to him."""
    names = names_of(srv.home)
    group = next(i for i, n in names.items() if n == GROUP)
    anna = srv.get("/api/people", auth=ANNA).json()["people"]
    from_group = [p for p in anna if p["face"]["entry"] == group]
    assert from_group  # the group photo's faces are large: the best of someone

    pg = login(srv, BEN)
    shown = people_page(pg, srv)
    crops_loaded(pg)
    assert [t["count"] for t in shown] == ["3 photos", "1 photo", "1 photo"]
    assert sorted(t["id"] for t in shown) == sorted(p["id"] for p in anna)
    assert not [t for t in shown if group in t["src"]]
    for n in range(3):
        face = f"/faces/{group}/{n}"
        assert requests.get(srv.url + face, auth=ANNA, timeout=10).status_code == 200
        assert pg.request.get(srv.url + face).status == 404  # his session
        assert requests.get(srv.url + face, auth=BEN, timeout=10).status_code == 404
    # the group photo's tile of anna, for him: his own best face of that person instead
    for person in from_group:
        tile = next(t for t in shown if t["id"] == person["id"])
        assert f"/faces/{person['face']['entry']}/" not in tile["src"]
