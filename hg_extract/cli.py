"""hg-extract command line: argv, stdin/stdout and exit codes only; the work is in `workers`."""

from __future__ import annotations

import logging
import os
import signal
import sys
from argparse import RawDescriptionHelpFormatter
from collections.abc import Sequence
from typing import Any

from hg_common.cli_support import (
    EXIT_FAILED_INPUTS,
    EXIT_OK,
    ArgumentParser,
    UsageError,
    add_common_arguments,
    run_main,
)
from hg_common.config import Config, load_config
from hg_common.groups import index_records
from hg_common.home import cache_dir
from hg_common.log import setup_logging
from hg_common.ndjson import NdjsonWriter
from hg_common.progress import Progress
from hg_extract.cluster import ClusterError, ClusterLost
from hg_extract.extractor import CPU_LIMIT, Options
from hg_extract.geo import NominatimGeocoder, OfflineGeocoder
from hg_extract.heap import one_arena
from hg_extract.ml import step as ml
from hg_extract.ml.api import ApiClient
from hg_extract.previews import DEFAULT_MAX_PIXELS
from hg_extract.sources import stdin_records
from hg_extract.storage import Storage
from hg_extract.workers import Runner

log = logging.getLogger("hg-extract")

DESCRIPTION = """\
Read hg-index records on stdin (or every indexed file with --all), extract metadata
(exiftool), previews, video posters and web videos into the storage, and print one NDJSON
`entry` record per sidecar group; remove/move/error records pass through. Every file that
cannot be imported gets an `error` record; a file that failed before is not tried again
(`known: true`) until the extractor changes or --retry-failed.

exit status: 0 ok; 1 some inputs failed (the run completed); 2 usage or config error, or an
internal error (the run did not complete)."""


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="hg-extract", description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    p.add_argument("--all", action="store_true", help="every file of the index, not stdin")
    p.add_argument("--force", action="store_true", help="redo outputs that exist in storage")
    p.add_argument("--retry-failed", action="store_true", help="try files again that failed before")
    p.add_argument("--no-video", action="store_true", help="no video transcoding this run")
    p.add_argument("-j", "--jobs", type=int, help="worker processes (default: CPU count)")
    p.add_argument(
        "--cluster",
        metavar="tcp://HOST:8786",
        help="extract on a Dask cluster's workers (default: [extract] cluster; '' = local)",
    )
    p.add_argument(
        "--cluster-transfer",
        choices=("shared", "send"),
        help="workers reach the originals and storage on a shared mount, or get the files "
        "sent with each task and send the artefacts back (default: [extract] "
        "cluster_transfer, shared)",
    )
    p.add_argument(
        "--cluster-fallback",
        choices=("error", "local"),
        help="when the cluster cannot be reached: exit 2, or extract locally with a "
        "warning (default: [extract] cluster_fallback, error)",
    )
    p.add_argument("--geo-server", metavar="URL", help="Nominatim server for addresses")
    p.add_argument("--geo-language", metavar="LANG", help="Accept-Language for --geo-server")
    p.add_argument("--no-geo", action="store_true", help="no address lookup")
    p.add_argument("--max-pixels", type=int, help=f"refuse larger images ({DEFAULT_MAX_PIXELS})")
    p.add_argument("--video-timeout", type=float, help="seconds per transcode (default 300+4/s)")
    p.add_argument(
        "--cpu-limit",
        type=float,
        metavar="S",
        help=f"CPU seconds one file's previews may take, 0 = none (default {CPU_LIMIT:g})",
    )
    p.add_argument(
        "--ml",
        nargs="+",
        metavar=("local|off|api", "URL"),
        help="similar images and objects: the shipped model (local, the default), "
        "a HomeGallery api-server (api URL), or none (off)",
    )
    p.add_argument(
        "--no-faces", action="store_true", help="no face detection this run (local backend)"
    )
    p.add_argument("--api-timeout", type=float, help="seconds per api request (default 30)")
    p.add_argument("--api-concurrency", type=int, help="api requests at once (default 5, 1..20)")
    progress = p.add_mutually_exclusive_group()
    progress.add_argument("--json-progress", action="store_true", help="progress as NDJSON")
    progress.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common_arguments(p)
    return p


def _ml_backend(args: Any, cfg: Config) -> tuple[str, ApiClient | None]:
    """The ML step's backend of this run (`--ml`, else `[extract] ml`) and the api client."""
    words = args.ml or [cfg.value("extract", "ml")]
    backend = words[0]
    if backend not in ml.BACKENDS:
        raise UsageError(f"--ml must be local, api URL or off, not {backend!r}")
    if backend != "api":
        if len(words) > 1:
            raise UsageError(f"--ml {backend} takes no URL")
        return backend, None
    if len(words) > 2:
        raise UsageError("--ml api takes one URL")
    url = words[1] if len(words) > 1 else cfg.value("extract", "api_server")
    if not url:
        raise UsageError("--ml api needs the server's URL (--ml api URL, or [extract] api_server)")
    timeout = args.api_timeout or cfg.value("extract", "api_timeout")
    concurrency = args.api_concurrency or cfg.value("extract", "api_concurrency")
    if timeout <= 0 or not 1 <= concurrency <= 20:
        raise UsageError("--api-timeout must be > 0 and --api-concurrency 1..20")
    try:
        return backend, ApiClient(url, timeout, concurrency)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _cluster(args: Any, cfg: Config, opts: Options) -> Any:
    """The Dask cluster of `--cluster`, else `[extract] cluster`; None: local workers."""
    address = args.cluster if args.cluster is not None else cfg.value("extract", "cluster")
    if not address:
        return None
    if "://" not in address:
        raise UsageError(
            f"--cluster must be a Dask scheduler address (tcp://HOST:8786), not {address!r}"
        )
    from hg_extract.cluster import ClusterWorkers  # imports distributed: ~0.5 s

    transfer = args.cluster_transfer or cfg.value("extract", "cluster_transfer")
    fallback = args.cluster_fallback or cfg.value("extract", "cluster_fallback")
    try:
        return ClusterWorkers(opts, address, transfer=transfer)
    except ClusterError as exc:
        if fallback != "local":
            raise UsageError(str(exc)) from None
        log.warning("%s; extracting on this machine instead (cluster_fallback = local)", exc)
        return None


def _cpu_limit(args: Any, cfg: Config) -> float | None:
    seconds = args.cpu_limit if args.cpu_limit is not None else cfg.value("extract", "cpu_limit")
    if seconds is None:
        return CPU_LIMIT
    if seconds < 0:
        raise UsageError("--cpu-limit must be >= 0 (0: no limit)")
    return seconds or None


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM ends the run as Ctrl-C does: workers stopped, the storage's run mark removed
    (else the next run sweeps the whole storage for temp files)."""
    raise KeyboardInterrupt


def _extract(argv: Sequence[str]) -> int:
    one_arena()  # before any thread: the workers' freed buffers are reused (`heap`)
    signal.signal(signal.SIGTERM, _terminated)
    args = build_parser().parse_args(argv)
    setup_logging("hg-extract", args.verbose, args.quiet)
    cfg = load_config(args.home, args.config, args.storage)
    if not args.all and sys.stdin.isatty():
        raise UsageError("pipe hg-index records into hg-extract, or use --all")
    jobs = args.jobs or cfg.value("extract", "jobs") or os.cpu_count() or 1
    backend, api = _ml_backend(args, cfg)
    opts = Options(
        storage=cfg.storage,
        force=args.force,
        video=not args.no_video and cfg.value("extract", "video"),
        max_pixels=args.max_pixels or cfg.value("extract", "max_pixels") or DEFAULT_MAX_PIXELS,
        video_timeout=args.video_timeout or cfg.value("extract", "video_timeout"),
        cpu_limit=_cpu_limit(args, cfg),
        ml=backend,
        ml_threads=ml.worker_threads(jobs),
        faces=not args.no_faces and cfg.value("extract", "faces"),
    )
    geo_server = args.geo_server or cfg.value("extract", "geo_server")
    geocoder = (
        None
        if args.no_geo
        else NominatimGeocoder(geo_server, Storage(cfg.storage), args.geo_language)
        if geo_server
        else OfflineGeocoder(cache_dir(cfg.home))
    )
    mode = "json" if args.json_progress else "off" if args.no_progress or args.quiet else "auto"
    progress = Progress("extract", mode)
    records = index_records(cfg.index_dir) if args.all else stdin_records(sys.stdin.fileno())
    out = NdjsonWriter(sys.stdout.buffer, line_buffered=True)
    cluster = _cluster(args, cfg, opts)
    if cluster is not None:
        jobs = cluster.jobs
    runner = Runner(
        opts, jobs, geocoder, progress, retry_failed=args.retry_failed, api=api, cluster=cluster
    )
    storage = Storage(cfg.storage)
    storage.begin_run()  # sweeps the temp files a killed run left
    try:
        for record in runner.run(records):
            out.write(record)
    except ClusterLost as exc:  # the records printed stand; the rest is the next run's
        raise UsageError(str(exc)) from None
    finally:
        progress.close()
        storage.end_run()
    out.flush()
    s = runner.summary
    if not (s.entries or s.skipped or s.passed or s.failed):
        log.debug("no input records")  # quiet: hg-import keeps one started ahead, unused at the end
    elif not args.quiet:
        print(
            f"hg-extract: {s.entries} entries ({s.videos} with video), "
            f"{s.skipped} skipped (not media), {s.passed} passed through, {s.failed} failed"
            + (f", {s.ml} analysed (similar images, objects, faces)" if s.ml else "")
            + (f" ({s.known} known from an earlier run)" if s.known else ""),
            file=sys.stderr,
        )
    return EXIT_FAILED_INPUTS if s.failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run_main("hg-extract", _extract, argv)
