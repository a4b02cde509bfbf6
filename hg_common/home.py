"""The gallery home: where it is and the name of every file and folder in it.

Every tool finds the home's files through these names, so a tool that writes a file and
the tools that read it cannot disagree. The config file may move the storage, database,
event log and index folder (`hg_common.config`: `storage`, `database`, `events`,
`index_dir`, relative to the home); the names here are their defaults, and the locks and
status files sit beside what they guard. See docs/architecture.md "Gallery home".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CONFIG = "config.toml"
"""The config file, when neither --config nor HG_CONFIG names one."""
STORAGE = "storage"
"""hg-extract's content-addressed artefacts (hg_common.layout); --storage moves it."""
DATABASE = "gallery.db"
"""hg-build's SQLite database."""
EVENTS = "events.ndjson"
"""The append-only log of user edits (hg-serve, `hg-build events`)."""
INDEX_DIR = "index"
"""hg-index's per-source indexes."""
CACHE_DIR = "cache"
"""Caches any tool may rebuild (hg-extract's offline geocoder places); safe to delete."""
IMPORT_LOCK = "import.lock"
"""flock: one hg-import at a time; `hg-build purge` never runs beside one."""
IMPORT_STATUS = "import-status.json"
"""hg-import's progress, for hg-serve (hg_common.import_status)."""
FETCH_DIR = "fetch"
"""`hg-import --fetch`'s state per remote gallery and login: what it has fetched."""

LOCK_SUFFIX = ".lock"
INDEX_SUFFIX = ".ndjson"
PENDING_SUFFIX = ".next"
"""`<source>.ndjson.next`: an index written by `hg-index --defer-commit`, not yet committed."""


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """`HG_HOME`, else `$XDG_DATA_HOME/hg` (`~/.local/share/hg`)."""
    env = os.environ if env is None else env
    if env.get("HG_HOME"):
        return Path(env["HG_HOME"]).expanduser()
    data = env.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(data).expanduser() / "hg"


def config_file(home: Path) -> Path:
    return home / CONFIG


def import_lock(home: Path) -> Path:
    return home / IMPORT_LOCK


def import_status(home: Path) -> Path:
    return home / IMPORT_STATUS


def fetch_state(home: Path, key: str) -> Path:
    """The fetch state of one remote and login (`key`: made safe for a file name)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    return home / FETCH_DIR / f"{safe}.json"


def cache_dir(home: Path) -> Path:
    return home / CACHE_DIR


def index_lock(index_dir: Path) -> Path:
    """flock: one hg-index run (or `hg-index commit`) at a time."""
    return index_dir / LOCK_SUFFIX


def index_file(index_dir: Path, source_name: str) -> Path:
    """A source's index; characters unsafe in a file name become `_`."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in source_name)
    return index_dir / f"{safe}{INDEX_SUFFIX}"


def database_lock(database: Path) -> Path:
    """flock: one database writer (hg-build, `hg-build events`, hg-serve's edits) at a time."""
    return database.with_name(database.name + LOCK_SUFFIX)
