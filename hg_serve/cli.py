"""hg-serve command line: serve the gallery, or hash a password for `[[server.users]]`."""

from __future__ import annotations

import getpass
import sys
from argparse import RawDescriptionHelpFormatter
from collections.abc import Sequence

from hg_common.cli_support import (
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
  hg-serve hash-password      # reads a password from stdin or the terminal, prints its hash"""

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


def _body(argv: Sequence[str]) -> int:
    if argv and argv[0] == "hash-password":
        return hash_password_command(argv[1:])
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
