"""Pure: the `entry` record, the contract between hg-extract and hg-build.

hg-extract prints one per sidecar group it extracted; `hg-build --rebuild` makes the same
record from the index and storage. Both make it here, from a `groups.Group` and the
group's outputs, so they cannot drift apart. Schema (v1), see docs/architecture.md
"hg-extract -> hg-build"::

    {"type": "entry", "v": 1, "id", "media_type", "files": [{…index fields…, "file_type",
     "primary", "meta"}], "previews", "video", "colors", "address", "errors"}

`files` keeps every field of the file record (unknown fields pass through) minus the
record's own `type`/`v` and what only described the change; `errors` lists problems that
did not stop the entry (a sidecar exiftool could not read, a RAW without any preview),
with `"warning": true` for the harmless ones.
"""

from __future__ import annotations

from typing import Any

from hg_common.filetypes import file_type
from hg_common.groups import Group
from hg_common.records import SCHEMA_VERSION

ENTRY = "entry"
_DROP = ("type", "v", "previous_checksum", "reason", "from_source", "from_path")


def file_item(rec: dict[str, Any], primary: bool, meta: dict[str, Any]) -> dict[str, Any]:
    item = {k: v for k, v in rec.items() if k not in _DROP}
    item.update(file_type=file_type(rec["path"]), primary=primary, meta=meta)
    return item


def entry_record(
    group: Group, metas: dict[str, dict[str, Any]], errors: list[dict[str, Any]], **outputs: Any
) -> dict[str, Any]:
    """`metas` maps a file's checksum to its normalised meta (absent: `{}`); `outputs` are
    the entry's own artefacts as the record names them (`previews`, `video`, `colors`,
    `address`): a new artefact is a new keyword of its producer and its reader only."""
    files = [
        file_item(rec, i == 0, metas.get(rec["checksum"]) or {})
        for i, rec in enumerate(group.files)
    ]
    return {
        "type": ENTRY,
        "v": SCHEMA_VERSION,
        "id": group.id,
        "media_type": group.media_type,
        "files": files,
        **outputs,
        "errors": errors,
    }


def ml_outputs(similarity: Any, objects: Any, faces: Any = None) -> dict[str, Any]:
    """The entry record's `similarity`, `objects` and `faces` fields from the entry's stored
    `-similarity.json`, `-objects.json` and `-faces.json` (`hg_common.layout`), those that
    are stored (hg-extract's live record and `hg-build --rebuild` both use this: the same
    record)."""
    out: dict[str, Any] = {}
    if isinstance(similarity, dict):
        out["similarity"] = similarity
    if isinstance(objects, dict):
        out["objects"] = objects
    if isinstance(faces, dict):
        out["faces"] = faces
    return out
