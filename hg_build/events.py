"""User edits: an append-only NDJSON event log, applied on top of the extracted tags.

File layout (HomeGallery's events, with hg's header)::

    {"type":"hg/events","version":1,"created":"2024-05-01T10:00:00Z"}
    {"type":"userAction","id":"<uuid>","date":"<ISO>","targetIds":["<entry id>",…],
     "actions":[{"action":"addTag","value":"beach"},{"action":"removeTag","value":"x"}]}

Appends take an exclusive flock on the file, write whole lines and fsync, so concurrent
writers (hg-serve, `hg-build events add`) never interleave and an acknowledged edit
survives a crash. A torn last line (a writer killed mid-write) is ignored until completed.
Applying is idempotent by event id: the database keeps the imported events (table `events`)
and recomputes an entry's tags from its extracted tags plus its events in date order.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from hg_common.errors import ConfigError
from hg_common.ndjson import dumps
from hg_common.records import versioned_header

EVENTS_TYPE = "hg/events"
EVENTS_VERSION = 1
ACTIONS = ("addTag", "removeTag")

log = logging.getLogger(__name__)


class EventLogError(ConfigError):
    """The event log is not an hg event log or has an unknown version."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def tag_event(target_ids: Iterable[str], add: Iterable[str] = (), remove: Iterable[str] = ()):
    """A new userAction event adding and removing tags on the given entries."""
    actions = [{"action": "addTag", "value": t} for t in add]
    actions += [{"action": "removeTag", "value": t} for t in remove]
    return {
        "type": "userAction",
        "id": str(uuid.uuid4()),
        "date": now_iso(),
        "targetIds": list(target_ids),
        "actions": actions,
    }


def validate(event: Any) -> dict[str, Any] | None:
    """The event when it is a well-formed userAction or personAction (`people_db`), else
    None (skipped, not fatal)."""
    if isinstance(event, dict) and event.get("type") == "personAction":
        from hg_build import people_db

        return people_db.validate(event)
    if not isinstance(event, dict) or event.get("type") != "userAction":
        return None
    ids, actions = event.get("targetIds"), event.get("actions")
    if not isinstance(event.get("id"), str) or not isinstance(event.get("date"), str):
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return None
    if not isinstance(actions, list):
        return None
    good = [
        a
        for a in actions
        if isinstance(a, dict) and a.get("action") in ACTIONS and isinstance(a.get("value"), str)
    ]
    return {**event, "actions": good}


def _header() -> bytes:
    return dumps({"type": EVENTS_TYPE, "version": EVENTS_VERSION, "created": now_iso()})


def check_header(path: Path, line: bytes) -> dict[str, Any]:
    header = versioned_header(line, EVENTS_TYPE)
    if header is None:
        raise EventLogError(f"{path} is not an hg event log (first line is not its header)")
    if header.get("version") != EVENTS_VERSION:
        raise EventLogError(
            f"{path} has event log version {header.get('version')!r}; "
            f"this hg reads version {EVENTS_VERSION}"
        )
    return header


def append_events(path: Path, events: Iterable[Mapping[str, Any]]) -> int:
    """Append events durably; writes the header first when the log is new. Returns count."""
    lines = [dumps(dict(e)) for e in events]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size == 0:
            lines.insert(0, _header())
        else:  # a torn last line from a killed writer: start ours on a fresh line
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    lines.insert(0, b"\n")
        data = b"".join(lines)
        try:
            done = 0
            while done < len(data):  # a full disk writes part, then raises ENOSPC
                done += os.write(fd, data[done:])
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):  # leave no torn line of ours behind
                os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)
    return len(lines)


def read_events(path: Path, offset: int = 0) -> Iterator[tuple[dict[str, Any], int]]:
    """Yield (event, offset after its line) from `offset`; checks the header at 0."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        if offset == 0:
            first = fh.readline()
            if not first:
                return
            check_header(path, first)
            offset = fh.tell()
        else:
            fh.seek(offset)
        for line in fh:
            if not line.endswith(b"\n"):
                return  # torn tail: not yet complete
            offset += len(line)
            if not line.strip():
                continue
            try:
                event = validate(orjson.loads(line))
            except orjson.JSONDecodeError:
                event = None
            if event is None:
                log.warning("%s: skipping an invalid event line before byte %d", path, offset)
                continue
            yield event, offset


def apply_actions(tags: Iterable[str], actions: Iterable[Mapping[str, Any]]) -> list[str]:
    """Tags after applying addTag/removeTag actions in order (HomeGallery's semantics)."""
    result = list(dict.fromkeys(tags))
    for action in actions:
        value = action.get("value")
        if action.get("action") == "addTag" and value not in result:
            result.append(value)
        elif action.get("action") == "removeTag" and value in result:
            result.remove(value)
    return sorted(result)
