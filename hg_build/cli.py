"""hg-build command line: argv, stdin/stdout and exit codes only; the work is elsewhere.

hg-extract … | hg-build            upsert entries chunk by chunk
hg-build --rebuild                 the whole database from index + storage + events
hg-build query QUERY [--ids]       matching media as NDJSON
hg-build events add --tag T ID…    append a tag edit to the event log
hg-build events merge < EVENTS     append the events whose ids the log lacks (a fetch)
hg-build purge [--yes]             delete storage files nothing references any more
hg-build failures [--json]         the files that failed, and why
hg-build duplicates [QUERY] [--threshold T] [--json] [--pairs]
                                   near-duplicate groups (similar vectors)
hg-build export meta [--dry-run]   write the tags into XMP sidecars (sources with write_xmp)
hg-build people [COMMAND …]        people: list, name, merge, move, reject, recluster
(the static export is hg-serve's: `hg-serve export static`)
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from argparse import RawDescriptionHelpFormatter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import orjson

from hg_build import db, events, failures
from hg_build.build import is_flush, timed_chunks
from hg_build.parallel import default_workers, line_blocks
from hg_build.rebuild import rebuild
from hg_build.store import READ_CHUNK, build, open_for_build, open_readonly, writer_lock
from hg_common.cli_support import (
    EXIT_FAILED_INPUTS,
    EXIT_OK,
    ArgumentParser,
    UsageError,
    add_common_arguments,
    run_main,
)
from hg_common.config import Config, load_config
from hg_common.log import setup_logging
from hg_common.ndjson import NdjsonWriter

log = logging.getLogger(__name__)

DESCRIPTION = """\
Build the gallery database from hg-extract's NDJSON on stdin (entry, remove, move, error
records), one transaction per chunk; or rebuild it from the index and storage.

  hg-extract … | hg-build         hg-build --rebuild
  hg-build query QUERY [--ids]    hg-build events add --tag TAG ID…
  hg-build export meta [--dry-run] [--query Q]   (tags into XMP sidecars)
  hg-build people [name|merge|move|reject|recluster …]   (faces grouped into people)

Error records are kept as the files' failures (`hg-build failures`) and printed on stdout
when they are new or changed; known ones are only counted. A `flush` record is printed on
stdout once everything before it is committed (hg-import's chunks; see hg_common.records).

exit status: 0 ok; 1 some inputs failed (error records, new ones printed on stdout); 2
usage or config error."""


def _common(p: ArgumentParser) -> None:
    p.add_argument("--database", help="database file (default: <home>/gallery.db)")
    p.add_argument("--events", help="event log (default: <home>/events.ndjson)")
    add_common_arguments(p)


def _paths(args, cfg: Config) -> tuple[Path, Path]:
    database = Path(args.database).expanduser() if args.database else cfg.database
    return database.absolute(), (Path(args.events) if args.events else cfg.events).absolute()


@contextmanager
def _reading(database: Path) -> Iterator[sqlite3.Connection]:
    """The database, read-only, for a command that takes a query: one that does not parse
    is a usage error (exit 2); the connection is closed either way."""
    # the query language (lark) is imported by the commands that use it: `hg-build` itself
    # starts once per import chunk
    from hg_build.query import QueryError

    conn = open_readonly(database)
    try:
        yield conn
    except QueryError as exc:
        raise UsageError(f"query: {exc}") from None
    finally:
        conn.close()


def _build(argv: Sequence[str]) -> int:
    p = ArgumentParser(
        prog="hg-build", description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    p.add_argument("--rebuild", action="store_true", help="rebuild from index and storage")
    p.add_argument("--chunk-size", type=int, help="records per transaction (default 500)")
    p.add_argument("--workers", type=int, help="processes preparing chunks (default: one per core)")
    _common(p)
    args = p.parse_args(argv)
    setup_logging("hg-build", args.verbose, args.quiet)
    cfg = load_config(args.home, args.config, args.storage)
    database, events_path = _paths(args, cfg)
    out = NdjsonWriter(sys.stdout.buffer, line_buffered=sys.stdout.isatty())
    chunk = args.chunk_size or cfg.value("build", "chunk_size")
    if chunk < 1:
        raise UsageError("--chunk-size must be at least 1")
    workers = args.workers or cfg.value("build", "workers") or default_workers()
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    with writer_lock(database):
        if args.rebuild:
            s = rebuild(database, cfg.index_dir, cfg.storage, events_path, out.write, workers)
        else:
            read = max(chunk, READ_CHUNK)  # cut to `chunk` per transaction in the live file
            chunks = timed_chunks(line_blocks(sys.stdin.buffer), read, 2.0, is_flush)

            def flushed(record: dict) -> None:  # the writer of the flush waits for this
                out.write(record)
                out.flush()

            s = build(
                cfg,
                database,
                events_path,
                chunks,
                out.write,
                out.flush,
                workers=workers,
                chunk_size=chunk,
                on_flush=flushed,
            )
    out.flush()
    if not args.quiet:
        print(
            f"hg-build: {s.entries} entries, {s.removed} removed ({s.dropped} entries dropped), "
            f"{s.moved} moved, {s.errors} errors"
            + (f" ({s.known} known, not printed: `hg-build failures`)" if s.known else "")
            + (" (rebuild)" if args.rebuild else ""),
            file=sys.stderr,
        )
    return EXIT_FAILED_INPUTS if s.errors else EXIT_OK


def _query(argv: Sequence[str]) -> int:
    p = ArgumentParser(prog="hg-build query", description="Print matching media as NDJSON.")
    p.add_argument("query", nargs="?", default="", help="e.g. 'year:2020 and tag:beach'")
    p.add_argument("--ids", action="store_true", help="print only ids, one per line")
    p.add_argument("--limit", type=int, help="at most N results")
    p.add_argument("--offset", type=int, default=0, help="skip the first N results")
    _common(p)
    args = p.parse_args(argv)
    from hg_build.query.search import search, search_ids

    cfg = load_config(args.home, args.config, args.storage)
    with _reading(_paths(args, cfg)[0]) as conn:
        if args.ids:
            for entry_id in search_ids(conn, args.query, args.limit, args.offset):
                sys.stdout.write(entry_id + "\n")
        else:
            out = NdjsonWriter(sys.stdout.buffer)
            out.write_all(search(conn, args.query, args.limit, args.offset))
            out.flush()
    return EXIT_OK


def _failures(argv: Sequence[str]) -> int:
    p = ArgumentParser(
        prog="hg-build failures",
        description="List the files that failed (in no entry) and why, newest first: "
        "'path: reason' lines, or NDJSON `failure` records with --json.",
    )
    p.add_argument("--json", action="store_true", help="NDJSON records of type 'failure'")
    _common(p)
    args = p.parse_args(argv)
    cfg = load_config(args.home, args.config, args.storage)
    conn = open_readonly(_paths(args, cfg)[0])
    try:
        rows = failures.list_failures(conn)
    finally:
        conn.close()
    if args.json:
        out = NdjsonWriter(sys.stdout.buffer)
        out.write_all({"type": "failure", "v": 1, **row} for row in rows)
        out.flush()
    else:
        sys.stdout.writelines(failures.failure_line(row) + "\n" for row in rows)
    return EXIT_OK


def _duplicates(argv: Sequence[str]) -> int:
    from hg_build.duplicates import DEFAULT_THRESHOLD, find_duplicates  # numpy: see _reading

    p = ArgumentParser(
        prog="hg-build duplicates",
        description="List groups of near-duplicates (bursts, re-saved, resized or cropped "
        "copies): entries whose similarity vectors have a cosine of at least the threshold, "
        "joined into groups; a blank line between groups of 'source:path' lines, or NDJSON "
        "`duplicate-group` records (and `duplicate-pair` records with --pairs) with --json.",
    )
    p.add_argument("query", nargs="?", default="", help="compare only these entries")
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="lowest cosine of a pair (default %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="NDJSON records")
    p.add_argument("--pairs", action="store_true", help="with --json: the pairs too")
    _common(p)
    args = p.parse_args(argv)
    threshold = args.threshold
    if not -1 <= threshold <= 1:
        raise UsageError("--threshold is a cosine, between -1 and 1")
    if args.pairs and not args.json:
        raise UsageError("--pairs needs --json")
    cfg = load_config(args.home, args.config, args.storage)
    out = NdjsonWriter(sys.stdout.buffer)
    with _reading(_paths(args, cfg)[0]) as conn:
        groups = find_duplicates(conn, args.query, threshold, out.write if args.pairs else None)
        for group in groups:
            if args.json:
                out.write(group)
                continue
            found = db.records(conn, group["ids"])
            out.flush()
            sys.stdout.writelines(
                f"{f['source']}:{f['path']}\n" for i in group["ids"] for f in found[i]["files"]
                if f["primary"]
            )  # fmt: skip
            sys.stdout.write("\n")
            sys.stdout.flush()
    out.flush()
    return EXIT_OK


def _events_add(argv: Sequence[str]) -> int:
    p = ArgumentParser(
        prog="hg-build events add",
        description="Append a tag edit for entries to the event log (ids or '-' for stdin).",
    )
    p.add_argument("ids", nargs="+", metavar="ID", help="entry ids; '-' reads ids from stdin")
    p.add_argument("--tag", action="append", default=[], help="tag to add (repeatable)")
    p.add_argument("--remove-tag", action="append", default=[], help="tag to remove")
    _common(p)
    args = p.parse_args(argv)
    setup_logging("hg-build", args.verbose, args.quiet)
    if not args.tag and not args.remove_tag:
        raise UsageError("give --tag and/or --remove-tag")
    ids = [i for a in args.ids for i in (sys.stdin.read().split() if a == "-" else [a])]
    if not ids:
        return EXIT_OK
    from hg_build import lookup  # uses the query language: see _query

    cfg = load_config(args.home, args.config, args.storage)
    database, events_path = _paths(args, cfg)
    short = any(len(i) < lookup.FULL_ID for i in ids)
    conn = open_readonly(database) if short and database.exists() else None
    try:
        ids, problems = lookup.resolve_ids(conn, ids)
    finally:
        if conn is not None:
            conn.close()
    if problems:  # nothing is appended: a script must not tag half of what it meant
        raise UsageError("; ".join(problems))
    event = events.tag_event(ids, args.tag, args.remove_tag)
    events.append_events(events_path, [event])
    if database.exists():  # apply now, so queries see the edit at once
        with writer_lock(database):
            conn = open_for_build(cfg, database, events_path, lambda r: None)
            db.import_events(conn, events_path)
            conn.close()
    out = NdjsonWriter(sys.stdout.buffer)
    out.write(event)
    out.flush()
    return EXIT_OK


def _events_merge(argv: Sequence[str]) -> int:
    p = ArgumentParser(
        prog="hg-build events merge",
        description="Append the events (NDJSON on stdin, e.g. another gallery's log) whose "
        "ids the event log does not have yet, then apply them: two logs merge as the union "
        "of their events, replayed in date order.",
    )
    _common(p)
    args = p.parse_args(argv)
    setup_logging("hg-build", args.verbose, args.quiet)
    cfg = load_config(args.home, args.config, args.storage)
    database, events_path = _paths(args, cfg)
    known = {event["id"] for event, _ in events.read_events(events_path)}
    new, bad = [], 0
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            event = events.validate(orjson.loads(line))
        except orjson.JSONDecodeError:
            event = None
        if event is None:
            bad += 1
        elif event["id"] not in known:
            known.add(event["id"])
            new.append(event)
    if new:
        events.append_events(events_path, new)
    if new and database.exists():  # apply now, so queries see them at once
        with writer_lock(database):
            conn = open_for_build(cfg, database, events_path, lambda r: None)
            db.import_events(conn, events_path)
            conn.close()
    out = NdjsonWriter(sys.stdout.buffer)
    out.write({"type": "events-merged", "v": 1, "added": len(new), "invalid": bad})
    out.flush()
    if bad:
        log.warning("%d invalid event line(s) skipped", bad)
    return EXIT_FAILED_INPUTS if bad else EXIT_OK


PEOPLE_DESCRIPTION = """\
People: the faces grouped into people (stable ids), with the corrections of the event log.

  hg-build people                     list people as NDJSON `person` records (id, name,
                                      faces, photos, face: the best face's entry, n, box)
  hg-build people name ID NAME        name a person ('' for unnamed)
  hg-build people merge ID OTHER…     merge the OTHER people into ID
  hg-build people move FACE ID|new    move a face (<entry id or prefix>.<n>) to a person,
                                      or to a person of its own
  hg-build people reject FACE         not this person: the face leaves its person for good
  hg-build people recluster           group every face again (Chinese whispers); ids and
                                      names stay where the clusters still match

name, merge, move and reject append a personAction event to the event log (replayed by
`hg-build --rebuild`), apply it and print it."""

PEOPLE_COMMANDS = {"name": 2, "merge": -2, "move": 2, "reject": 1, "recluster": 0}
"""Command -> its number of arguments (negative: at least that many)."""


def _people(argv: Sequence[str]) -> int:
    p = ArgumentParser(
        prog="hg-build people",
        description=PEOPLE_DESCRIPTION,
        formatter_class=RawDescriptionHelpFormatter,
    )
    p.add_argument("command", nargs="?", choices=sorted(PEOPLE_COMMANDS), help="see above")
    p.add_argument("args", nargs="*", help="the command's arguments")
    p.add_argument("--query", default="", help="list: only faces in entries of this query")
    _common(p)
    args = p.parse_args(argv)
    setup_logging("hg-build", args.verbose, args.quiet)
    from hg_build import people_db

    cfg = load_config(args.home, args.config, args.storage)
    database, events_path = _paths(args, cfg)
    out = NdjsonWriter(sys.stdout.buffer)
    if args.command is None:
        if args.args:
            raise UsageError(f"unknown people command {args.args[0]!r}")
        from hg_build.query.compile import entries_where

        with _reading(database) as conn:
            c = entries_where(args.query)
            for person in people_db.list_people(conn, c.where, c.params):
                out.write({"type": "person", "v": 1, **person})
        out.flush()
        return EXIT_OK
    wanted = PEOPLE_COMMANDS[args.command]
    if (wanted >= 0 and len(args.args) != wanted) or len(args.args) < abs(wanted):
        raise UsageError(f"people {args.command} takes {abs(wanted)} argument(s); see --help")
    if not database.exists():
        raise UsageError(f"no database at {database} yet")
    with writer_lock(database):
        conn = open_for_build(cfg, database, events_path, lambda r: None)
        try:
            db.import_events(conn, events_path)
            if args.command == "recluster":
                with db.transaction(conn):
                    counts = people_db.recluster(conn)
                out.write({"type": "recluster", "v": 1, **counts})
                out.flush()
                return EXIT_OK
            with db.transaction(conn):
                people_db.update(conn)
            made = []
            try:
                for body in _people_requests(conn, args.command, args.args):
                    made.append(people_db.request_event(conn, body))
                    # each applied at once: a merge of several people names the next by
                    # the state the one before left
                    events.append_events(events_path, made[-1:])
                    db.import_events(conn, events_path)
            except people_db.PeopleError as exc:
                raise UsageError(str(exc)) from None
        finally:
            conn.close()
    out.write_all(made)
    out.flush()
    return EXIT_OK


def _people_requests(conn, command: str, argv: list[str]):
    """The `people_db.request_event` bodies of a command's arguments."""
    from hg_build import lookup, people_db

    def face(text: str) -> str:
        prefix, dot, n = text.rpartition(".")
        ids, problems = lookup.resolve_ids(conn, [prefix]) if dot and n.isdigit() else ([], [])
        if problems or not ids:
            raise people_db.PeopleError(
                f"{text!r} is not a face: <entry id or prefix>.<n>"
                + (f" ({'; '.join(problems)})" if problems else "")
            )
        return people_db.face_key(ids[0], int(n))

    if command == "name":
        yield {"action": "name", "person": argv[0], "name": argv[1]}
    elif command == "merge":
        for other in argv[1:]:
            yield {"action": "merge", "person": argv[0], "from": other}
    elif command == "move":
        yield {"action": "move", "face": face(argv[0]),
               "person": None if argv[1] == "new" else argv[1]}  # fmt: skip
    elif command == "reject":
        yield {"action": "reject", "face": face(argv[0])}


def _export_meta(argv: Sequence[str]) -> int:
    p = ArgumentParser(
        prog="hg-build export meta",
        description="Write the gallery's tags (edits applied) into XMP sidecars beside the "
        "originals (IMG_1.jpg.xmp, or the sidecar that exists), with exiftool. Only sources "
        "with write_xmp = true are written; originals never. NDJSON on stdout: `xmp` records "
        "(create/update), `skip` (a source not opted in), `error` (a file not written).",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would change, write nothing")
    p.add_argument("--query", default="", help="only the entries matching this query")
    _common(p)
    args = p.parse_args(argv)
    setup_logging("hg-build", args.verbose, args.quiet)
    from hg_build.export_meta import export  # exiftool: only this command needs it
    from hg_build.query.search import search_ids

    cfg = load_config(args.home, args.config, args.storage)
    if not cfg.sources:
        raise UsageError("no [[sources]] in the config: export meta writes only into sources "
                         "that have write_xmp = true")  # fmt: skip
    out = NdjsonWriter(sys.stdout.buffer, line_buffered=sys.stdout.isatty())
    try:
        with _reading(_paths(args, cfg)[0]) as conn:
            ids = list(search_ids(conn, args.query))
            s = export(conn, ids, cfg.sources, out.write, args.dry_run)
    finally:
        out.flush()
    if not args.quiet:
        would = "would be " if args.dry_run else ""
        skipped = ", ".join(
            f"{n} entries of source {k!r}" for k, n in sorted(s.skipped_sources.items())
        )
        print(
            f"hg-build export meta: {s.created} sidecars {would}created, {s.updated} {would}"
            f"updated, {s.unchanged} entries unchanged, {s.failed} failed"
            + (f"; skipped (see the skip records): {skipped}" if skipped else ""),
            file=sys.stderr,
        )
    return EXIT_FAILED_INPUTS if s.failed else EXIT_OK


def _export_static(argv: Sequence[str]) -> int:
    """Issue 18 named it `hg-build export static`, HomeGallery's name: it is hg-serve's (the
    export is hg-serve's web app and API answers, which hg_build may not import), so the
    old name says where it went instead of failing as an unknown input."""
    args = " ".join(argv)
    raise UsageError(f"the static export is hg-serve's: hg-serve export static {args}".rstrip())


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["query"]:
        return run_main("hg-build", _query, args[1:])
    if args[:1] == ["purge"]:
        from hg_build.purge import purge_main

        return run_main("hg-build", purge_main, args[1:])
    if args[:1] == ["failures"]:
        return run_main("hg-build", _failures, args[1:])
    if args[:1] == ["duplicates"]:
        return run_main("hg-build", _duplicates, args[1:])
    if args[:1] == ["people"]:
        return run_main("hg-build", _people, args[1:])
    if args[:2] == ["events", "add"]:
        return run_main("hg-build", _events_add, args[2:])
    if args[:2] == ["events", "merge"]:
        return run_main("hg-build", _events_merge, args[2:])
    if args[:2] == ["export", "meta"]:
        return run_main("hg-build", _export_meta, args[2:])
    if args[:2] == ["export", "static"]:
        return run_main("hg-build", _export_static, args[2:])
    return run_main("hg-build", _build, args)
