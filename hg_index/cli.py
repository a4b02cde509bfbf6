"""hg-index command line: argv, stdin/stdout and exit codes only; the work is in `scan`."""

from __future__ import annotations

import logging
import sys
from argparse import RawDescriptionHelpFormatter
from collections.abc import Sequence

from hg_common.cli_support import (
    EXIT_FAILED_INPUTS,
    EXIT_OK,
    ArgumentParser,
    add_common_arguments,
    run_main,
)
from hg_common.config import Config, load_config
from hg_common.filesize import format_filesize, parse_filesize
from hg_common.home import index_lock
from hg_common.indexfile import commit_pending, discard_pending, index_files
from hg_common.limits import DEFAULT_ADD_LIMITS, parse_add_limits
from hg_common.lock import RunLock
from hg_common.log import setup_logging
from hg_common.ndjson import NdjsonWriter
from hg_common.progress import Progress
from hg_index.plan import MATCHERS, Policy
from hg_index.scan import Scanner, ScanOptions, SourceScan, Summary
from hg_index.sources import index_path, select_sources, source_excludes
from hg_index.stats import source_stats

log = logging.getLogger("hg-index")

EXIT_MORE = 3
"""The add limit was reached: more new files remain, run again (the import loop's signal)."""

DESCRIPTION = """\
Walk source folders, checksum every file (blake3) and print what changed since the last run
as NDJSON on stdout: add, change, remove, move (and error) records.

  hg-index [SOURCE_DIR…]     hg-index stats [--json]     hg-index commit

exit status: 0 ok; 1 some inputs failed (the run completed); 2 usage or config error, or
another run holds the lock; 3 the add limit was reached and more new files remain."""


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="hg-index", description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    _source_arguments(p)
    _run_arguments(p)
    _progress_arguments(p)
    add_common_arguments(p)
    return p


def _source_arguments(p: ArgumentParser) -> None:
    """Which folders, and what of them: names, excludes, size cap."""
    p.add_argument(
        "dirs",
        nargs="*",
        metavar="SOURCE_DIR",
        help="folders to index (default: the config's [[sources]])",
    )
    p.add_argument("--name", help="source name for a single SOURCE_DIR (default: folder name)")
    p.add_argument(
        "-e",
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="skip paths matching a gitignore pattern (repeatable)",
    )
    p.add_argument(
        "-E",
        "--exclude-from",
        action="append",
        default=[],
        metavar="FILE",
        help="read gitignore patterns from FILE (repeatable; must exist)",
    )
    p.add_argument(
        "--max-filesize",
        metavar="SIZE",
        help="skip files larger than SIZE (1024, 5m, 0.2GB; binary units)",
    )
    p.add_argument(
        "--no-keep-known",
        dest="keep_known",
        action="store_false",
        default=None,
        help="with --max-filesize, also drop known files above the size",
    )
    p.add_argument(
        "-X",
        "--exclude-if-present",
        action="append",
        metavar="NAME",
        help="skip folders that contain NAME (repeatable; default: .galleryignore and .nomedia)",
    )


def _run_arguments(p: ArgumentParser) -> None:
    """What this run does: how many new files, what is unchanged, what it prints and writes."""
    p.add_argument(
        "--add-limits",
        nargs="?",
        const=DEFAULT_ADD_LIMITS,
        metavar="LIMITS",
        help="add only a growing chunk of new files: initial,add,factor,max "
        f"(default when given without value: {DEFAULT_ADD_LIMITS})",
    )
    p.add_argument(
        "--matcher",
        choices=MATCHERS,
        default=None,
        help="what makes a file unchanged (default: size-mtime-inode)",
    )
    p.add_argument(
        "--all", action="store_true", help="also print every unchanged known file (type 'file')"
    )
    p.add_argument("-n", "--dry-run", action="store_true", help="print changes, write nothing")
    p.add_argument(
        "--count",
        action="store_true",
        help="only count what is new or changed (no hashing, no writing) and print "
        "one 'pending' record: files, bytes, removed",
    )
    p.add_argument(
        "--defer-commit",
        action="store_true",
        help="write the new index as <name>.ndjson.next; `hg-index commit` makes it the index "
        "(the import loop commits only after hg-extract and hg-build succeeded)",
    )
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="accept a source that is now empty (default: keep its index)",
    )
    p.add_argument("--wait", action="store_true", help="wait for another run instead of failing")
    p.add_argument("-j", "--jobs", type=int, default=None, help="hashing threads (default 4)")


def _progress_arguments(p: ArgumentParser) -> None:
    progress = p.add_mutually_exclusive_group()
    progress.add_argument(
        "--json-progress", action="store_true", help="progress as NDJSON records on stderr"
    )
    progress.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_stats_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="hg-index stats",
        description="Files and bytes per indexed source, from the index files.",
    )
    p.add_argument("--json", action="store_true", help="NDJSON records instead of text")
    add_common_arguments(p)
    return p


def _stats(argv: Sequence[str]) -> int:
    args = build_stats_parser().parse_args(argv)
    cfg = load_config(args.home, args.config, args.storage)
    out = NdjsonWriter(sys.stdout.buffer)
    paths = index_files(cfg.index_dir)
    for path in paths:
        stats = source_stats(path)
        if args.json:
            out.write(stats)
            continue
        exts = ", ".join(f"{k} {v}" for k, v in list(stats["extensions"].items())[:8])
        print(
            f"{stats['source']}: {stats['files']} files, {format_filesize(stats['bytes'])} "
            f"in {stats['root']} (indexed {stats['created']})\n  {exts}"
        )
    if not paths and not args.json:
        print(f"no index yet in {cfg.index_dir}")
    out.flush()
    return EXIT_OK


def _commit(argv: Sequence[str]) -> int:
    p = ArgumentParser(
        prog="hg-index commit",
        description="Make the indexes left by `hg-index --defer-commit` (<name>.ndjson.next) "
        "the committed indexes, atomically. Nothing pending: nothing to do.",
    )
    p.add_argument("--wait", action="store_true", help="wait for another run instead of failing")
    add_common_arguments(p)
    args = p.parse_args(argv)
    setup_logging("hg-index", args.verbose, args.quiet)
    cfg = load_config(args.home, args.config, args.storage)
    with RunLock(index_lock(cfg.index_dir), wait=args.wait):
        committed = commit_pending(cfg.index_dir)
    if args.verbose:
        for path in committed:
            print(f"hg-index: committed {path}", file=sys.stderr)
    return EXIT_OK


def _index(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("hg-index", args.verbose, args.quiet)
    cfg = load_config(args.home, args.config, args.storage)
    scans = _scans(args, cfg)
    opts = _options(args, cfg)
    mode = "json" if args.json_progress else "off" if args.no_progress or args.quiet else "auto"
    summary = _scan(args, cfg, scans, opts, Progress("index", mode))
    if not args.quiet and not args.count:
        print(_summary_line(summary, args.dry_run), file=sys.stderr)
    if summary.limit_hit and not args.count:
        return EXIT_MORE
    return EXIT_FAILED_INPUTS if summary.errors else EXIT_OK


def _scans(args, cfg: Config) -> list[SourceScan]:
    """The sources to walk (flags over the config's [[sources]]), each with its index file,
    excludes and policy."""
    section = cfg.section("index")
    configured_matcher = section.get("matcher") or cfg.section("build").get("matcher")
    sources = select_sources(
        cfg,
        args.dirs,
        name=args.name,
        excludes=args.exclude,
        exclude_from=args.exclude_from,
        max_filesize=parse_filesize(args.max_filesize) if args.max_filesize else None,
        keep_known=args.keep_known,
        exclude_if_present=args.exclude_if_present,
    )
    matcher = args.matcher or configured_matcher or "size-mtime-inode"
    return [
        SourceScan(
            s, index_path(cfg, s), source_excludes(s), Policy(s.max_filesize, s.keep_known, matcher)
        )
        for s in sources
    ]


def _options(args, cfg: Config) -> ScanOptions:
    limits_text = (
        args.add_limits if args.add_limits is not None else cfg.section("index").get("add_limits")
    )
    return ScanOptions(
        dry_run=args.dry_run,
        all=args.all,
        add_limits=(
            parse_add_limits(str(limits_text))
            if limits_text is not None and not args.count
            else None
        ),
        count_only=args.count,
        allow_empty=args.allow_empty,
        jobs=args.jobs or cfg.value("index", "jobs"),
        defer_commit=args.defer_commit,
        size_filter_for_run=args.max_filesize is not None,
    )


def _scan(
    args, cfg: Config, scans: list[SourceScan], opts: ScanOptions, progress: Progress
) -> Summary:
    """Walk every source under the index lock and print its records (with --count only the
    `pending` record); stale `.next` files of an uncommitted chunk go first."""
    out = NdjsonWriter(sys.stdout.buffer, line_buffered=sys.stdout.isatty())
    with RunLock(index_lock(cfg.index_dir), wait=args.wait):
        if not (args.dry_run or args.count):
            for stale in discard_pending(cfg.index_dir):  # its pipeline never committed it
                log.info("discarded %s: its files are offered again", stale.name)
        scanner = Scanner(opts, progress)
        try:
            scanner.set_sources(scans)
            for scan in scans:
                out.write_all(scanner.scan(scan))
                out.flush()
            if args.count:
                out.write(pending_record(scanner.summary))
            else:
                out.write_all(scanner.finish())
            out.flush()
        finally:
            scanner.close()
            progress.close()
    return scanner.summary


def _summary_line(s: Summary, dry_run: bool) -> str:
    return (
        f"hg-index: {s.added} added, {s.changed} changed, {s.moved} moved, "
        f"{s.removed} removed, {s.unchanged} unchanged, {s.errors} failed"
        + (
            f"; limit reached, {s.over_limit} new files left for the next run"
            if s.limit_hit
            else ""
        )
        + (" (dry run)" if dry_run else "")
    )


def pending_record(summary: Summary) -> dict:
    return {
        "type": "pending",
        "v": 1,
        "files": summary.pending_files,
        "bytes": summary.pending_bytes,
        "removed": summary.removed,
        "unchanged": summary.unchanged,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["commit"]:
        return run_main("hg-index", _commit, args[1:])
    if args[:1] == ["stats"]:
        return run_main("hg-index", _stats, args[1:])
    return run_main("hg-index", _index, args)
