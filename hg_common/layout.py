"""The storage layout: where each artefact of a checksum lives and what it is called.

Storage is content-addressed by a blake3 checksum C (64 lower-case hex digits): the
checksum of an original file (per-file artefacts: its metadata) or of an entry's primary
file (per-entry artefacts: previews, video, colours, address)::

    <storage>/C[0:2]/C[2:4]/C[4:]-<what>

`<what>` is one of the artefact names below. hg-extract writes with this module
(`hg_extract.storage`); hg-build reads with it (`rebuild`, `record`, `purge`), and so does
hg-serve (`grid`, `files`). A new artefact is a name here, its producer and its consumer.

Every artefact is written to a temp file in its final folder and renamed into place, so
what has an artefact's name is complete. Temp files are dot files named with their
writer's pid, `.<final name>.<pid>.<random>.tmp` (`temp_prefix`, `TEMP_SUFFIX`): no
artefact name matches one (`parse` says None), so readers and purge pass them over, and a
temp whose writer is dead is known to be left over (`temp_pid`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hg_common.lock import process_alive

CHECKSUM_LENGTH = 64
HEX = frozenset("0123456789abcdef")
_REST = CHECKSUM_LENGTH - 4  # hex digits of the name, after the two folder levels

# Per file, keyed by the file's checksum.
EXIF = "exif.json"
"""exiftool's raw JSON (`-j -n`)."""
META = "meta.json"
"""The per-file `meta` of the entry contract, with `"v": META_VERSION`."""
META_VERSION = 1
"""Bumped when the meta's fields change: hg-extract reads a file again for an older one."""
FFPROBE = "ffprobe.json"
"""`ffprobe -show_format -show_streams` of a video."""
FAILED = "failed.json"
"""The failure memo of a file that could not be an entry's primary (`hg_extract.failures`):
`{"v": MEMO_VERSION, "extractor", "error", "details", "date"}`. A file with one is never
an entry's primary, live or in a rebuild."""
MEMO_VERSION = 1

# Per entry, keyed by the checksum of the entry's primary file (its id).
PREVIEW_PREFIX, PREVIEW_SUFFIX = "image-preview-", ".jpg"
"""`image-preview-<size>.jpg`: long side <= size (see `preview`)."""
RAW_PREVIEW = "raw-preview.jpg"
"""The JPEG embedded in a RAW without a JPEG sidecar."""
VIDEO_POSTER = "video-poster.jpg"
WEB_VIDEO = "video-720.mp4"
"""The video as the web app plays it."""
COLORS = "colors.json"
"""Up to 4 `#rrggbb`; written after the previews, so both mean the previews are complete."""
ADDRESS = "geo-address.json"
"""The entry record's `address`."""
SIMILARITY = "similarity.json"
"""The similarity vector of the entry's 800 px preview, in HomeGallery's api-server shape
with the model beside the data: `{"model", "version", "dim", "created", "data": [floats]}`
(`hg_extract.ml`; the api backend stores the server's answer verbatim, without `dim`)."""
OBJECTS = "objects.json"
"""Objects detected on the 800 px preview: `{"model", "version", "created", "width",
"height", "data": [{"bbox": [x, y, w, h] (preview pixels), "class", "score"}]}`."""
FACES = "faces.json"
"""Faces found on the 800 px preview: `{"model", "version", "created", "width", "height",
"data": [{"box": [x, y, w, h] (preview pixels), "score", "landmarks", "descriptor"}]}`
(`hg_extract.ml.faces`); the api backend's `/faces` answer (face-api), verbatim."""

# Keyed by something else than a file's checksum (never purged).
NOMINATIM = "geo-nominatim.json"
"""Nominatim's answer, keyed by blake3 of the server URL and the rounded coordinate."""
NOT_FILE_KEYED = (NOMINATIM,)

TEMP_SUFFIX = ".tmp"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
"""The mode of a stored file: mkstemp makes 0600 files, and storage is served by hg-serve,
maybe as another user."""


def preview(size: int) -> str:
    return f"{PREVIEW_PREFIX}{size}{PREVIEW_SUFFIX}"


def preview_size(what: str) -> int | None:
    """The size of a preview's artefact name (`image-preview-800.jpg` -> 800), else None."""
    if not (what.startswith(PREVIEW_PREFIX) and what.endswith(PREVIEW_SUFFIX)):
        return None
    size = what[len(PREVIEW_PREFIX) : -len(PREVIEW_SUFFIX)]
    return int(size) if size.isascii() and size.isdigit() else None


def is_checksum(text: str) -> bool:
    return len(text) >= 8 and HEX.issuperset(text)


def prefix(checksum: str) -> str:
    """The start of every storage path of a checksum, `ab/cd/<rest>` (no '-<what>')."""
    return f"{checksum[0:2]}/{checksum[2:4]}/{checksum[4:]}"


def relpath(checksum: str, what: str) -> str:
    """The storage-relative path of an artefact, `/`-separated: `ab/cd/<rest>-<what>`."""
    if not is_checksum(checksum):
        raise ValueError(f"not a hex checksum: {checksum!r}")
    return f"{prefix(checksum)}-{what}"


def path(storage: Path, checksum: str, what: str) -> Path:
    return storage / relpath(checksum, what)


def parse(rel: str) -> tuple[str, str] | None:
    """(checksum, what) of a storage-relative path, or None when it names no artefact (a
    temp file, a run mark, another folder depth, a name that is not a checksum)."""
    parts = rel.split("/")
    if len(parts) != 3 or len(parts[0]) != 2 or len(parts[1]) != 2:
        return None
    name = parts[2]
    checksum = parts[0] + parts[1] + name[:_REST]
    if name[_REST : _REST + 1] != "-" or len(name) == _REST + 1 or not HEX.issuperset(checksum):
        return None
    return checksum, name[_REST + 1 :]


def split_preview(rel: str) -> tuple[str, int] | None:
    """(`ab/cd/<rest>`, size) of a preview's storage path, else None."""
    stem, sep, what = rel.rpartition("-" + PREVIEW_PREFIX)
    size = preview_size(PREVIEW_PREFIX + what) if sep and stem else None
    return None if size is None else (stem, size)


def stored(storage: str | Path, checksum: str) -> set[str]:
    """The artefact names (`what`) stored for a checksum: one listing of its folder."""
    folder, _, rest = prefix(checksum).rpartition("/")
    start = rest + "-"
    try:
        names = os.listdir(f"{storage}/{folder}")
    except OSError:
        return set()
    return {name[len(start) :] for name in names if name.startswith(start)}


def folders(storage: Path) -> Iterator[Path]:
    """The `C[0:2]/C[2:4]` folders of a storage, in name order (none when it is absent)."""
    for a in _subfolders(storage):
        yield from _subfolders(a)


def _subfolders(folder: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    return [Path(e.path) for e in entries if len(e.name) == 2 and e.is_dir()]


def temp_prefix(target_name: str, pid: int) -> str:
    """The start of a temp file's name for a target (`tempfile.mkstemp(prefix=…)`)."""
    return f".{target_name}.{pid}."


@contextmanager
def temp_beside(target: Path) -> Iterator[Path]:
    """A temp file for a stored file: beside `target`, named for the stale-temp sweep
    (`temp_prefix`, TEMP_SUFFIX), FILE_MODE. The block writes it; it is renamed onto
    `target` when the block ends, removed when the block raises (nothing half-written)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=temp_prefix(target.name, os.getpid()), suffix=TEMP_SUFFIX, dir=target.parent
    )
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_atomic(target: Path, data: bytes, durable: bool = False) -> None:
    """`target` replaced by `data` through `temp_beside`: a reader sees the old file or the
    new one, never half. `durable`: fsync'ed before the rename (a state file whose loss
    after a power cut would redo work). An OSError names `target`, not its temp file, so a
    full disk says which file could not be written."""
    try:
        with temp_beside(target) as tmp, open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target)) from None


def temp_pid(name: str) -> int | None:
    """The writer's pid of a temp file's name (`.<name>.<pid>.<random>.tmp`), else None."""
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return None
    parts = name[1 : -len(TEMP_SUFFIX)].rsplit(".", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def writer_alive(pid: int) -> bool:
    """Whether the process exists and has not ended: a killed worker may stay a zombie for a
    while (until its new parent reaps it), and a zombie writes nothing."""
    if not process_alive(pid):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True  # no /proc (not Linux), or it ended just now: keep its temp this time
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] not in (b"Z", b"X")


def remove_stale_temps(folder: Path) -> int:
    """Remove the temp files in `folder` whose writer is dead (another live worker may be
    writing the same content right now: its temp stays); how many."""
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    removed = 0
    for name in names:
        pid = temp_pid(name)
        if pid is None or writer_alive(pid):
            continue
        try:
            os.unlink(folder / name)
            removed += 1
        except OSError:
            pass
    return removed
