"""Sidecar groups: files of one folder that describe one photo (`IMG_1.CR2`, `IMG_1.JPG`,
`IMG_1.CR2.xmp`, `IMG_1.cr3.jpg`, `IMG_1.xmp`) form one gallery entry.

As HomeGallery: a file's group is its name minus the last extension; a name with two
extensions (`IMG_1.CR2.xmp`) joins the group of the name minus both when such a group
exists. Unlike HomeGallery the result does not depend on the order of the files. Names are
compared case-sensitively, as on the file system.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

_EXT = re.compile(r"^(.+)\.([A-Za-z0-9]{1,5})$")


def strip_ext(name: str) -> str:
    """`IMG_1.CR2.xmp` -> `IMG_1.CR2`; a name without an extension stays as it is."""
    match = _EXT.match(name)
    return match.group(1) if match else name


def group_keys(names: Iterable[str]) -> dict[str, str]:
    """Map each file name of one folder to its group key."""
    names = list(names)
    bases = {name: strip_ext(name) for name in names}
    base_set = set(bases.values())
    keys: dict[str, str] = {}
    for name, base in bases.items():
        base2 = strip_ext(base)
        keys[name] = base2 if base2 != base and base2 in base_set else base
    return keys


def groups(names: Iterable[str]) -> list[list[str]]:
    """The groups of one folder's file names, each sorted, in order of their first name."""
    by_key: dict[str, list[str]] = defaultdict(list)
    for name, key in group_keys(names).items():
        by_key[key].append(name)
    return sorted((sorted(g) for g in by_key.values()), key=lambda g: g[0])


def group_mates(names: Iterable[str], touched: Iterable[str]) -> set[str]:
    """Names sharing a group with any touched name, not touched themselves."""
    keys = group_keys(names)
    touched = set(touched)
    touched_keys = {keys[n] for n in touched if n in keys}
    return {n for n, k in keys.items() if k in touched_keys and n not in touched}
