"""`hg-build export meta`: the gallery's tags into XMP sidecars, through the real hg-index,
hg-extract and hg-build executables and real exiftool, on fixture media copied to a
temporary folder (never into tests/fixtures)."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import orjson
import pytest

from hg_build.xmp_tags import plan, sidecar_name
from tests.conftest import face_photos, media_file, run_tool, tool

GPS = "exif-samples/jpg/gps"


def as_user() -> str | None:
    """Root writes anywhere: the read-only folder is read-only only for another user."""
    return "nobody" if os.geteuid() == 0 else None


def give_to_user(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("nobody")
        for p in [path, *path.rglob("*")]:
            os.chown(p, pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def import_all(home: Path) -> list[dict]:
    """`hg-index | hg-extract | hg-build` over the config's sources; hg-index's records."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    env["HG_HOME"] = str(home)
    index = subprocess.run([tool("hg-index"), "--no-progress"], capture_output=True, env=env)
    assert index.returncode == 0, index.stderr.decode()
    extract = subprocess.run(
        [tool("hg-extract"), "--no-progress"], input=index.stdout, capture_output=True, env=env
    )
    assert extract.returncode == 0, extract.stderr.decode()
    build = subprocess.run([tool("hg-build"), "-q"], input=extract.stdout, capture_output=True,
                           env=env)  # fmt: skip
    assert build.returncode == 0, build.stderr.decode()
    return [orjson.loads(line) for line in index.stdout.splitlines() if line.strip()]


def entries(home: Path) -> dict[str, dict]:
    """Each entry by its primary file's name: tags and the database's extracted tags."""
    run = run_tool("hg-build", "query", "", home=home)
    assert run.returncode == 0, run.stderr
    return {
        next(f["path"] for f in r["files"] if f.get("primary")).rsplit("/", 1)[-1]: r
        for r in run.records
    }


def snapshot(base: Path) -> dict[str, tuple[str, int]]:
    """Every file of both sources: its bytes' hash and its mtime."""
    return {
        str(p.relative_to(base)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for root in (base / "pics", base / "nas")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def subjects(path: Path) -> dict:
    out = subprocess.run(["exiftool", "-j", "-XMP:all", str(path)], capture_output=True)
    return orjson.loads(out.stdout)[0]


@pytest.fixture
def gallery():
    """Two sources: `pics` (write_xmp = true) with the sidecar fixtures, a photo without a
    sidecar and a read-only folder; `nas` (not opted in). Outside pytest's 0700 tmp so the
    other user can reach it."""
    base = Path(tempfile.mkdtemp(prefix="hg-xmp-"))
    os.chmod(base, 0o755)
    pics, nas, home = base / "pics", base / "nas", base / "home"
    for name in ("IMG_0001.jpg", "IMG_0001.jpg.xmp", "IMG_0002.jpg", "IMG_0002.xmp"):
        (pics / "sidecar").mkdir(parents=True, exist_ok=True)
        shutil.copy2(media_file(f"tricky/sidecar/{name}"), pics / "sidecar" / name)
    shutil.copy2(media_file(f"{GPS}/DSCN0010.jpg"), pics / "DSCN0010.jpg")
    (pics / "locked").mkdir()
    shutil.copy2(media_file(f"{GPS}/DSCN0012.jpg"), pics / "locked" / "DSCN0012.jpg")
    nas.mkdir()
    shutil.copy2(media_file(f"{GPS}/DSCN0021.jpg"), nas / "DSCN0021.jpg")
    home.mkdir()
    (home / "config.toml").write_text(
        f'[[sources]]\ndir = "{pics}"\nwrite_xmp = true\n\n'
        f'[[sources]]\ndir = "{nas}"\n\n[extract]\nml = "off"\nvideo = false\n'
    )
    try:
        yield base
    finally:
        os.chmod(pics / "locked", 0o755)
        shutil.rmtree(base)


def edit(home: Path, entry_id: str, *args: str) -> None:
    run = run_tool("hg-build", "events", "add", *args, entry_id, home=home)
    assert run.returncode == 0, run.stderr


def export(home: Path, *args: str):
    return run_tool("hg-build", "export", "meta", *args, home=home, user=as_user())


def test_export_meta_writes_sidecars_merged_opt_in_and_idempotent(gallery):
    home, pics = gallery / "home", gallery / "pics"
    import_all(home)
    before = entries(home)
    assert before["IMG_0001.jpg"]["tags"] == ["beach", "holiday"]  # from IMG_0001.jpg.xmp
    assert before["IMG_0002.jpg"]["tags"] == ["forest"]  # from IMG_0002.xmp
    ids = {name: e["id"] for name, e in before.items()}
    edit(home, ids["IMG_0001.jpg"], "--tag", "kayak", "--remove-tag", "holiday")
    edit(home, ids["IMG_0002.jpg"], "--tag", "Wald", "--tag", "FOREST")  # a spelling it has
    edit(home, ids["DSCN0010.jpg"], "--tag", "harbour", "--tag", "2008")
    edit(home, ids["DSCN0012.jpg"], "--tag", "locked")
    edit(home, ids["DSCN0021.jpg"], "--tag", "nas")
    edited = {name: e["tags"] for name, e in entries(home).items()}
    give_to_user(gallery)
    if os.geteuid() == 0:
        os.chown(pics / "locked", 0, 0)
    os.chmod(pics / "locked", 0o555)  # read-only for the user who exports
    untouched = snapshot(gallery)

    # --dry-run: every file it would create or change, nothing written
    dry = export(home, "--dry-run")
    assert snapshot(gallery) == untouched
    assert dry.returncode == 1, dry.stderr  # the read-only folder
    planned = {(r["action"], r["path"]) for r in dry.of_type("xmp")}
    assert planned == {
        ("update", "sidecar/IMG_0001.jpg.xmp"),
        ("update", "sidecar/IMG_0002.xmp"),
        ("create", "DSCN0010.jpg.xmp"),
    }
    (error,) = dry.of_type("error")
    assert error["path"] == "locked/DSCN0012.jpg.xmp" and "read-only" in error["error"]
    assert all(r["dry_run"] for r in dry.of_type("xmp"))
    (skip,) = dry.of_type("skip")
    assert skip["source"] == "nas" and skip["path"] == "DSCN0021.jpg"
    assert "write_xmp" in skip["reason"]
    assert "skipped" in dry.stderr and "'nas'" in dry.stderr

    # --query: only the matching entries
    some = export(home, "--dry-run", "--query", "tag:harbour")
    assert [(r["path"], r["tags"]) for r in some.of_type("xmp")] == [
        ("DSCN0010.jpg.xmp", ["2008", "harbour"])
    ]

    run = export(home)
    assert run.returncode == 1, run.stderr
    written = {(r["action"], r["path"]): r for r in run.of_type("xmp")}
    assert written[("update", "sidecar/IMG_0001.jpg.xmp")]["removed"] == ["holiday"]
    (error,) = run.of_type("error")  # that file only: the run went on
    assert error["path"] == "locked/DSCN0012.jpg.xmp" and "read-only" in error["error"]
    assert not (pics / "locked" / "DSCN0012.jpg.xmp").exists()
    one = subjects(pics / "sidecar" / "IMG_0001.jpg.xmp")
    assert one["Subject"] == ["beach", "kayak"]
    assert one["Title"] == "Sidecar title"  # the other XMP fields are kept
    assert one["DateTimeOriginal"] == "2021:07:14 10:30:00"
    assert subjects(pics / "sidecar" / "IMG_0002.xmp")["Subject"] == ["forest", "Wald"]
    assert subjects(pics / "DSCN0010.jpg.xmp")["Subject"] == [2008, "harbour"]
    after = snapshot(gallery)
    # the originals (and the other source): same bytes, same mtime
    changed = {p for p in after if after[p] != untouched.get(p)}
    sidecars = {"pics/sidecar/IMG_0001.jpg.xmp", "pics/sidecar/IMG_0002.xmp"}
    sidecars |= {"pics/DSCN0010.jpg.xmp"}
    assert changed == sidecars
    assert not [p for p in os.listdir(pics) if p.startswith(".")]  # no temporary files left

    # idempotent: a second run changes nothing
    again = export(home)
    assert again.of_type("xmp") == [] and snapshot(gallery) == after
    assert "0 sidecars created, 0 updated" in again.stderr

    # the next scan sees the sidecars; the re-import keeps every tag, none twice
    records = import_all(home)
    seen = {(r["type"], r["path"]) for r in records if r["type"] in ("add", "change")}
    assert {("add", "DSCN0010.jpg.xmp"), ("change", "sidecar/IMG_0001.jpg.xmp"),
            ("change", "sidecar/IMG_0002.xmp")} <= seen  # fmt: skip
    now = entries(home)
    assert {name: e["tags"] for name, e in now.items()} == edited
    assert now["IMG_0001.jpg"]["tags"] == ["beach", "kayak"]
    assert now["DSCN0010.jpg"]["tags"] == ["2008", "harbour"]
    assert {n: e["id"] for n, e in now.items()} == ids  # same entries, none new
    rebuild = run_tool("hg-build", "--rebuild", "-q", home=home)
    assert rebuild.returncode == 0, rebuild.stderr
    assert entries(home)["IMG_0001.jpg"]["tags"] == ["beach", "kayak"]
    give_to_user(home)
    last = export(home)
    assert last.of_type("xmp") == [], last.records  # what it wrote is what it reads back


def test_a_source_without_write_xmp_is_never_written(gallery):
    home = gallery / "home"
    config = home / "config.toml"
    config.write_text(config.read_text().replace("write_xmp = true\n", ""))
    import_all(home)
    for name, e in entries(home).items():
        edit(home, e["id"], "--tag", f"t-{name}")
    untouched = snapshot(gallery)
    run = run_tool("hg-build", "export", "meta", home=home)
    assert run.returncode == 0, run.stderr
    assert run.of_type("xmp") == [] and len(run.of_type("skip")) == 5
    assert snapshot(gallery) == untouched
    bad = run_tool("hg-build", "export", "meta", "--query", "year>>1", home=home)
    assert bad.returncode == 2 and "query" in bad.stderr


def test_plan_filters_every_tag_field_and_adds_to_the_subject_once():
    existing = {
        "a/IMG_1.xmp": {
            "Subject": ["Beach", "old"],
            "HierarchicalSubject": ["Places|Italy", "old"],
            "TagsList": [],
        }
    }
    (change,) = plan(["beach", "Places|Italy", "new"], existing, "a/IMG_1.xmp")
    assert change.fields == {"Subject": ["Beach", "new"], "HierarchicalSubject": ["Places|Italy"]}
    assert change.removed == ["old"] and change.added == ["new"] and not change.create
    (gone,) = plan(["Beach", "Places|Italy"], {"x.xmp": change.fields}, "x.xmp")
    assert gone.fields == {"Subject": ["Beach"]} and gone.removed == ["new"]
    assert plan(["beach", "places|italy", "new"], {"x.xmp": change.fields}, "x.xmp") == []
    assert plan([], {}, "IMG_1.jpg.xmp") == []  # no tags, no sidecar: nothing to create
    assert sidecar_name("IMG_1.jpg", []) == "IMG_1.jpg.xmp"
    assert sidecar_name("IMG_1.jpg", ["IMG_1.xmp"]) == "IMG_1.xmp"
    assert sidecar_name("IMG_1.CR2", ["IMG_1.xmp", "IMG_1.CR2.xmp"]) == "IMG_1.CR2.xmp"


def test_export_meta_writes_the_names_of_people_and_keeps_names_it_did_not_give(tmp_path):
    """Named people into `XMP-iptcExt:PersonInImage` on real face photos: a rename replaces
    the old name, a name another program wrote stays, a second run writes nothing."""
    src, home = tmp_path / "faces", tmp_path / "home"
    face_photos(src, ["obama-portrait.jpg", "obama-speech.jpg", "biden-portrait.jpg"])
    made = subprocess.run(["exiftool", "-q", "-XMP-iptcExt:PersonInImage=Jill", "-o",
                           str(src / "biden-portrait.jpg.xmp")], capture_output=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    home.mkdir()
    (home / "config.toml").write_text(
        f'[[sources]]\ndir = "{src}"\nwrite_xmp = true\n\n[extract]\nvideo = false\n'
    )
    import_all(home)
    listed = run_tool("hg-build", "people", home=home)
    assert listed.returncode == 0, listed.stderr
    by_photos = {p["photos"]: p["id"] for p in listed.records}
    assert sorted(by_photos) == [1, 2]  # Obama in two photos, Biden in one
    for pid, name in ((by_photos[2], "Barack Obama"), (by_photos[1], "Joe Biden")):
        named = run_tool("hg-build", "people", "name", pid, name, home=home)
        assert named.returncode == 0, named.stderr
    before = {p.name: p.read_bytes() for p in src.glob("*.jpg")}

    run = run_tool("hg-build", "export", "meta", home=home)
    assert run.returncode == 0, run.stderr
    written = {r["path"]: r for r in run.of_type("xmp")}
    assert set(written) == {"obama-portrait.jpg.xmp", "obama-speech.jpg.xmp",
                            "biden-portrait.jpg.xmp"}  # fmt: skip
    assert written["obama-speech.jpg.xmp"]["action"] == "create"
    assert written["biden-portrait.jpg.xmp"]["people_added"] == ["Joe Biden"]
    assert subjects(src / "obama-portrait.jpg.xmp")["PersonInImage"] == "Barack Obama"
    assert subjects(src / "biden-portrait.jpg.xmp")["PersonInImage"] == ["Jill", "Joe Biden"]
    assert run_tool("hg-build", "export", "meta", home=home).of_type("xmp") == []  # idempotent

    renamed = run_tool("hg-build", "people", "name", by_photos[1], "Joe", home=home)
    assert renamed.returncode == 0, renamed.stderr
    again = run_tool("hg-build", "export", "meta", home=home)
    [change] = again.of_type("xmp")
    assert change["path"] == "biden-portrait.jpg.xmp"
    assert change["people_removed"] == ["Joe Biden"] and change["people_added"] == ["Joe"]
    assert subjects(src / "biden-portrait.jpg.xmp")["PersonInImage"] == ["Jill", "Joe"]
    assert {p.name: p.read_bytes() for p in src.glob("*.jpg")} == before  # originals untouched
