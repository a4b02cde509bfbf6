"""One long-lived exiftool per worker process (pyexiftool, `-stay_open`), many files per call.

A batch that hangs or crashes exiftool is killed by a SIGALRM timer (pyexiftool's read loop
has no timeout of its own), exiftool is restarted and the batch's files are read again one
by one, so a bad file costs only itself. Must run in the process's main thread (SIGALRM).
pyexiftool starts exiftool with PR_SET_PDEATHSIG (SIGTERM), so it ends with its worker.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

import exiftool
import orjson

from hg_extract.procs import dies_with_me

log = logging.getLogger("hg-extract")

COMMON_ARGS = ["-j", "-n", "-api", "largefilesupport=1", "-charset", "filename=utf8"]
BATCH_TIMEOUT = 30.0
FILE_TIMEOUT = 20.0
BINARY_TAGS = ("PreviewImage", "JpgFromRaw", "OtherImage")


class ExifTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise ExifTimeout()


class ExifReader:
    """Reads raw exiftool JSON for many files; restarts exiftool when it hangs or dies."""

    def __init__(self, file_timeout: float = FILE_TIMEOUT, batch_timeout: float = BATCH_TIMEOUT):
        self.file_timeout = file_timeout
        self.batch_timeout = batch_timeout
        self._et: exiftool.ExifTool | None = None

    def _start(self) -> exiftool.ExifTool:
        if self._et is None or not self._et.running:
            self._et = exiftool.ExifTool(common_args=COMMON_ARGS)
            self._et.run()
        return self._et

    def close(self) -> None:
        if self._et is not None and self._et.running:
            try:
                self._et.terminate(timeout=5)
            except Exception:  # already dead: nothing to stop
                self._kill()
        self._et = None

    def _kill(self) -> None:
        proc = getattr(self._et, "_process", None)
        if proc is not None:
            proc.kill()
            proc.wait()
            self._et._running = False  # type: ignore[union-attr]  # we killed it on purpose
        self._et = None

    def _execute(self, paths: Sequence[str], timeout: float) -> list[dict[str, Any]]:
        et = self._start()
        old = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            out = et.execute(*paths)
        except BaseException:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._kill()
            raise
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        return orjson.loads(out) if out.strip() else []

    def read(self, paths: Sequence[str]) -> dict[str, dict[str, Any] | str]:
        """Path -> raw tag dict, or -> an error sentence for a file exiftool could not read."""
        results: dict[str, dict[str, Any] | str] = {}
        if not paths:
            return results
        try:
            batch = self._execute(paths, self.batch_timeout + self.file_timeout * len(paths) / 4)
            for item in batch:
                results[item.get("SourceFile", "")] = item
        except (ExifTimeout, Exception) as exc:  # noqa: B014 - a hang and a crash alike
            log.debug("exiftool batch of %d failed (%s); reading one by one", len(paths), exc)
            for path in paths:
                try:
                    for item in self._execute([path], self.file_timeout):
                        results[item.get("SourceFile", path)] = item
                except ExifTimeout:
                    results[path] = f"exiftool timed out after {self.file_timeout:.0f} s"
                except Exception as exc2:
                    results[path] = f"exiftool failed: {exc2}"
        for path in paths:
            if path not in results:
                results[path] = (
                    "vanished or unreadable" if not os.access(path, os.R_OK) else "exiftool failed"
                )
        return results


def binary_sizes(raw: dict[str, Any]) -> list[tuple[int, str]]:
    """Embedded images exiftool reported as '(Binary data N bytes…)', largest first."""
    found = []
    for tag in BINARY_TAGS:
        value = raw.get(tag)
        if isinstance(value, str) and value.startswith("(Binary data "):
            try:
                found.append((int(value.split()[2]), tag))
            except (IndexError, ValueError):
                continue
    return sorted(found, reverse=True)


def extract_binary(path: str, tag: str, timeout: float = FILE_TIMEOUT) -> bytes:
    """One embedded image as bytes (a short-lived exiftool: RAWs without JPG are rare)."""
    proc = subprocess.run(
        ["exiftool", "-b", f"-{tag}", path],
        capture_output=True,
        timeout=timeout,
        check=False,
        preexec_fn=dies_with_me(),
    )
    return proc.stdout
