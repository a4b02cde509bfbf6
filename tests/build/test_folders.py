"""The folder tree (`hg_build.folders`) and the `folder:` query term on a real database,
with folder names that SQL's LIKE would misread (`%`, `_`) and a sibling that shares a
prefix (`2020` and `2020-old`)."""

from __future__ import annotations

import pytest

from hg_build import db, folders
from hg_build.build import Builder
from hg_build.query.filtered import compile_filtered
from hg_build.query.search import count, search_ids


def entry(n: int, path: str, date: str, tags=(), sidecar: bool = False) -> dict:
    cid = f"{n:064x}"
    meta = {"width": 400, "height": 300, "dates": {"DateTimeOriginal": date}, "tags": list(tags)}

    def file(p: str, primary: bool, k: int) -> dict:
        return {"source": "s", "root": "/r", "path": p, "size": 100 + n, "mtime": 1.7e9 + n,
                "checksum": f"{n:062x}{k:02x}" if k else cid, "file_type": "image" if primary
                else "meta", "primary": primary, "meta": meta if primary else {}}  # fmt: skip

    files = [file(path, True, 0)] + ([file(path + ".xmp", False, 1)] if sidecar else [])
    return {"type": "entry", "v": 1, "id": cid, "media_type": "image", "files": files,
            "previews": [], "video": None, "colors": [], "address": None}  # fmt: skip


@pytest.fixture
def conn(tmp_path):
    c = db.open_database(tmp_path / "gallery.db")
    Builder(c, lambda r: None).apply_chunk(
        [
            entry(1, "top.jpg", "2019:01:01 10:00:00"),
            entry(2, "2020/a.jpg", "2020:01:05 10:00:00", ["beach"], sidecar=True),
            entry(3, "2020/trip/b.jpg", "2020:06:01 10:00:00"),
            entry(4, "2020/trip/deep/c.jpg", "2020:07:01 10:00:00", ["beach"]),
            entry(5, "2020-old/d.jpg", "2018:01:01 10:00:00"),
            entry(6, "100%_sure/e.jpg", "2021:01:01 10:00:00"),
            entry(7, "100x_sure/f.jpg", "2021:02:01 10:00:00"),
        ]
    )
    yield c
    c.close()


def ids(conn, q: str) -> set[int]:
    return {int(i, 16) for i in search_ids(conn, q)}


def test_the_root_lists_top_folders_with_counts_and_the_last_changed_as_cover(conn):
    tree = folders.folders(conn)
    assert tree["path"] == "" and tree["count"] == 7 and tree["direct"] == 1
    got = [(f["name"], f["count"], f["folders"], int(f["cover"], 16)) for f in tree["folders"]]
    assert got == [
        ("100%_sure", 1, False, 6),
        ("100x_sure", 1, False, 7),
        ("2020", 3, True, 4),  # a.jpg and its sidecar count once; c.jpg changed last
        ("2020-old", 1, False, 5),
    ]


def test_a_folder_lists_its_children_and_what_is_in_it_itself(conn):
    tree = folders.folders(conn, "/2020/")
    assert (tree["path"], tree["count"], tree["direct"]) == ("2020", 3, 1)
    assert [(f["name"], f["path"], f["count"], f["folders"]) for f in tree["folders"]] == [
        ("trip", "2020/trip", 2, True)
    ]
    deep = folders.folders(conn, "2020/trip/deep")
    assert (deep["count"], deep["direct"], deep["folders"]) == (1, 1, [])
    assert folders.folders(conn, "nowhere") == {
        "path": "nowhere", "count": 0, "direct": 0, "folders": []
    }  # fmt: skip


def test_counts_and_folders_follow_the_query_and_a_filter(conn):
    tree = folders.folders(conn, "", compile_filtered("", ["tag:beach"], drive_by_tag=False))
    assert tree["count"] == 2 and tree["direct"] == 0
    assert [(f["name"], f["count"]) for f in tree["folders"]] == [("2020", 2)]  # no other names
    trip = folders.folders(conn, "2020", "tag:beach")
    assert [(f["name"], f["count"], int(f["cover"], 16)) for f in trip["folders"]] == [
        ("trip", 1, 4)
    ]


def test_folder_term_is_a_prefix_on_whole_folder_names(conn):
    assert ids(conn, "folder:2020") == {2, 3, 4}  # not 2020-old
    assert ids(conn, "folder:2020/trip") == {3, 4}
    assert ids(conn, "folder:'/2020/trip/'") == {3, 4}
    assert ids(conn, "folder:100%_sure") == {6}  # % and _ are no wildcards
    assert ids(conn, "folder:100x_sure") == {7}
    assert ids(conn, "folder:2020 tag:beach") == {2, 4}
    assert ids(conn, "not folder:2020") == {1, 5, 6, 7}
    assert ids(conn, "folder!=2020") == {1, 5, 6, 7}
    assert count(conn, "folder:''") == 7
    assert ids(conn, "path:2020") == {2}  # path: stays HomeGallery's: the folder itself


def test_folder_term_uses_the_dir_index(conn):
    sql, params = compile_filtered("folder:2020/trip").select("e.id")
    plan = " ".join(r[-1] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "files_dir" in plan, plan


def test_memories_are_the_same_day_in_earlier_years(tmp_path):
    from datetime import date

    from hg_build.query import QueryError

    today = date.today()
    md = f"{today.month:02d}-{today.day:02d}"
    c = db.open_database(tmp_path / "m.db")
    other = "02-28" if md != "02-28" else "03-01"
    same_day = [f"{y}:{md.replace('-', ':')} 12:00:00" for y in (2001, 2019, today.year)]
    Builder(c, lambda r: None).apply_chunk(
        [entry(n, f"x/{n}.jpg", d) for n, d in enumerate(same_day, 1)]
        + [entry(9, "x/9.jpg", f"2019:{other.replace('-', ':')} 12:00:00")]
    )
    assert list(map(lambda i: int(i, 16), search_ids(c, "memories:today"))) == [2, 1]  # newest
    assert ids(c, f"memories:{md}") == {1, 2}  # not this year's
    assert ids(c, f"memories:{other}") == {9} and ids(c, f"memories:{other} year:2019") == {9}
    assert ids(c, "memories:2-29") == set()  # a leap day is a day
    for bad in ("memories:2-30", "memories:13-01", "memories:yesterday", "memories~today"):
        with pytest.raises(QueryError):
            count(c, bad)
    sql, params = compile_filtered("memories:12-06").select("e.id")
    plan = " ".join(r[-1] for r in c.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "entries_month_day" in plan, plan
    c.close()
