"""What hg-build offers the tools after it (hg-serve): the one module they import of it.

Reading (`check_readable`, `connect_readonly`, `empty_database`), searching (the query
language: `compile_query`, `compile_filtered`, `QueryError`; `count`, `for_page`, `search_fields`,
`media_by_id`, `existing_ids`, `fields_by_ids`, `visible_keys`), summaries (`years`, `tags`,
the folder tree's `folders`, the map's
`geo_snapshot` / `geo_rowids` / `geo_select`), near-duplicates (`find_duplicates`,
`DUPLICATE_THRESHOLD`), people (`people`, `person`, `person_event`, `PeopleError`), the
event log (`append_events`,
`read_events`, `EventLogError`, and `apply_events` into the database), the failures
(`count_failures`, `list_failures`) and what another gallery fetches (`fetch_manifest`,
`fetch_entries`: the entry records of what a filter selects). Everything else in hg_build
is its own business, so hg-build may reorganise it without touching hg-serve. The writer
lock that `apply_events` needs is `hg_common.home.database_lock` (an hg-build writing the
same database holds it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hg_build import db, people_db, schema
from hg_build.duplicates import DEFAULT_THRESHOLD as DUPLICATE_THRESHOLD
from hg_build.duplicates import find_duplicates
from hg_build.events import EventLogError, append_events, read_events
from hg_build.failures import count_failures, list_failures
from hg_build.fetch_export import entry_records as fetch_entries
from hg_build.fetch_export import manifest as fetch_manifest
from hg_build.folders import folders
from hg_build.lookup import existing_ids, fields_by_ids, media_by_id, visible_keys
from hg_build.people_db import PeopleError
from hg_build.query import QueryError, compile_query
from hg_build.query.compile import Compiled, entries_where
from hg_build.query.filtered import compile_filtered
from hg_build.query.search import count, for_page, search_fields
from hg_build.store import open_readonly
from hg_build.summaries import GeoSnapshot, geo_rowids, geo_select, geo_snapshot, tags, years

__all__ = [
    "DUPLICATE_THRESHOLD",
    "EventLogError",
    "GeoSnapshot",
    "PeopleError",
    "QueryError",
    "append_events",
    "apply_events",
    "check_readable",
    "compile_filtered",
    "compile_query",
    "connect_readonly",
    "count",
    "count_failures",
    "empty_database",
    "existing_ids",
    "fetch_entries",
    "fetch_manifest",
    "fields_by_ids",
    "find_duplicates",
    "folders",
    "for_page",
    "geo_rowids",
    "geo_select",
    "geo_snapshot",
    "list_failures",
    "media_by_id",
    "people",
    "person",
    "person_event",
    "read_events",
    "search_fields",
    "tags",
    "visible_keys",
    "years",
]


def check_readable(database: Path) -> None:
    """Open and close the database as a reader would: ConfigError when there is none or its
    schema is not this hg-build's; sqlite3's errors when the file cannot be read."""
    open_readonly(database).close()


def connect_readonly(database: Path) -> sqlite3.Connection:
    """A read-only connection with hg-build's SQL functions (`casefold`, `hg_cosine`, …)."""
    return db.connect(database, readonly=True)


def empty_database() -> sqlite3.Connection:
    """An in-memory database of the current schema: what a reader sees before any build."""
    conn = db.connect(":memory:")
    schema.create(conn)
    return conn


def apply_events(database: Path, events: Path) -> None:
    """Import the event log's new lines into the database (a database of another schema is
    left alone: the next hg-build migrates or rebuilds it and imports the log then). The
    caller holds the writer lock."""
    conn = db.connect(database)
    try:
        if schema.check(conn) == "ok":
            db.import_events(conn, events)
    finally:
        conn.close()


def people(conn: sqlite3.Connection, query: str | Compiled = "") -> list[dict]:
    """The people with a face in the entries the query (a user's filter ANDed in) selects:
    `[{id, name, faces, photos, face: {entry, n, face, score, x, y, width, height}}]`,
    counts and best face over those entries only; named people first, then the
    unnamed, each by photos (most first). A person with no face there is not listed."""
    c = entries_where(query)
    return people_db.list_people(conn, c.where, c.params)


def person(conn: sqlite3.Connection, person_id: str, query: str | Compiled = "") -> dict | None:
    """One person as `people` lists them, plus `query` (their photos: `person:<id>`) and
    `faces_list` (their faces in those entries, best first, at most 500); None when they
    have no face there."""
    c = entries_where(query)
    found = people_db.list_people(conn, c.where, c.params, person=person_id)
    if not found:
        return None
    keys = people_db.person_faces(conn, person_id, c.where, c.params, limit=500)
    return {**found[0], "query": f"person:{person_id}", "faces_list": keys}


def person_event(conn: sqlite3.Connection, body: object, query: str | Compiled = "") -> dict:
    """The personAction event for a request (`people_db.request_event`: name, merge, move,
    reject) by a user who sees the entries the query selects; PeopleError when it names a
    person or face they cannot see. Append it with `append_events`, then `apply_events`."""
    c = entries_where(query)
    return people_db.request_event(conn, body, c.where, c.params)
