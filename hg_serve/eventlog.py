"""User edits from the web app: validate a POSTed edit into a userAction event.

The event goes to hg-build's event log (`cfg.events`, written by `hg_build.events`)::

    {"type":"userAction","id":"<uuid4>","date":"<ISO UTC>","targetIds":[…],
     "actions":[{"action":"addTag"|"removeTag","value":"…"}]}

The server fills `id` and `date`; the Gallery appends it (flock, fsync before the request
is acknowledged) and applies it through hg_build.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

ACTIONS = ("addTag", "removeTag")
MAX_TARGETS = 100_000
MAX_ACTIONS = 100
MAX_TAG_LENGTH = 200


class EventError(ValueError):
    """A POSTed edit that is not acceptable (answered with 400 and this message)."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clean_tag(value: Any) -> str:
    """A tag as stored: NFC, trimmed, 1..200 characters, no control characters."""
    if not isinstance(value, str):
        raise EventError("a tag must be a string")
    tag = unicodedata.normalize("NFC", value).strip()
    if not tag:
        raise EventError("a tag must not be empty")
    if len(tag) > MAX_TAG_LENGTH:
        raise EventError(f"a tag has at most {MAX_TAG_LENGTH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in tag):
        raise EventError(f"tag {tag!r} contains control characters")
    return tag


def make_event(body: Any, exists: Callable[[list[str]], set[str]]) -> dict[str, Any]:
    """The userAction event for a POSTed `{targetIds, actions}`; raises EventError.

    `exists` answers which of the given ids are in the gallery: unknown ids are an error,
    so a typo cannot silently tag nothing.
    """
    if not isinstance(body, Mapping):
        raise EventError("the body must be a JSON object with targetIds and actions")
    ids, actions = body.get("targetIds"), body.get("actions")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise EventError("targetIds must be a non-empty list of entry ids")
    if len(ids) > MAX_TARGETS:
        raise EventError(f"at most {MAX_TARGETS} targetIds per event")
    ids = list(dict.fromkeys(ids))
    known = exists(ids)
    missing = [i for i in ids if i not in known]
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise EventError(f"unknown entry id(s): {', '.join(missing[:3])}{more}")
    if not isinstance(actions, list) or not actions or len(actions) > MAX_ACTIONS:
        raise EventError(f"actions must be a list of 1..{MAX_ACTIONS} actions")
    clean = []
    for action in actions:
        if not isinstance(action, Mapping) or action.get("action") not in ACTIONS:
            raise EventError("each action is {action: addTag|removeTag, value: tag}")
        clean.append({"action": action["action"], "value": clean_tag(action.get("value"))})
    return {
        "type": "userAction",
        "id": str(uuid.uuid4()),
        "date": now_iso(),
        "targetIds": ids,
        "actions": clean,
    }
