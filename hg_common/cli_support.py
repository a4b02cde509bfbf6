"""The one exception-to-exit-code funnel every hg tool's `main()` goes through.

Exit codes: 0 ok, 1 some inputs failed (the run completed), 2 usage/config error, a full
disk or an internal error (the run did not complete), 130 interrupted, 141 stdout closed
by its reader.

A closed stdout (`hg-index | head`) ends quietly but is not success: the run did not
complete (its output was not all read), and in a pipeline that a stage died of (hg-import's
stages) a 0 would let the chunk be committed. 141 is 128 + SIGPIPE, what a shell reports
for `yes | head`, so `set -o pipefail` scripts see the same as with any Unix tool.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hg_common import __version__
from hg_common.diskfull import disk_full_message, is_disk_full
from hg_common.errors import ConfigError

EXIT_OK = 0
EXIT_FAILED_INPUTS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

PARENT_ENV = "HG_DIE_WITH_PARENT"
"""Set by hg-import for its stages to its pid: a stage then ends when hg-import ends, even
by `kill -9`, instead of working on (and writing) for a chunk nobody will commit."""


def tool(name: str) -> str:
    """An hg console script to run as a program: the one beside this Python (its venv),
    else the one on PATH. hg-import runs its stages so, hg-serve's watcher runs hg-import."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    return shutil.which(name) or name


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
    die_with_parent()
    try:
        return body(args)
    except ConfigError as exc:
        print(f"{tool}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{tool}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): quiet, silence the flush at interpreter exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # the last resort: one line, traceback only with --debug
        if is_disk_full(exc) and not debug:
            print(f"{tool}: error: {disk_full_message(exc)}", file=sys.stderr)
            return EXIT_USAGE
        if debug:
            raise
        logging.getLogger(tool).debug("unexpected error", exc_info=True)
        print(f"{tool}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        # not 1: the run did not complete, and the import loop must not commit its chunk
        return EXIT_USAGE


def child_env() -> dict[str, str]:
    """The environment of a stage this process starts and waits for: its own, with
    PARENT_ENV set to this process, so the stage ends when this process does."""
    return {**os.environ, PARENT_ENV: str(os.getpid())}


def die_with_parent() -> None:
    """With PARENT_ENV set (by hg-import), end this process when that parent ends: Linux's
    PR_SET_PDEATHSIG, as hg-build's workers. The variable is removed, so the tools and
    helpers this process starts do not check against a parent that is not theirs."""
    parent = os.environ.pop(PARENT_ENV, "")
    if not parent.isdigit():
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: hg-import's own cleanup remains
        return
    if os.getppid() != int(parent):  # the parent ended before prctl took effect
        os._exit(EXIT_INTERRUPTED)


_PR_SET_PDEATHSIG = 1
