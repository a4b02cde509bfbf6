"""hg-serve command line: serve the gallery, or hash a password for `[[server.users]]`."""

from __future__ import annotations

import getpass
import sys
from argparse import RawDescriptionHelpFormatter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from hg_common.cli_support import (
    EXIT_FAILED_INPUTS,
    EXIT_OK,
    EXIT_USAGE,
    ArgumentParser,
    add_common_arguments,
    run_main,
)
from hg_common.config import load_config
from hg_common.errors import ConfigError
from hg_common.log import setup_logging
from hg_serve.passwords import hash_password
from hg_serve.settings import is_loopback, server_settings
from hg_serve.watch import add_watch_arguments, start_watching

DESCRIPTION = """\
Serve the gallery (web app, JSON API, previews) from the database hg-build writes.
Read-only on sources and storage; writes only the event log (tag edits).

  hg-serve [--host H] [--port P] [--base-path /gallery] [--watch] [--ml-api]
  hg-serve hash-password      # reads a password from stdin or the terminal, prints its hash
  hg-serve export static --query Q --dir D [--base-path P] [--archive] [--originals]
                         [--force] [--user NAME]"""

WARNING = """\
################################################################################
hg-serve: WARNING: listening on {host} WITHOUT USERS - anybody who can reach this
machine sees and edits your whole gallery. Add [[server.users]] to the config
(hash passwords with `hg-serve hash-password`) or bind to 127.0.0.1.
################################################################################"""


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="hg-serve", description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; [server] host)")
    p.add_argument("--port", type=int, help="port (default 3000; 0 = any free port)")
    p.add_argument("--base-path", help="serve under this path prefix, e.g. /gallery")
    p.add_argument(
        "--ml-api",
        action="store_true",
        default=None,
        help="also answer HomeGallery's api-server endpoints (POST /embeddings, /objects) "
        "with the local model, for another machine's `hg-extract --ml api URL` "
        "([server] ml_api)",
    )
    add_watch_arguments(p)
    add_common_arguments(p)
    return p


def hash_password_command(args: Sequence[str]) -> int:
    if args and args[0] in ("-h", "--help"):
        print("usage: hg-serve hash-password  (password on stdin or asked on the terminal)")
        return EXIT_OK
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("hg-serve: passwords differ", file=sys.stderr)
            return EXIT_USAGE
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("hg-serve: empty password", file=sys.stderr)
        return EXIT_USAGE
    print(hash_password(password))
    return EXIT_OK


def export_static_command(argv: Sequence[str]) -> int:
    """A query's entries as a static gallery (hg_serve.export_static); a summary record on
    stdout, exit 1 when some preview or original could not be copied."""
    p = ArgumentParser(
        prog="hg-serve export static",
        description="Write a self-contained gallery of the entries a query selects (the web "
        "app, their data, previews and web videos; originals only with --originals) that "
        "any static file host or a local folder serves.",
    )
    p.add_argument("--query", default="", help="the entries to export (hg's query language; "
                   "default: all)")  # fmt: skip
    p.add_argument("--dir", required=True, help="the folder to write (or DIR.zip)")
    p.add_argument("--base-path", default="", help="put the app in DIR/<base path>/")
    p.add_argument("--archive", action="store_true", help="write DIR.zip instead of DIR")
    p.add_argument("--originals", action="store_true", help="also copy the original files")
    p.add_argument("--force", action="store_true", help="replace an existing export")
    p.add_argument("--user", help="only what this [[server.users]] user may see (their filter)")
    add_common_arguments(p)
    args = p.parse_args(argv)
    setup_logging("hg-serve", args.verbose, args.quiet)
    cfg = load_config(args.home, args.config, args.storage)

    from hg_common.ndjson import dumps
    from hg_serve.export_static import export_static
    from hg_serve.gallery import Gallery, QueryError

    filters: tuple[str, ...] = ()
    if args.user is not None:
        user = server_settings(cfg).user(args.user)
        if user is None:
            raise ConfigError(f"--user: no user {args.user!r} in [[server.users]]")
        filters = (user.filter,) if user.filter else ()
    if not cfg.database.exists():
        raise ConfigError(f"no gallery database at {cfg.database}: import something first")
    gallery = Gallery(cfg.database, cfg.events, readers=1)
    try:
        stats = export_static(
            gallery, cfg.storage, args.query, Path(args.dir), args.base_path,
            args.archive, args.originals, args.force, filters,
        )  # fmt: skip
    except QueryError as exc:
        raise ConfigError(f"--query: {exc}") from None
    finally:
        gallery.close()
    record = {"type": "export-static", "v": 1, **asdict(stats)}
    sys.stdout.buffer.write(dumps(record))
    sys.stdout.flush()
    if not args.quiet:
        print(
            f"hg-serve export static: {stats.entries} entries, {stats.files} files, "
            f"{stats.originals} originals, {stats.bytes / 1e6:.1f} MB in {stats.seconds:.1f} s "
            f"-> {stats.target}",
            file=sys.stderr,
        )
    return EXIT_FAILED_INPUTS if stats.missing else EXIT_OK


def _body(argv: Sequence[str]) -> int:
    if argv and argv[0] == "hash-password":
        return hash_password_command(argv[1:])
    if argv[:2] == ["export", "static"]:
        return export_static_command(argv[2:])
    args = build_parser().parse_args(argv)
    setup_logging("hg-serve", args.verbose, args.quiet)
    cfg = load_config(args.home, args.config, args.storage)
    settings = server_settings(cfg, args.host, args.port, args.base_path, args.ml_api)
    if not settings.auth_required and not is_loopback(settings.host):
        print(WARNING.format(host=settings.host), file=sys.stderr)

    import uvicorn

    from hg_serve.app import create_app

    if args.watch and not cfg.sources:
        raise ConfigError("--watch needs [[sources]] in the config file")
    app = create_app(cfg, settings)
    watcher = start_watching(cfg, args)  # imports source changes in the background
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,  # uvicorn logs through our stderr handler; stdout stays data-only
            access_log=args.verbose > 0,
            timeout_graceful_shutdown=2,
            proxy_headers=False,
        )
    finally:
        if watcher is not None:
            watcher.stop(5)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run_main("hg-serve", _body, argv)
