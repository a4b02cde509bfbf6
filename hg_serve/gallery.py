"""Data access for hg-serve: every read of the gallery goes through a `Gallery`.

INTERIM BACKEND. Until hg-build (the SQLite database and the query language) is merged,
the database file is read as NDJSON of media dicts in hg-build's shape (`id`,
`media_type`, `date`, `width`, `height`, `previews`, `video`, `colors`, `tags`, `files`,
camera and place fields) into memory, and a query is free-text words plus `year:`, `tag:`
and `type:` terms, all ANDed; anything else is a query error. The public methods
(`page`, `detail`, `years`, `tags`, `geo`, `existing`, `apply_event`, `reload`) are the
interface the app uses, and they will be wired to hg_build without changing callers.

Edits: events from the log that the database has not applied yet are applied on top at
read time (tags), so an acknowledged edit shows at once and survives a reload.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hg_serve import eventlog, grid

MAX_LIMIT = 5000


class QueryError(ValueError):
    """A query that cannot be run; the message points at the problem (HTTP 400)."""


@dataclass
class _Snapshot:
    entries: list[dict[str, Any]] = field(default_factory=list)  # newest first
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)


def _text(media: Mapping[str, Any]) -> str:
    parts: list[Any] = [media["id"][:10], media.get("media_type"), (media.get("date") or "")[:10]]
    parts += [media.get(k) for k in ("make", "model", "description", "title")]
    parts += [media.get(k) for k in ("country", "state", "city", "road")]
    parts += [f.get("path", "").rsplit("/", 1)[-1] for f in media.get("files") or []]
    parts += list(media.get("tags") or [])
    return "\n".join(str(p) for p in parts if p not in (None, "")).casefold()


_KEYS = {
    "year": lambda m, v: (m.get("date") or "")[:4] == v,
    "tag": lambda m, v: v.casefold() in (t.casefold() for t in m.get("tags") or []),
    "type": lambda m, v: (m.get("media_type") or "").casefold() == v.casefold(),
}


def _terms(q: str) -> list[Callable[[Mapping[str, Any]], bool]]:
    """Interim: free-text words and year:/tag:/type: terms, all ANDed."""
    special = set(":=<>()[]!~\"'")
    terms: list[Callable[[Mapping[str, Any]], bool]] = []
    pos = 0
    for word in q.split():
        pos = q.index(word, pos)
        key, colon, value = word.partition(":")
        if colon and key in _KEYS and value and not (set(value) & special):
            terms.append(lambda m, f=_KEYS[key], v=value: f(m, v))
        else:
            bad = next((i for i, c in enumerate(word) if c in special), None)
            if bad is not None or word.lower() in ("and", "or", "not", "order", "in"):
                col = pos + (bad or 0) + 1
                raise QueryError(
                    f"unsupported query syntax at column {col} ({word!r}): only words and "
                    "year:/tag:/type: work until hg-build's query language is available"
                )
            folded = word.casefold()
            terms.append(lambda m, w=folded: w in m["_text"])
        pos += len(word)
    return terms


class Gallery:
    """The gallery database as the server sees it (thread-safe snapshot swaps)."""

    def __init__(self, database: Path, events: Path) -> None:
        self.database = database
        self.events = events
        self._lock = threading.Lock()
        self._snap = _Snapshot()
        self.reload()

    # -- loading -------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the database (after an import changed it) and re-apply the event log."""
        entries = []
        try:
            with open(self.database, "rb") as fh:
                for line in fh:
                    if line.strip():
                        media = orjson.loads(line)
                        if isinstance(media, dict) and isinstance(media.get("id"), str):
                            entries.append(media)
        except FileNotFoundError:
            pass
        entries.sort(key=lambda m: m.get("date") or "", reverse=True)
        snap = _Snapshot(entries, {m["id"]: m for m in entries})
        for m in entries:
            m["tags"] = sorted(set(m.get("tags") or []))
            m["_text"] = _text(m)
        for event, _ in eventlog.read_events(self.events):
            self._apply(snap, event)
        with self._lock:
            self._snap = snap

    def apply_event(self, event: Mapping[str, Any]) -> None:
        """Apply one userAction (just appended, or seen in the log) to the tags."""
        with self._lock:
            self._apply(self._snap, event)

    @staticmethod
    def _apply(snap: _Snapshot, event: Mapping[str, Any]) -> None:
        for target in event.get("targetIds") or []:
            media = snap.by_id.get(target)
            if media is None:
                continue
            tags = list(media.get("tags") or [])
            for action in event.get("actions") or []:
                value = action.get("value")
                if action.get("action") == "addTag" and value not in tags:
                    tags.append(value)
                elif action.get("action") == "removeTag" and value in tags:
                    tags.remove(value)
            media["tags"] = sorted(tags)
            media["_text"] = _text(media)

    # -- queries ---------------------------------------------------------------------------
    def _select(self, q: str, filters: Sequence[str]) -> list[dict[str, Any]]:
        terms = _terms(q or "")
        for flt in filters:
            terms += _terms(flt)
        entries = self._snap.entries
        if not terms:
            return entries
        return [m for m in entries if all(t(m) for t in terms)]

    def page(
        self, q: str = "", filters: Sequence[str] = (), offset: int = 0, limit: int = 1000
    ) -> dict[str, Any]:
        """One page of grid items for a query, newest first, and the total count."""
        selected = self._select(q, filters)
        limit = max(0, min(limit, MAX_LIMIT))
        items = [grid.grid_item(m) for m in selected[offset : offset + limit]]
        return {"total": len(selected), "offset": offset, "entries": items}

    def detail(self, entry_id: str, filters: Sequence[str] = ()) -> dict[str, Any] | None:
        media = self._snap.by_id.get(entry_id)
        if media is None or (filters and media not in self._select("", filters)):
            return None
        return grid.detail({k: v for k, v in media.items() if k != "_text"})

    def years(self, q: str = "", filters: Sequence[str] = ()) -> list[dict[str, Any]]:
        return grid.years_summary(m.get("date") for m in self._select(q, filters))

    def tags(self, q: str = "", filters: Sequence[str] = ()) -> list[dict[str, Any]]:
        return grid.tag_counts(m.get("tags") or [] for m in self._select(q, filters))

    def geo(self, q: str = "", filters: Sequence[str] = ()) -> dict[str, list]:
        """Compact parallel arrays (ids, lat, lon) of entries with a position."""
        ids, lat, lon = [], [], []
        for m in self._select(q, filters):
            if m.get("latitude") is not None and m.get("longitude") is not None:
                ids.append(m["id"])
                lat.append(round(float(m["latitude"]), 5))
                lon.append(round(float(m["longitude"]), 5))
        return {"ids": ids, "lat": lat, "lon": lon}

    def similar(self, entry_id: str, filters: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Entries similar to one; empty until similarity vectors are extracted."""
        return []

    def existing(self, ids: Iterable[str], filters: Sequence[str] = ()) -> set[str]:
        """Which of ids are entries this user may see (validates edits)."""
        visible = self._select("", filters) if filters else None
        if visible is None:
            return {i for i in ids if i in self._snap.by_id}
        allowed = {m["id"] for m in visible}
        return {i for i in ids if i in allowed}
