"""`hg-serve export static`: a query's entries as a gallery any static file host can serve.

Why hg-serve and not hg-build: the export is the web app (`hg_serve/static`) with the
answers hg-serve's API would give (grid items and detail records, `grid.py`, read through
`Gallery` and so through hg_build's facade like every other answer); hg_build may not import
hg_serve (tests/common/test_layers.py), and a copy of the shaping in hg_build would be a
second owner of the API's shapes.

What the folder holds (all paths relative, so it works under any base path):

    index.html, manifest.webmanifest   the app shell with <meta name="hg-static">
    static/*.js, *.css, icon.svg       the web app, unchanged (static-data.js answers the API)
    data/gallery.json                  {"type": "hg/static-export", "v": 1, "query", "created",
                                        "dated", "entries": [grid items in the query's order],
                                        "details": {id: detail record (+ "similar": [ids])}}
    files/ab/cd/<rest>-…               the previews and web videos of those entries only
    originals/<id>/<n>/<name>          the original files, only with --originals

Detail records lose the sources' `root` (an absolute path on the server says nothing to a
viewer and tells more than the export means to). Writes are atomic: everything goes into a
temp folder beside the target, renamed into place at the end (an archive: a temp file).

`--archive` writes DIR.zip instead of the folder: previews and videos are JPEG and H.264
already, so they are stored as they are and only the app and its data are deflated (a
.tar.gz compressed every byte again: 1,000 entries took 113 s instead of ~9 s, for 0.4 %
less), and a zip opens with a double click on every desktop.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from hg_common.errors import ConfigError
from hg_common.lock import process_alive
from hg_serve.app_paths import STATIC
from hg_serve.gallery import MAX_LIMIT, Gallery

log = logging.getLogger(__name__)

DATA = "data/gallery.json"
MARKER = ".hg-static-export"  # at the top of every export: what --force may replace
FORMAT = "hg/static-export"
VERSION = 1
SIMILAR_LIMIT = 50  # per entry: the detail's "Similar images" inside the export
# The map (Leaflet from hg-serve's /vendor, tiles from the net) and the login page have no
# place in an export; every other file of the app is copied as it is.
LEFT_OUT = {"login.html", "login.css", "login.js", "world-110m.geojson"}


@dataclass
class ExportStats:
    entries: int = 0
    files: int = 0
    bytes: int = 0
    originals: int = 0
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0
    target: str = ""


# Shown until the app starts (main.js removes it): opened as a file, the browser refuses the
# app's ES modules and its data fetch (file:// has no origin), and says nothing on the page.
FILE_HINT = """\
  <p id="static-hint" class="static-hint">This gallery needs a web server: browsers do not
    run its scripts from a file. Serve this folder, e.g. <code>python3 -m http.server</code>
    in it, and open <a href="http://127.0.0.1:8000/">http://127.0.0.1:8000/</a>.</p>"""


def index_html(template: str) -> str:
    """The app shell for a static folder: links relative to index.html, the nav links as
    hash routes (a static host has no page at …/years), and the data file named in a meta
    tag (no inline script: the app keeps its CSP)."""
    html = template.replace('href="%BASE%/" data-nav', 'href="#/" data-nav')
    for view in ("years", "tags", "folders", "map", "videos", "memories", "duplicates", "failures"):
        html = html.replace(f'href="%BASE%/{view}"', f'href="#/{view}"')
    html = html.replace("%BASE%/", "").replace("%BASE%", ".")
    meta = f'<meta name="hg-static" content="{DATA}">'
    html = html.replace('<meta name="hg-base"', f'{meta}\n  <meta name="hg-base"', 1)
    return html.replace("<body>", f"<body>\n{FILE_HINT}", 1)


def manifest(template: str) -> str:
    return template.replace("%BASE%/", "./").replace("%BASE%", ".")


def read_subset(
    gallery: Gallery, query: str, with_originals: bool, filters: Sequence[str] = ()
) -> tuple[dict[str, Any], list[str], list[tuple[Path, str]]]:
    """(the data file, storage paths to copy, (original, export path) pairs) of the query,
    within a user's `filters` (`--user`: what that user may see, as on every route)."""
    items: list[dict[str, Any]] = []
    dated = True
    while True:
        page = gallery.page(query, filters, len(items), MAX_LIMIT)
        dated = page["dated"]
        items += page["entries"]
        if not page["entries"] or len(items) >= page["total"]:
            break
    # similar: within the export (the query ANDed as a filter), so no link leads outside
    subset = (*filters, query) if query.strip() else tuple(filters)
    details: dict[str, Any] = {}
    storage: list[str] = []
    originals: list[tuple[Path, str]] = []
    for item in items:
        d = gallery.detail(item["id"], filters)
        if d is None:  # gone since the page was read (an import meanwhile)
            continue
        storage += [p for p in d.get("previews") or [] if p]
        if d.get("video"):
            storage.append(d["video"])
        if d.get("has_similar"):
            found = gallery.similar(item["id"], subset)
            d["similar"] = [s["id"] for s in found[:SIMILAR_LIMIT]]
            d["has_similar"] = bool(d["similar"])
        if with_originals:
            d["originals"] = []
            for n, f in enumerate(d.get("files") or []):
                name = PurePosixPath(f["path"]).name
                rel = f"originals/{d['id']}/{n}/{name}"
                originals.append((Path(f["root"]) / f["path"], rel))
                d["originals"].append(rel)
        for f in d.get("files") or []:
            f.pop("root", None)
        details[d["id"]] = d
    items = [it for it in items if it["id"] in details]
    data = {
        "type": FORMAT,
        "v": VERSION,
        "query": query,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dated": dated,
        "entries": items,
        "details": details,
    }
    return data, list(dict.fromkeys(storage)), originals


def _safe_relative(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(parts) and not path.startswith("/") and ".." not in parts and "\\" not in path


def _copy(src: Path, dest: Path) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest.stat().st_size


def write_folder(
    folder: Path, data: dict[str, Any], storage_root: Path, storage: Sequence[str],
    originals: Sequence[tuple[Path, str]], stats: ExportStats,
) -> None:  # fmt: skip
    """Everything of the export into `folder` (a fresh temp folder)."""
    (folder / "static").mkdir(parents=True)
    for src in sorted(STATIC.iterdir()):
        if src.is_file() and src.name not in LEFT_OUT | {"index.html", "manifest.webmanifest"}:
            stats.bytes += _copy(src, folder / "static" / src.name)
    (folder / "index.html").write_text(index_html((STATIC / "index.html").read_text()))
    (folder / "manifest.webmanifest").write_text(
        manifest((STATIC / "manifest.webmanifest").read_text())
    )
    for rel in storage:
        if not _safe_relative(rel):
            stats.missing.append(rel)
            continue
        try:
            stats.bytes += _copy(storage_root / rel, folder / "files" / rel)
            stats.files += 1
        except FileNotFoundError:
            log.warning("not in the storage, left out: %s", rel)
            stats.missing.append(rel)
    for src, rel in originals:
        try:
            stats.bytes += _copy(src, folder / rel)
            stats.originals += 1
        except OSError as exc:  # a source offline, a file gone since the import
            log.warning("original left out: %s: %s", src, exc.strerror or exc)
            stats.missing.append(str(src))
    body = orjson.dumps(data)
    (folder / DATA).parent.mkdir(parents=True, exist_ok=True)
    (folder / DATA).write_bytes(body)
    stats.bytes += len(body)


def _is_export(path: Path, archive: bool) -> bool:
    """What --force may replace: a folder with our marker, or (--archive) a zip file."""
    if archive:
        return path.is_file() and zipfile.is_zipfile(path)
    return path.is_dir() and (path / MARKER).is_file()


def _is_nonempty(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


def export_static(
    gallery: Gallery,
    storage_root: Path,
    query: str,
    target: Path,
    base_path: str = "",
    archive: bool = False,
    originals: bool = False,
    force: bool = False,
    filters: Sequence[str] = (),
) -> ExportStats:
    """Write the export of `query` to `target` (a folder, or `target`.tar.gz with
    `archive`); the app lives in `target/<base_path>/` (a host serving `target` at its root
    then has it at /<base_path>/, as HomeGallery's export does)."""
    started = time.perf_counter()
    base = base_path.strip("/")
    if base and not _safe_relative(base):
        raise ConfigError(f"--base-path must be a relative path without '..': {base_path!r}")
    final = target.with_name(target.name + ".zip") if archive else target
    if _is_nonempty(final):
        what = "file" if final.is_file() else "folder"
        if not force:
            raise ConfigError(f"{final} is a {what} that is not empty; give --force to replace it")
        if not _is_export(final, archive):  # --force never deletes anything else
            raise ConfigError(f"{final} is a {what} that is not an hg export; not replaced")
    final.parent.mkdir(parents=True, exist_ok=True)
    data, storage, pairs = read_subset(gallery, query, originals, filters)
    stats = ExportStats(entries=len(data["entries"]), target=str(final))
    sweep_stale(final)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".tmp", dir=final.parent)
    )
    try:
        site = tmp / "site"
        app = site / base if base else site
        write_folder(app, data, storage_root, storage, pairs, stats)
        (site / MARKER).write_text(f"{FORMAT} {VERSION}\n")
        if archive:
            packed = tmp / "export.zip"
            pack_zip(site, packed, target.name)
            os.chmod(packed, 0o644)
            os.replace(packed, final)  # a file over a file: atomic
        else:
            os.chmod(site, 0o755)
            _replace_folder(site, final, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stats.seconds = time.perf_counter() - started
    return stats


STORED = {".jpg", ".jpeg", ".mp4", ".png", ".heic", ".mov", ".webp"}  # compressed already


def pack_zip(folder: Path, dest: Path, top: str) -> None:
    """`folder` as `top/…` in a zip: media stored, the rest deflated."""
    with zipfile.ZipFile(dest, "w", allowZip64=True) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                kind = zipfile.ZIP_STORED if path.suffix.lower() in STORED else zipfile.ZIP_DEFLATED
                zf.write(path, f"{top}/{path.relative_to(folder).as_posix()}", kind)


def sweep_stale(final: Path) -> None:
    """Remove the temp folders of exports to `final` whose process is gone (a killed run:
    `.<name>.<pid>.<random>.tmp` beside the target; the target itself was never touched)."""
    for old in final.parent.glob(f".{glob.escape(final.name)}.*.tmp"):
        pid = old.name[len(final.name) + 2 :].split(".", 1)[0]
        if old.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            log.info("removing %s, left by an export that did not finish", old)
            shutil.rmtree(old, ignore_errors=True)


def _replace_folder(new: Path, final: Path, tmp: Path) -> None:
    """Put `new` where `final` is: a rename when nothing (or an empty folder) is there;
    else the old one is moved into `tmp` first (deleted with it), so at every moment
    `final` is the whole old export or the whole new one, never a mix."""
    if final.is_dir() and not any(final.iterdir()):
        final.rmdir()
    elif final.exists() or final.is_symlink():
        os.rename(final, tmp / "old")
    os.rename(new, final)
