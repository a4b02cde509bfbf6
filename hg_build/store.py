"""The database file as a whole: one writer at a time, open-or-rebuild, read-only opens."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hg_build import db, schema
from hg_build.rebuild import rebuild
from hg_index.config import Config, ConfigError
from hg_index.lock import LockedError, RunLock

log = logging.getLogger(__name__)


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextmanager
def writer_lock(database: Path) -> Iterator[None]:
    """One writer (incremental build, rebuild, events add) at a time; others wait."""
    try:
        with RunLock(lock_path(database)):
            yield
            return
    except LockedError:
        pass
    log.info("waiting for another hg-build to finish with %s", database)
    with RunLock(lock_path(database), wait=True):
        yield


def open_for_build(cfg: Config, database: Path, events: Path, on_error) -> sqlite3.Connection:
    """Open the database for writing; an older schema without migration is rebuilt."""
    try:
        return db.open_database(database)
    except schema.SchemaError as exc:
        if str(exc) != "rebuild":
            raise ConfigError(str(exc)) from None
    conn = sqlite3.connect(database)
    found = schema.version(conn)
    conn.close()
    log.warning(
        "%s has schema v%s, this hg-build writes v%s: rebuilding it from the index and "
        "storage (your edits in %s are kept)",
        database, found, schema.SCHEMA_VERSION, events,
    )  # fmt: skip
    rebuild(database, cfg.index_dir, cfg.storage, events, on_error)
    return db.open_database(database)


def open_readonly(database: Path) -> sqlite3.Connection:
    if not database.exists():
        raise ConfigError(
            f"no database at {database} yet: run `hg-index DIR | hg-extract | hg-build`"
        )
    conn = db.connect(database, readonly=True)
    try:
        state = schema.check(conn)
    except schema.SchemaError as exc:
        raise ConfigError(str(exc)) from None
    if state != "ok":
        raise ConfigError(
            f"{database} has schema v{schema.version(conn)}, not v{schema.SCHEMA_VERSION}: "
            "run `hg-build --rebuild`"
        )
    return conn
