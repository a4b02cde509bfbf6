"""What an entry's XMP sidecars should say about its tags: pure planning for `export meta`.

hg's tags are flat, so a tag the gallery has and no sidecar of the entry carries yet is
added to `XMP-dc:Subject` of one sidecar (the keywords every XMP reader shows: darktable,
digiKam, Lightroom, HomeGallery). `XMP-lr:HierarchicalSubject` and `XMP-digiKam:TagsList`
are never added to (a flat tag has no place in a hierarchy, and inventing one would put
words into the user's keyword tree), but they are filtered like the Subject: hg-extract
reads all three as tags, so a tag removed in the gallery but left there would come back
as an extracted tag on the next import, and other programs would still show it. Every
other XMP field is left alone (exiftool edits only these tags).

Comparison is case-insensitive, as the gallery keeps one spelling of a tag per entry: a
sidecar's `Beach` carries the gallery's `beach` and is kept as it is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# exiftool's JSON names (`-j`) -> the tag written back: namespace-qualified so exiftool
# never touches the same name in another group (IPTC Keywords, XMP-pdf, …).
FIELDS = {
    "Subject": "XMP-dc:Subject",
    "HierarchicalSubject": "XMP-lr:HierarchicalSubject",
    "TagsList": "XMP-digiKam:TagsList",
}
ADD_TO = "Subject"


def field_values(raw: Mapping[str, Any], name: str) -> list[str]:
    """A list field as exiftool -j prints it (a scalar for one value, numbers as numbers)."""
    value = raw.get(name)
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def read_fields(raw: Mapping[str, Any]) -> dict[str, list[str]]:
    return {name: field_values(raw, name) for name in FIELDS}


@dataclass
class SidecarChange:
    """One sidecar to create or update: `fields` holds only the fields that change, each
    with its complete new list (empty: the field is deleted)."""

    path: str
    create: bool
    fields: dict[str, list[str]]
    tags: list[str] = field(default_factory=list)  # what the sidecar carries afterwards
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def plan(
    tags: Sequence[str], existing: Mapping[str, Mapping[str, list[str]]], target: str
) -> list[SidecarChange]:
    """The sidecar changes that make the entry's sidecars carry exactly `tags`.

    `existing`: each sidecar of the entry on disk -> its tag fields (`read_fields`);
    `target`: the sidecar that gets the tags none carries yet (one of `existing`, or a new
    one to create). An empty result: nothing to write (a second run after a first).
    """
    keep = {t.casefold() for t in tags}
    new = {
        path: {name: [v for v in values if v.casefold() in keep] for name, values in f.items()}
        for path, f in existing.items()
    }
    carried = {v.casefold() for f in new.values() for values in f.values() for v in values}
    missing = list({t.casefold(): t for t in tags if t.casefold() not in carried}.values())
    creating = target not in existing
    if creating:
        if not missing:
            return []
        new[target] = {name: [] for name in FIELDS}
    new[target][ADD_TO] = [*new[target].get(ADD_TO, []), *missing]
    changes = []
    for path, fields in new.items():
        before = existing.get(path, {})
        changed = {n: v for n, v in fields.items() if v != list(before.get(n, []))}
        if not changed:
            continue
        old_all = {v.casefold(): v for values in before.values() for v in values}
        new_all = {v.casefold(): v for values in fields.values() for v in values}
        changes.append(
            SidecarChange(
                path=path,
                create=path == target and creating,
                fields=changed,
                tags=sorted(new_all.values()),
                added=sorted(v for k, v in new_all.items() if k not in old_all),
                removed=sorted(v for k, v in old_all.items() if k not in new_all),
            )
        )
    return changes


def exiftool_args(fields: Mapping[str, list[str]]) -> list[str]:
    """exiftool assignments replacing each field's list: `-T=` clears, `-T=v` adds."""
    args: list[str] = []
    for name, values in fields.items():
        tag = FIELDS[name]
        args.append(f"-{tag}=")
        args += [f"-{tag}={v}" for v in values]
    return args


def sidecar_name(primary_name: str, sidecar_names: Sequence[str]) -> str:
    """The sidecar that gets new tags: `IMG_1.jpg.xmp` (darktable's and HomeGallery's
    naming) when it exists or no sidecar does; else `IMG_1.xmp` (Lightroom's), else the
    first of the others (`sidecar_names`: the entry's XMP files in the primary's folder)."""
    own = f"{primary_name}.xmp"
    lower = {n.casefold(): n for n in sidecar_names}
    if own.casefold() in lower:
        return lower[own.casefold()]
    stem = primary_name.rsplit(".", 1)[0] + ".xmp"
    if stem.casefold() in lower:
        return lower[stem.casefold()]
    return sorted(sidecar_names)[0] if sidecar_names else own
