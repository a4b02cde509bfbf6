"""The database schema: DDL, its version (`PRAGMA user_version`) and what to do with others.

Queryable fields are columns (with casefolded `*_f` copies for case-insensitive matching of
non-ASCII text, since SQLite's lower() folds only ASCII); `docs.doc` holds the whole media
dict as JSON, so printing an entry needs no joins over files.
Tags and files are tables of their own.
Documented in docs/architecture.md ("hg-build database"); change both together and bump
SCHEMA_VERSION (add a step to MIGRATIONS when the old data can be kept).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE entries (
  id TEXT PRIMARY KEY,            -- blake3 checksum of the primary file
  type TEXT NOT NULL,             -- image | rawImage | video
  date TEXT NOT NULL,             -- ISO 8601 date taken, zone kept when known
  ts REAL NOT NULL,               -- date as epoch seconds (a naive date counts as UTC)
  year INTEGER, month INTEGER, day INTEGER, hour INTEGER, minute INTEGER,
  updated TEXT NOT NULL,          -- ISO UTC time of the last upsert or applied edit
  width INTEGER, height INTEGER,  -- as displayed (after orientation/rotation)
  orientation INTEGER, duration REAL,
  make TEXT, model TEXT, lens TEXT, iso REAL, aperture REAL, exposure REAL,
  focal_length REAL,
  latitude REAL, longitude REAL, altitude REAL,
  country TEXT, state TEXT, city TEXT, road TEXT,
  description TEXT, title TEXT, rating REAL,
  filesize INTEGER,               -- size of the primary file
  files_count INTEGER NOT NULL, tags_count INTEGER NOT NULL,
  faces_count INTEGER NOT NULL DEFAULT 0, objects_count INTEGER NOT NULL DEFAULT 0,
  make_f TEXT, model_f TEXT, lens_f TEXT, description_f TEXT, title_f TEXT,
  country_f TEXT, state_f TEXT, city_f TEXT, road_f TEXT,
  text TEXT NOT NULL,             -- casefolded free-text haystack
  tags TEXT NOT NULL,             -- JSON list: extracted tags with edits applied
  extracted_tags TEXT NOT NULL,   -- JSON list: tags from the files only
  objects TEXT NOT NULL DEFAULT '[]', faces TEXT NOT NULL DEFAULT '[]',
  similarity BLOB                 -- float32 vector, NULL until similarity is extracted
);
CREATE TABLE docs (               -- apart from entries, so scans of entries stay small
  id TEXT PRIMARY KEY,
  doc TEXT NOT NULL               -- the media dict as JSON (without tags/updated)
);
CREATE INDEX entries_ts ON entries (ts);
CREATE INDEX entries_updated ON entries (updated);
CREATE INDEX entries_year ON entries (year, month, day);
CREATE INDEX entries_geo ON entries (latitude, longitude);
CREATE TABLE files (
  entry_id TEXT NOT NULL,
  source TEXT NOT NULL, root TEXT, path TEXT NOT NULL,
  dir TEXT NOT NULL, name TEXT NOT NULL, ext TEXT NOT NULL,   -- ext casefolded
  path_f TEXT NOT NULL, dir_f TEXT NOT NULL, name_f TEXT NOT NULL,   -- casefolded
  grp TEXT NOT NULL,              -- sidecar group key within (source, dir)
  size INTEGER NOT NULL, mtime REAL, type TEXT NOT NULL, checksum TEXT,
  is_primary INTEGER NOT NULL,
  PRIMARY KEY (source, path)
);
CREATE INDEX files_entry ON files (entry_id);
CREATE INDEX files_size ON files (size);
CREATE TABLE tags (entry_id TEXT NOT NULL, tag TEXT NOT NULL, tag_f TEXT NOT NULL,
                   PRIMARY KEY (entry_id, tag));
CREATE INDEX tags_f ON tags (tag_f);
CREATE TABLE events (             -- the imported event log, one row per event and target
  event_id TEXT NOT NULL, target_id TEXT NOT NULL, date TEXT NOT NULL,
  actions TEXT NOT NULL,          -- JSON list of {action, value}
  PRIMARY KEY (event_id, target_id)
);
CREATE INDEX events_target ON events (target_id, date);
"""

MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}
"""from_version -> step that brings a database to from_version + 1 in place."""


class SchemaError(RuntimeError):
    """The database was made by a newer hg-build, or is not an hg database."""


def create(conn: sqlite3.Connection) -> None:
    """Create the tables in one transaction (a killed run leaves an empty file)."""
    conn.executescript(f"BEGIN;\n{DDL}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;")


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def is_empty(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def check(conn: sqlite3.Connection) -> str:
    """'ok', 'create' (empty file), 'migrate' (steps exist) or 'rebuild' (older, no steps)."""
    if is_empty(conn):
        return "create"
    found = version(conn)
    if found == SCHEMA_VERSION:
        return "ok"
    if found > SCHEMA_VERSION:
        raise SchemaError(
            f"the database has schema v{found}, newer than this hg-build's v{SCHEMA_VERSION}: "
            "upgrade hg, or run `hg-build --rebuild` to replace it"
        )
    if found and all(v in MIGRATIONS for v in range(found, SCHEMA_VERSION)):
        return "migrate"
    return "rebuild"


def migrate(conn: sqlite3.Connection) -> None:
    for step in range(version(conn), SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[step](conn)
            conn.execute(f"PRAGMA user_version = {step + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
