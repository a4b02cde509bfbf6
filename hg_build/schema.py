"""The database schema: DDL, its version (`PRAGMA user_version`) and what to do with others.

Queryable fields are columns (with casefolded `*_f` copies for case-insensitive matching of
non-ASCII text, since SQLite's lower() folds only ASCII); the media record is read back
from them and the entry's `files` rows (`record`, `db.records`).
Tags and files are tables of their own; `tags` carries a copy of its entry's `ts`, so
`tag:x` in date order walks one index (`tags_f`) instead of joining.
Documented in docs/architecture.md ("hg-build database"); change both together and bump
SCHEMA_VERSION (add a step to MIGRATIONS when the old data can be kept).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

import orjson

from hg_build import record

log = logging.getLogger(__name__)

SCHEMA_VERSION = 9

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
  previews TEXT,                  -- JSON list; the entry's own storage paths as -<what>
  video TEXT,                     -- storage path (own: -<what>)
  colors TEXT,                    -- JSON list of #rrggbb
  similarity BLOB,                -- model-tagged vector (NULL until similarity is extracted)
  face_descriptors BLOB           -- model-tagged float16 [faces x 128] (hg_build.faces)
);
CREATE TABLE files (
  entry_id TEXT NOT NULL,
  source TEXT NOT NULL, root TEXT, path TEXT NOT NULL,
  dir TEXT NOT NULL, name TEXT NOT NULL, ext TEXT NOT NULL,   -- ext casefolded
  path_f TEXT NOT NULL, dir_f TEXT NOT NULL, name_f TEXT NOT NULL,   -- casefolded
  grp TEXT NOT NULL,              -- sidecar group key within (source, dir)
  size INTEGER NOT NULL, mtime REAL, type TEXT NOT NULL, checksum TEXT,
  is_primary INTEGER NOT NULL,
  ord INTEGER NOT NULL DEFAULT 0, -- place in the entry's list of files
  PRIMARY KEY (source, path)
);
CREATE INDEX files_entry ON files (entry_id);
CREATE TABLE tags (entry_id TEXT NOT NULL, tag TEXT NOT NULL,
                   tag_f TEXT NOT NULL,   -- casefolded
                   ts REAL NOT NULL,      -- entries.ts of entry_id (kept in step by upserts)
                   PRIMARY KEY (entry_id, tag_f)) WITHOUT ROWID;  -- a spelling per entry
CREATE TABLE events (             -- the imported event log, one row per event and target
  event_id TEXT NOT NULL, target_id TEXT NOT NULL, date TEXT NOT NULL,
  actions TEXT NOT NULL,          -- JSON list of {action, value}
  PRIMARY KEY (event_id, target_id)
);
CREATE INDEX events_target ON events (target_id, date);
"""

FAILURES_TABLE = """
CREATE TABLE failures (           -- files that are in no entry, and why (hg_build.failures)
  source TEXT NOT NULL, path TEXT NOT NULL, root TEXT,
  stage TEXT,                     -- index | extract | build
  error TEXT NOT NULL, checksum TEXT,
  extractor INTEGER,              -- hg-extract's EXTRACTOR_VERSION when it failed there
  details TEXT,                   -- JSON, as the error record had it
  first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,   -- ISO UTC
  PRIMARY KEY (source, path)
)"""
FAILURES_INDEX = "CREATE INDEX failures_seen ON failures (last_seen)"
DDL += f"{FAILURES_TABLE};\n{FAILURES_INDEX};\n"

PEOPLE_TABLES = (
    """CREATE TABLE people (          -- faces grouped into people (hg_build.people_db)
  id TEXT PRIMARY KEY,            -- short stable id (10 hex digits)
  name TEXT, name_f TEXT          -- from the event log's name events; casefolded; NULL: unnamed
)""",
    "CREATE INDEX people_name ON people (name_f)",
    """CREATE TABLE person_faces (    -- every kept face with a descriptor, and its person
  entry_id TEXT NOT NULL, n INTEGER NOT NULL,   -- the n-th face of entries.faces
  person_id TEXT NOT NULL,
  model TEXT NOT NULL,            -- the descriptor's <model>/<version>: compared within one
  descriptor BLOB NOT NULL,       -- float16 [128], the face's row of entries.face_descriptors
  score REAL NOT NULL, area REAL NOT NULL,   -- the face's score and relative area (best face)
  PRIMARY KEY (entry_id, n)
) WITHOUT ROWID""",
    "CREATE INDEX person_faces_person ON person_faces (person_id, entry_id)",
    """CREATE TABLE person_events (   -- personAction events, in the log's order (rowid)
  event_id TEXT PRIMARY KEY, date TEXT NOT NULL,
  event TEXT NOT NULL,            -- JSON: the whole event
  entries TEXT NOT NULL           -- JSON list of the entry ids its faces name
)""",
    "CREATE TABLE faces_pending (entry_id TEXT PRIMARY KEY) WITHOUT ROWID",
    # Every way an entry's faces are written (upserts, a worker's packed chunk, ml records)
    # goes through these: the entries whose faces changed wait in faces_pending until the
    # chunk's end (`people_db.update`), a deleted entry's faces leave their people at once.
    # (INSERT OR REPLACE fires no DELETE trigger without recursive_triggers: the pending
    # update compares the faces instead.)
    """CREATE TRIGGER faces_inserted AFTER INSERT ON entries
WHEN NEW.face_descriptors IS NOT NULL
  OR EXISTS (SELECT 1 FROM person_faces WHERE entry_id = NEW.id)
BEGIN INSERT OR IGNORE INTO faces_pending (entry_id) VALUES (NEW.id); END""",
    """CREATE TRIGGER faces_updated AFTER UPDATE OF face_descriptors ON entries
BEGIN INSERT OR IGNORE INTO faces_pending (entry_id) VALUES (NEW.id); END""",
    """CREATE TRIGGER faces_deleted AFTER DELETE ON entries
BEGIN DELETE FROM person_faces WHERE entry_id = OLD.id; END""",
)
DDL += "".join(f"{statement};\n" for statement in PEOPLE_TABLES)

INDEXES = """
-- the results' default order (ts DESC, id) as an index (a `ts` range reads it too): a page
-- deep in them (the web app's year jump, offset 500k of 1M) skips index entries instead
-- of sorting every row before it
CREATE INDEX IF NOT EXISTS entries_ts ON entries (ts DESC, id);
CREATE INDEX IF NOT EXISTS entries_updated ON entries (updated);
CREATE INDEX IF NOT EXISTS entries_year ON entries (year, month, day);
-- year:Y in date order walks entries_year_ts and stops at the limit (no sort, no row reads)
CREATE INDEX IF NOT EXISTS entries_year_ts ON entries (year, ts, id);
-- entries_geo holds id: the map's points are one scan of the index, no row lookups; only
-- positioned entries (every geo term reads latitude, which implies it)
CREATE INDEX IF NOT EXISTS entries_geo ON entries (latitude, longitude, id)
  WHERE latitude IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_filesize ON entries (filesize);
CREATE INDEX IF NOT EXISTS files_size ON files (size);
-- tags_f holds entry_id too (the table's key): a covering index for tag terms
CREATE INDEX IF NOT EXISTS tags_f ON tags (tag_f, ts);
-- the folder view and folder:/path: terms: a folder's subtree is a range of dir (covering)
CREATE INDEX IF NOT EXISTS files_dir ON files (dir, entry_id, mtime);
-- memories:MM-DD (the same day in any year) without a scan of every entry
CREATE INDEX IF NOT EXISTS entries_month_day ON entries (month, day, year);
"""
"""Indexes for queries only (the upserts' lookups use the keys and files_entry): a fresh
build creates them at its end, one sort each, instead of updating them per row."""

TEXT_INDEX_TABLE = (
    "CREATE VIRTUAL TABLE entries_text USING fts5(text, content='entries', "
    "content_rowid='rowid', tokenize='trigram case_sensitive 1')"
)
"""The free-text search's index: FTS5 over `entries.text` (an external-content table: the
text is stored once, in `entries`), tokenised into trigrams, so a phrase query of 3+
characters finds exactly the rows `instr(text, term) > 0` finds (substrings, not words)
without reading every row's haystack; case-sensitive because both sides are casefolded
already (hg_build.query.compile). Shorter terms stay on instr()."""
TEXT_INDEX_TRIGGERS = (
    # Every write of entries.text keeps the index in step. An upsert is INSERT OR REPLACE,
    # whose delete of the old row fires no DELETE trigger (recursive_triggers is off, see
    # the faces triggers): the BEFORE INSERT trigger takes the old row's text out first.
    """CREATE TRIGGER entries_text_replaced BEFORE INSERT ON entries BEGIN
INSERT INTO entries_text (entries_text, rowid, text)
  SELECT 'delete', rowid, text FROM entries WHERE id = NEW.id; END""",
    """CREATE TRIGGER entries_text_inserted AFTER INSERT ON entries BEGIN
INSERT INTO entries_text (rowid, text) VALUES (NEW.rowid, NEW.text); END""",
    """CREATE TRIGGER entries_text_deleted AFTER DELETE ON entries BEGIN
INSERT INTO entries_text (entries_text, rowid, text) VALUES ('delete', OLD.rowid, OLD.text);
END""",
    """CREATE TRIGGER entries_text_updated AFTER UPDATE OF text ON entries BEGIN
INSERT INTO entries_text (entries_text, rowid, text) VALUES ('delete', OLD.rowid, OLD.text);
INSERT INTO entries_text (rowid, text) VALUES (NEW.rowid, NEW.text); END""",
)


def _create_text_index(conn: sqlite3.Connection) -> None:
    """The free-text index over the rows already there (one pass), then its triggers."""
    conn.execute(TEXT_INDEX_TABLE)
    conn.execute("INSERT INTO entries_text (entries_text) VALUES ('rebuild')")
    for statement in TEXT_INDEX_TRIGGERS:
        conn.execute(statement)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """v2: `tags` without rowid (one B-tree, not two), keyed by (entry_id, tag_f), with the
    entry's `ts` copied in; entries ordered by filesize."""
    conn.execute(
        "CREATE TABLE tags_v2 (entry_id TEXT NOT NULL, tag TEXT NOT NULL, tag_f TEXT NOT NULL, "
        "ts REAL NOT NULL, PRIMARY KEY (entry_id, tag_f)) WITHOUT ROWID"
    )
    conn.execute(
        "INSERT OR IGNORE INTO tags_v2 (entry_id, tag, tag_f, ts) "
        "SELECT t.entry_id, t.tag, t.tag_f, e.ts FROM tags t JOIN entries e ON e.id = t.entry_id"
    )
    conn.execute("DROP TABLE tags")
    conn.execute("ALTER TABLE tags_v2 RENAME TO tags")
    conn.execute("CREATE INDEX tags_f ON tags (tag_f, ts)")
    conn.execute("CREATE INDEX IF NOT EXISTS entries_filesize ON entries (filesize)")


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    """v3: `entries_geo` covers `id` (the map's points without 40k row lookups);
    `entries_year_ts` serves `year:Y` pages in date order."""
    conn.execute("DROP INDEX IF EXISTS entries_geo")
    conn.execute("CREATE INDEX entries_geo ON entries (latitude, longitude, id)")
    conn.execute("CREATE INDEX IF NOT EXISTS entries_year_ts ON entries (year, ts, id)")


def _v3_to_v4(conn: sqlite3.Connection) -> None:
    """v4: no `docs` table (the stored copy of each record: ~40 % of the file). What only
    it held becomes `entries.previews/video/colors` and `files.ord`; `entries_geo` holds
    positioned entries only (a partial index)."""
    for column in ("previews", "video", "colors"):
        conn.execute(f"ALTER TABLE entries ADD COLUMN {column} TEXT")
    conn.execute("ALTER TABLE files ADD COLUMN ord INTEGER NOT NULL DEFAULT 0")
    last = 0
    while rows := conn.execute(  # a thousand at a time: flat memory for any archive
        "SELECT rowid, doc FROM docs WHERE rowid > ? ORDER BY rowid LIMIT 1000", (last,)
    ).fetchall():
        last = rows[-1][0]
        docs = [orjson.loads(doc) for _rowid, doc in rows]
        conn.executemany(
            "UPDATE entries SET previews = ?, video = ?, colors = ? WHERE id = ?",
            [(*record.stored_extras(d), d["id"]) for d in docs],
        )
        conn.executemany(
            "UPDATE files SET ord = ? WHERE source = ? AND path = ? AND entry_id = ?",
            [(i, f["source"], f["path"], d["id"]) for d in docs for i, f in enumerate(d["files"])],
        )
    conn.execute("DROP TABLE docs")
    conn.execute("DROP INDEX IF EXISTS entries_geo")
    conn.execute(
        "CREATE INDEX entries_geo ON entries (latitude, longitude, id) WHERE latitude IS NOT NULL"
    )


def _v4_to_v5(conn: sqlite3.Connection) -> None:
    """v5: the `failures` table (files that failed, with the reason), empty: the failures
    of earlier runs were only printed; the next import that offers them again fills it."""
    conn.execute(FAILURES_TABLE)  # not executescript: that would commit the migration's BEGIN
    conn.execute(FAILURES_INDEX)


def _v5_to_v6(conn: sqlite3.Connection) -> None:
    """v6: indexes for the folder view (`files_dir`) and for memories
    (`entries_month_day`); the data is unchanged."""
    conn.execute("CREATE INDEX IF NOT EXISTS files_dir ON files (dir, entry_id, mtime)")
    conn.execute("CREATE INDEX IF NOT EXISTS entries_month_day ON entries (month, day, year)")


def _v6_to_v7(conn: sqlite3.Connection) -> None:
    """v7: `entries.face_descriptors` (faces, `hg_build.faces`), empty: `hg-build
    --rebuild` or the next `ml` records fill it."""
    conn.execute("ALTER TABLE entries ADD COLUMN face_descriptors BLOB")


def _v7_to_v8(conn: sqlite3.Connection) -> None:
    """v8: people (`people`, `person_faces`, `person_events`, `faces_pending` and the
    triggers that fill it). Every entry with faces is marked pending, so the next build's
    first chunk groups them; `hg-build people` does it at once."""
    for statement in PEOPLE_TABLES:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO faces_pending (entry_id) SELECT id FROM entries "
        "WHERE face_descriptors IS NOT NULL"
    )


def _v8_to_v9(conn: sqlite3.Connection) -> None:
    """v9: the free-text index `entries_text` (FTS5, trigrams) and its triggers, made from
    the entries' text; `entries_ts` is (ts DESC, id) (1M entries: see docs/benchmarks.md)."""
    _create_text_index(conn)
    conn.execute("DROP INDEX IF EXISTS entries_ts")  # was (ts): ties sorted for each page
    conn.execute("CREATE INDEX entries_ts ON entries (ts DESC, id)")
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
        # the other indexes have statistics (a build's ANALYZE, approximate): this one
        # needs its own, made the same way (1M entries: 0.3 s), else the planner takes
        # entries_year_ts or entries_geo and sorts rather than walk it (as a fresh build)
        conn.execute("PRAGMA analysis_limit = 1000")
        conn.execute("ANALYZE")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
    5: _v5_to_v6,
    6: _v6_to_v7,
    7: _v7_to_v8,
    8: _v8_to_v9,
}
"""from_version -> step that brings a database to from_version + 1 in place."""


class SchemaError(RuntimeError):
    """The database was made by a newer hg-build, or is not an hg database."""


def create(conn: sqlite3.Connection, indexes: bool = True) -> None:
    """Create the tables in one transaction (a killed run leaves an empty file).
    Without `indexes` (a fresh build) the query indexes and the free-text index with its
    triggers wait for `create_indexes`."""
    ddl = DDL
    if indexes:
        ddl += INDEXES + f"{TEXT_INDEX_TABLE};\n" + "".join(f"{t};\n" for t in TEXT_INDEX_TRIGGERS)
    conn.executescript(f"BEGIN;\n{ddl}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;")


def create_indexes(conn: sqlite3.Connection) -> None:
    """The query indexes and the free-text index (after a fresh build without them); a
    no-op when they exist."""
    conn.executescript(f"BEGIN;\n{INDEXES}\nCOMMIT;")
    if not has_text_index(conn):
        conn.execute("BEGIN")
        _create_text_index(conn)
        conn.execute("COMMIT")


def has_text_index(conn: sqlite3.Connection) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'entries_text'").fetchone()
    return found is not None


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
    """Run the steps from the database's version up, one transaction each."""
    for step in range(version(conn), SCHEMA_VERSION):
        log.warning("migrating the database from schema v%d to v%d", step, step + 1)
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[step](conn)
            conn.execute(f"PRAGMA user_version = {step + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
