"""hg-import command line: flags, the import lock and exit codes; the loop is in `loop`."""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import sys
from argparse import RawDescriptionHelpFormatter
from collections.abc import Sequence
from pathlib import Path

from hg_common import home, ndjson
from hg_common.cli_support import EXIT_USAGE, ArgumentParser, UsageError, run_main
from hg_common.config import Config, load_config
from hg_common.diskfull import LOW_SPACE, describe_disks, is_disk_full
from hg_common.errors import ConfigError
from hg_common.lock import LockedError, RunLock
from hg_common.log import setup_logging
from hg_import.batches import Plan
from hg_import.fetch import run_fetch
from hg_import.loop import DiskFull, StageFailed, run_import
from hg_import.progress import ImportProgress

DESCRIPTION = """\
Import SOURCE_DIRs (default: the config's [[sources]]) into the gallery home in growing
chunks: hg-index | hg-extract | hg-build, in HomeGallery's three batches (files <= 20 MB,
<= 200 MB, the rest), repeated while hg-index reports more files. Each chunk's index is
committed only when every stage finished, so an interrupted import loses nothing.

Logs "hg-import: batch N chunk M: K added" and progress lines on stderr, and keeps
<home>/import-status.json up to date. At the end, files whose extraction failed before are
offered again: hg-extract redoes them when it changed since (or with --retry-failed).

With --fetch URL, copy another hg-serve's gallery instead (what its login may see): the
entries, their previews and videos, and its event log, merged with this gallery's own
edits; a second run fetches only what changed. The login is --user (password from
$HG_FETCH_PASSWORD, else asked) or in the URL (http://user:password@nas:3000).

exit status: 0 ok; 1 some inputs failed (the import completed); 2 usage error, another import
is running, a stage failed or the disk is full (the message names it); 130 interrupted."""


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="hg-import", description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE_DIR")
    p.add_argument("--home", help="gallery home (default: $HG_HOME or ~/.local/share/hg)")
    p.add_argument("--config", help="config file (default: <home>/config.toml)")
    p.add_argument("-q", "--quiet", action="store_true", help="quieter stages, no progress")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more verbose stages")
    p.add_argument("--index-only", action="store_true", help="run only the hg-index loop")
    p.add_argument(
        "--index-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="pass ARG to every hg-index run (repeatable), e.g. --index-arg=--matcher=size-mtime",
    )
    p.add_argument(
        "--wait", action="store_true", help="wait for a running import instead of exiting"
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="extract files that failed before again, even if hg-extract has not changed",
    )
    p.add_argument(
        "--json-progress", action="store_true", help="progress as NDJSON records on stderr"
    )
    p.add_argument("--fetch", metavar="URL", help="copy the gallery an hg-serve at URL serves")
    p.add_argument("--user", help="--fetch: the login ([[server.users]] name) at URL")
    p.add_argument(
        "--full", action="store_true", help="--fetch: compare everything, not only what changed"
    )
    # passed to every hg-extract run (see `hg-extract --help`); the config's [extract]
    # cluster keys are read by hg-extract itself
    p.add_argument(
        "--cluster", metavar="tcp://HOST:8786", help="hg-extract on a Dask cluster's workers"
    )
    p.add_argument(
        "--cluster-transfer",
        choices=("shared", "send"),
        help="the cluster's workers use a shared mount, or get the files sent",
    )
    p.add_argument(
        "--cluster-fallback",
        choices=("error", "local"),
        help="an unreachable cluster: stop (error), or extract on this machine",
    )
    return p


def _extract_args(args) -> tuple[str, ...]:
    out: list[str] = []
    for flag, value in (
        ("--cluster", args.cluster),
        ("--cluster-transfer", args.cluster_transfer),
        ("--cluster-fallback", args.cluster_fallback),
    ):
        if value is not None:
            out += [flag, value]
    return tuple(out)


def _plan(args, cfg: Config) -> Plan:
    common: list[str] = []
    if args.home:
        common += ["--home", args.home]
    if args.config:
        common += ["--config", args.config]
    if args.quiet:
        common.append("-q")
    common += ["-v"] * args.verbose
    return Plan(
        tuple(common),
        tuple(args.index_arg),
        tuple(args.sources),
        args.index_only,
        retry_failed=args.retry_failed,
        index_dir=str(cfg.index_dir),
        extract_args=_extract_args(args),
        # hg-build's worker processes (one per core) pay off on a first build of a large
        # index; in an import it writes what hg-extract gives, tens of entries a second,
        # and a worker per core was ~17 MiB of the import's peak for nothing (issue 15)
        build_args=() if cfg.value("build", "workers") else ("--workers", "1"),
    )


def _terminate(signum, frame):  # SIGTERM (systemd, kill): stop like Ctrl-C
    raise KeyboardInterrupt


def _import(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("hg-import", args.verbose, args.quiet)
    cfg = load_config(args.home, args.config)
    if args.fetch:
        return _fetch(args, cfg)
    if args.user or args.full:
        raise UsageError("--user and --full go with --fetch URL")
    mode = "json" if args.json_progress else "off" if args.quiet else "text"
    progress = ImportProgress(home.import_status(cfg.home), mode)
    signal.signal(signal.SIGTERM, _terminate)
    lock = home.import_lock(cfg.home)
    try:
        with RunLock(lock, wait=False):
            return _run(args, cfg, progress)
    except LockedError:
        if not args.wait:
            raise ConfigError(
                f"another import is running in {cfg.home} (lock {lock}); it imports the same "
                "sources, so there is nothing to do. Pass --wait to run after it"
            ) from None
    print(f"hg-import: waiting for the import running in {cfg.home}", file=sys.stderr)
    with RunLock(lock, wait=True):
        return _run(args, cfg, progress)


def _fetch(args, cfg: Config) -> int:
    """`--fetch URL`: the fetch holds the import lock while it writes (after the remote
    took the login: a wrong password writes nothing)."""
    if args.sources or args.index_only or args.retry_failed:
        raise UsageError("--fetch URL takes no SOURCE_DIRs, --index-only or --retry-failed")
    password = os.environ.get("HG_FETCH_PASSWORD")
    if args.user and password is None and "@" not in args.fetch and sys.stdin.isatty():
        password = getpass.getpass(f"password of {args.user} at {args.fetch}: ")
    lock_path = home.import_lock(cfg.home)

    @contextlib.contextmanager
    def lock():
        try:
            with RunLock(lock_path, wait=args.wait):
                yield
        except LockedError:
            raise ConfigError(
                f"an import is running in {cfg.home} (lock {lock_path}); fetch when it has "
                "finished, or pass --wait"
            ) from None

    common = _plan(args, cfg).common
    record, status = run_fetch(args.fetch, args.user, password, cfg.home, cfg.storage,
                               list(common), full=args.full, lock=lock)  # fmt: skip
    sys.stdout.buffer.write(ndjson.dumps(record))
    sys.stdout.flush()
    if not args.quiet:
        print(
            f"hg-import: fetched {record['built']} of {record['changed']} new or changed "
            f"entries ({record['files']} files, {record['file_bytes'] / 1e6:.1f} MB), "
            f"{record['removed']} removed, {record['events']} new events, "
            f"{record['failed']} failed; {record['entries']} entries from {record['url']}",
            file=sys.stderr,
        )
    return status


def _run(args, cfg: Config, progress: ImportProgress) -> int:
    status = EXIT_USAGE
    try:
        status = run_import(_plan(args, cfg), progress)
        return status
    except DiskFull as exc:
        print(disk_full_message(exc.problem, exc.where, cfg), file=sys.stderr)
        return EXIT_USAGE
    except StageFailed as exc:
        full = describe_disks(_gallery_paths(cfg), below=LOW_SPACE)
        if full:  # a stage that failed on a full disk without saying so (SQLite's I/O error)
            print(disk_full_message(str(exc), "", cfg), file=sys.stderr)
        else:
            print(f"hg-import: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # this process's own writes (the status file) on a full disk
        if not is_disk_full(exc):
            raise
        said = f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc.strerror)
        message = disk_full_message(f"hg-import: {said}", "hg-import's own bookkeeping", cfg)
        print(message, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        status = 130
        raise
    finally:
        progress.finish(status)


def _gallery_paths(cfg: Config) -> list[Path]:
    return [cfg.home, cfg.storage, cfg.database.parent, cfg.index_dir]


def disk_full_message(problem: str, where: str, cfg: Config) -> str:
    """What stopped the import, the space left on each disk hg writes to, what to do."""
    disks = describe_disks(_gallery_paths(cfg))
    return (
        f"hg-import: stopped, the disk is full: {problem}"
        + (f" (in {where}). " if where else ". ")
        + "".join(f"{d}. " for d in disks)
        + "Nothing of this chunk is committed: free some space and import again, "
        "it carries on where it stopped."
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_main("hg-import", _import, argv)
