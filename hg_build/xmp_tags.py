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

Names of the entry's named people go into `XMP-iptcExt:PersonInImage` (IPTC's "Person
Shown", which Lightroom, digiKam, Photo Mechanic and exiftool show). Unlike tags, hg does
not read that field back, and other programs write names hg never knew: a name there is
removed only when it is one hg gave (a person's name now or in the event log's history)
and the entry no longer shows that person, so a rename or "not this person" reaches the
sidecar while a name another program wrote stays. Face regions (MWG) are not written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
PEOPLE = "PersonInImage"
WRITTEN = {**FIELDS, PEOPLE: "XMP-iptcExt:PersonInImage"}
"""Every field `export meta` reads and may write."""


def field_values(raw: Mapping[str, Any], name: str) -> list[str]:
    """A list field as exiftool -j prints it (a scalar for one value, numbers as numbers)."""
    value = raw.get(name)
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def read_fields(raw: Mapping[str, Any]) -> dict[str, list[str]]:
    return {name: field_values(raw, name) for name in WRITTEN}


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
    people: list[str] = field(default_factory=list)  # names it carries afterwards
    people_added: list[str] = field(default_factory=list)
    people_removed: list[str] = field(default_factory=list)


def plan(
    tags: Sequence[str],
    existing: Mapping[str, Mapping[str, list[str]]],
    target: str,
    people: Sequence[str] = (),
    hg_names: Iterable[str] = (),
) -> list[SidecarChange]:
    """The sidecar changes that make the entry's sidecars carry exactly `tags`, and the
    names of `people` among the names hg gave (`hg_names`; see the module doc).

    `existing`: each sidecar of the entry on disk -> its fields (`read_fields`); `target`:
    the sidecar that gets the tags and names none carries yet (one of `existing`, or a new
    one to create). An empty result: nothing to write (a second run after a first).
    """
    keep = {t.casefold() for t in tags}
    keep_people = {n.casefold() for n in people}
    ours = {n.casefold() for n in hg_names} | keep_people
    new = {}
    for path, f in existing.items():
        fields = {name: [v for v in f.get(name, []) if v.casefold() in keep] for name in FIELDS}
        fields[PEOPLE] = [
            v for v in f.get(PEOPLE, []) if v.casefold() in keep_people or v.casefold() not in ours
        ]
        new[path] = fields
    carried = {v.casefold() for f in new.values() for n in FIELDS for v in f[n]}
    missing = list({t.casefold(): t for t in tags if t.casefold() not in carried}.values())
    shown = {v.casefold() for f in new.values() for v in f[PEOPLE]}
    missing_people = list({n.casefold(): n for n in people if n.casefold() not in shown}.values())
    creating = target not in existing
    if creating:
        if not missing and not missing_people:
            return []
        new[target] = {name: [] for name in WRITTEN}
    new[target][ADD_TO] = [*new[target][ADD_TO], *missing]
    new[target][PEOPLE] = [*new[target][PEOPLE], *missing_people]
    changes = []
    for path, fields in new.items():
        before = existing.get(path, {})
        changed = {n: v for n, v in fields.items() if v != list(before.get(n, []))}
        if not changed:
            continue
        old_tags, new_tags = _spellings(before, FIELDS), _spellings(fields, FIELDS)
        old_people, new_people = _spellings(before, [PEOPLE]), _spellings(fields, [PEOPLE])
        changes.append(
            SidecarChange(
                path=path,
                create=path == target and creating,
                fields=changed,
                tags=sorted(new_tags.values()),
                added=sorted(v for k, v in new_tags.items() if k not in old_tags),
                removed=sorted(v for k, v in old_tags.items() if k not in new_tags),
                people=sorted(new_people.values()),
                people_added=sorted(v for k, v in new_people.items() if k not in old_people),
                people_removed=sorted(v for k, v in old_people.items() if k not in new_people),
            )
        )
    return changes


def _spellings(fields: Mapping[str, Sequence[str]], names: Iterable[str]) -> dict[str, str]:
    """casefolded -> as written, over the given fields."""
    return {v.casefold(): v for n in names for v in fields.get(n, [])}


def exiftool_args(fields: Mapping[str, list[str]]) -> list[str]:
    """exiftool assignments replacing each field's list: `-T=` clears, `-T=v` adds."""
    args: list[str] = []
    for name, values in fields.items():
        tag = WRITTEN[name]
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
