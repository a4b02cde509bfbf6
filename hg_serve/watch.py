"""`hg-serve --watch`: watch the source folders and run the import loop in the background
after a quiet period, like HomeGallery v1.10+.

watchfiles (inotify on Linux, a Rust core) reports changes; its `step` is our quiet period
(debounce: run when nothing changed for that long) and its `debounce` our maximum delay (run
at the latest this long after the first change, even while files keep coming). NFS/SMB mounts
do not deliver inotify events for changes made by other machines, so `poll` switches
watchfiles to polling (a stat walk every `poll` seconds).

The import runs in a worker thread, one at a time; changes during an import schedule one more
run after it. The first run happens at start, for changes made while nothing was watching.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import watchfiles

from hg_common.cli_support import tool

log = logging.getLogger("hg-serve")

DEBOUNCE = 10.0
MAX_DELAY = 600.0


class SourceWatcher:
    """Calls `callback()` (in a worker thread, never twice at once) after source changes."""

    def __init__(
        self,
        dirs: Sequence[Path],
        callback: Callable[[], object],
        debounce: float = DEBOUNCE,
        max_delay: float = MAX_DELAY,
        poll: float | None = None,
        run_at_start: bool = True,
    ) -> None:
        if not dirs:
            raise ValueError("no source folders to watch")
        self.dirs = [Path(d) for d in dirs]
        self.callback = callback
        self.debounce = debounce
        self.max_delay = max(max_delay, debounce)
        self.poll = poll
        self.runs = 0
        self._stop = threading.Event()
        self._due = threading.Event()
        self._threads: list[threading.Thread] = []
        if run_at_start:
            self._due.set()

    def start(self) -> SourceWatcher:
        for target, name in ((self._watch, "hg-watch"), (self._work, "hg-watch-import")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._due.set()  # wake the worker
        for t in self._threads:
            t.join(timeout)

    def _watch(self) -> None:
        for changes in watchfiles.watch(
            *self.dirs,
            watch_filter=None,
            step=int(self.debounce * 1000),
            debounce=int(self.max_delay * 1000),
            stop_event=self._stop,
            rust_timeout=1000,
            raise_interrupt=False,
            force_polling=self.poll is not None,
            poll_delay_ms=int((self.poll or 0.3) * 1000),
            ignore_permission_denied=True,
        ):
            log.info("%d changes in the sources: importing", len(changes))
            self._due.set()

    def _work(self) -> None:
        while not self._stop.is_set():
            self._due.wait()
            if self._stop.is_set():
                return
            self._due.clear()
            try:
                self.callback()
            except Exception:  # a failed import must not end the watching
                log.exception("the import after a source change failed")
            self.runs += 1


def import_command(home: Path, config: Path | None, sources: Sequence[Path] = ()) -> list[str]:
    """`hg-import --wait` for the gallery home (waits for a cron import instead of failing)."""
    cmd = [tool("hg-import"), "-q", "--wait", "--home", str(home)]
    if config:
        cmd += ["--config", str(config)]
    return cmd + [str(s) for s in sources]


def run_import(cmd: list[str]) -> int:
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL)
    if proc.returncode not in (0, 1):
        log.warning("hg-import exited %s", proc.returncode)
    return proc.returncode


def add_watch_arguments(parser) -> None:
    """`--watch`, `--watch-poll`, `--watch-debounce`, `--watch-max-delay` for hg-serve."""
    parser.add_argument(
        "--watch", action="store_true", help="import source changes in the background"
    )
    parser.add_argument(
        "--watch-poll",
        type=float,
        metavar="SECONDS",
        help="poll the sources every SECONDS instead of inotify (NFS/SMB mounts)",
    )
    parser.add_argument(
        "--watch-debounce",
        type=float,
        metavar="SECONDS",
        help=f"quiet period before an import (default {DEBOUNCE:g})",
    )
    parser.add_argument(
        "--watch-max-delay",
        type=float,
        metavar="SECONDS",
        help=f"import at the latest this long after the first change (default {MAX_DELAY:g})",
    )


def start_watching(cfg, args) -> SourceWatcher | None:
    """The watcher for a loaded Config and parsed args (None without --watch). Config keys in
    `[server]`: watch_debounce, watch_max_delay, watch_poll (flags win)."""
    if not args.watch:
        return None
    server = cfg.section("server")
    poll = args.watch_poll if args.watch_poll is not None else server.get("watch_poll")
    cmd = import_command(cfg.home, cfg.config_file)
    return SourceWatcher(
        [s.dir for s in cfg.sources],
        lambda: run_import(cmd),
        debounce=_pick(args.watch_debounce, server.get("watch_debounce"), DEBOUNCE),
        max_delay=_pick(args.watch_max_delay, server.get("watch_max_delay"), MAX_DELAY),
        poll=float(poll) if poll is not None else None,
    ).start()


def _pick(flag: float | None, configured: object, default: float) -> float:
    return float(flag if flag is not None else configured if configured is not None else default)
