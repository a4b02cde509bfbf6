"""The one exception-to-exit-code funnel every hg tool's `main()` goes through.

Exit codes: 0 ok, 1 some inputs failed (the run completed), 2 usage/config error or an
internal error (the run did not complete), 130 interrupted. A closed stdout
(`hg-index | head`) ends quietly.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from hg_index import __version__
from hg_index.config import ConfigError

EXIT_OK = 0
EXIT_FAILED_INPUTS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(ConfigError):
    """Wrong flags or arguments (exit 2)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the funnel decides the exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see --help)")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every tool takes: home, config, storage, verbosity, version."""
    parser.add_argument("--home", help="gallery home (default: $HG_HOME or ~/.local/share/hg)")
    parser.add_argument("--config", help="config file (default: <home>/config.toml if present)")
    parser.add_argument("--storage", help="storage directory (default: <home>/storage)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def run_main(tool: str, body: Callable[[Sequence[str]], int], argv: Sequence[str] | None) -> int:
    """Run a tool's body and map what escapes it to an exit code and one stderr line."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    try:
        return body(args)
    except ConfigError as exc:
        print(f"{tool}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{tool}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); silence the flush at interpreter exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # the last resort: one line, traceback only with --debug
        if debug:
            raise
        logging.getLogger(tool).debug("unexpected error", exc_info=True)
        print(f"{tool}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        # not 1: the run did not complete, and the import loop must not commit its chunk
        return EXIT_USAGE
