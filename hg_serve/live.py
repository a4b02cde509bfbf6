"""Live reload: watch the database and the event log, tell open pages over SSE.

A poll every second compares (mtime, size, inode) of the database, its -wal file and the
event log: cheap, works on every filesystem (NAS mounts included), no extra package.
Events appended to the log by another writer (`hg-build events add`, another server) are
forwarded as they are; edits not yet in the database (an import held the writer lock) are
applied through hg_build. A database changed by an import is announced as
`{"type":"server","action":"databaseChanged"}` (our own edits are not: `apply_edits` notes
the database's state while it still holds the lock). Each page holds one
`GET /api/events/stream`.

A user with a filter hears of an edit only for the entries the filter lets them see (the
entries API's rule; checked after the edit was applied, in a reader thread): the event goes
with those target ids, or not at all (`event_for`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import StreamingResponse

from hg_build import api
from hg_serve.gallery import Gallery, file_signature

log = logging.getLogger(__name__)
KEEPALIVE = 15.0


Filters = tuple[str, ...]
Visible = Callable[[list[str], Filters], Awaitable[set[str]]]
"""Which of these entry ids a user with these filters may see."""


def event_for(message: Mapping[str, Any], visible: set[str] | None) -> Mapping[str, Any] | None:
    """What a user hears of a message: a `userAction` only with the target ids they can
    see (`visible`; None: no filter, all), nothing when none; anything else as it is."""
    if visible is None or message.get("type") != "userAction":
        return message
    targets = [t for t in message.get("targetIds") or () if t in visible]
    return {**message, "targetIds": targets} if targets else None


def user_filters(request: Request) -> Filters:
    user = request.scope.get("state", {}).get("user")
    return (user.filter,) if user is not None and user.filter else ()


class Broker:
    """Fan-out of messages to every connected page (a slow page is dropped, it reconnects).
    Each page's user filter is kept with its queue: `publish` narrows edits per filter."""

    def __init__(self, visible: Visible | None = None) -> None:
        self.clients: dict[asyncio.Queue, Filters] = {}
        self.visible = visible

    async def publish(self, message: Mapping[str, Any]) -> None:
        plain = orjson.dumps(message)
        # pages without a filter first (no query to wait for), then once per distinct filter
        for filters in sorted(set(self.clients.values()), key=bool):
            data = plain if not filters else await self._narrowed(message, filters)
            if data is None:
                continue
            for queue, theirs in list(self.clients.items()):
                if theirs != filters:
                    continue
                try:
                    queue.put_nowait(data)
                except asyncio.QueueFull:  # the stream notices and ends; the page reconnects
                    self.clients.pop(queue, None)

    async def _narrowed(self, message: Mapping[str, Any], filters: Filters) -> bytes | None:
        if message.get("type") == "personAction":
            # it names faces (entry ids) and people across the whole gallery: a filtered
            # page does not hear of it (its People view reloads on its own edits)
            return None
        visible = None
        if message.get("type") == "userAction":
            if self.visible is None:  # nobody to ask: a filtered page hears no edits
                return None
            visible = await self.visible(list(message.get("targetIds") or ()), filters)
        narrowed = event_for(message, visible)
        return None if narrowed is None else orjson.dumps(narrowed)

    def close(self) -> None:
        for queue in list(self.clients):
            try:
                queue.put_nowait(None)
            except asyncio.QueueFull:
                pass
        self.clients.clear()

    async def stream(self, request: Request, filters: Sequence[str] = ()) -> AsyncIterator[bytes]:
        queue: asyncio.Queue = asyncio.Queue(maxsize=256)
        self.clients[queue] = tuple(filters)
        try:
            yield b'retry: 2000\ndata: {"type":"pong"}\n\n'
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                if data is None or queue not in self.clients:
                    return
                yield b"data: " + data + b"\n\n"
        finally:
            self.clients.pop(queue, None)


def stream_response(request: Request, broker: Broker) -> StreamingResponse:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        broker.stream(request, user_filters(request)),
        media_type="text/event-stream",
        headers=headers,
    )


class Watcher:
    """Polls the database and the event log; applies new edits and publishes changes."""

    def __init__(self, gallery: Gallery, broker: Broker, interval: float = 1.0) -> None:
        self.gallery = gallery
        self.broker = broker
        self.interval = interval
        self.db_paths = (gallery.database, Path(f"{gallery.database}-wal"))
        self.db_sig = file_signature(*self.db_paths)
        self.events_offset = self._size(gallery.events)
        self.seen: set[str] = set()  # ids of events this server appended and published
        self.pending = True  # the log may hold edits the database has not applied yet
        self._lock = threading.Lock()

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    @contextlib.contextmanager
    def _own_write(self) -> Iterator[None]:
        """Our own write (an applied edit) is not an import: do not announce it, unless an
        import changed the database since the last poll (then the next poll still does)."""
        before = file_signature(*self.db_paths)
        yield
        if before == self.db_sig:
            self.db_sig = file_signature(*self.db_paths)

    def apply_edits(self, wait: float = 0.0) -> bool:
        """Apply the log's new edits to the database (blocking; run in a thread)."""
        with self._lock:
            self.pending = not self.gallery.apply_events(wait, self._own_write)
            return not self.pending

    def check(self) -> list[dict[str, Any]]:
        """One poll (blocking I/O; run in a thread): the messages to publish."""
        messages: list[dict[str, Any]] = []
        size = self._size(self.gallery.events)
        if size < self.events_offset:  # the log was replaced: start over
            self.events_offset = 0
        if size > self.events_offset:  # appended by us or another writer
            self.pending = True
            try:
                for event, offset in api.read_events(self.gallery.events, self.events_offset):
                    self.events_offset = offset
                    if event["id"] in self.seen:
                        self.seen.discard(event["id"])
                    else:
                        messages.append(event)
            except api.EventLogError as exc:
                log.error("%s", exc)
                self.events_offset = size
        if self.pending:
            self.apply_edits()
        sig = file_signature(*self.db_paths)
        if sig != self.db_sig:
            self.db_sig = sig
            self.gallery.reload()
            self.gallery.prewarm()
            messages.insert(0, {"type": "server", "action": "databaseChanged"})
        return messages

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                for message in await asyncio.to_thread(self.check):
                    await self.broker.publish(message)
            except Exception:  # keep watching: one bad poll must not end live reload
                log.exception("watching %s failed", self.gallery.database)
