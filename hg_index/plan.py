"""What to do with one folder: compare its files on disk with its entries in the old index.

Pure: no disk access. The scanner hashes what the plan says, then asks `sidecar_changes`
which unchanged files must be reported because a file of their sidecar group changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hg_common.sidecars import group_mates
from hg_index.walk import FileStat

Entry = dict[str, Any]

MATCHERS = ("size-mtime-inode", "size-mtime", "size")


@dataclass(frozen=True)
class Policy:
    max_filesize: int | None = None
    keep_known: bool = True
    matcher: str = "size-mtime-inode"


@dataclass
class DirPlan:
    keep: list[Entry] = field(default_factory=list)
    """Old entries whose file is unchanged by the matcher: not re-hashed."""
    new: list[FileStat] = field(default_factory=list)
    """New paths to hash and add."""
    changed: list[tuple[FileStat, Entry]] = field(default_factory=list)
    """Known paths whose stat differs: hash again and compare."""
    removed: list[Entry] = field(default_factory=list)
    empty: list[FileStat] = field(default_factory=list)
    """Zero-byte files: reported, never indexed (they have no content to identify them)."""
    over_limit: int = 0
    """New files left for a later run because the add limit was reached."""
    too_large: int = 0
    """Files left out by the size limit (not a known file kept at its size)."""


def entry_name(entry: Entry) -> str:
    return entry["path"].rpartition("/")[2]


def unchanged(entry: Entry, f: FileStat, matcher: str) -> bool:
    if entry["size"] != f.size:
        return False
    if matcher == "size":
        return True
    if entry["mtime_ns"] != f.mtime_ns:
        return False
    return matcher == "size-mtime" or entry["inode"] == f.inode


def plan_dir(
    old: Iterable[Entry], files: Iterable[FileStat], policy: Policy, allowance: int | None
) -> DirPlan:
    """Plan one folder. `allowance` is how many new files may still be added (None: all)."""
    plan = DirPlan()
    known = {entry_name(e): e for e in old}
    seen: set[str] = set()
    for f in files:
        entry = known.get(f.name)
        if f.size == 0:
            plan.empty.append(f)
            continue
        if policy.max_filesize is not None and f.size > policy.max_filesize:
            kept = policy.keep_known and entry is not None and entry["size"] == f.size
            if not kept:
                plan.too_large += 1
                continue
        if entry is None:
            if allowance is not None and len(plan.new) >= allowance:
                plan.over_limit += 1
                continue
            plan.new.append(f)
            continue
        seen.add(f.name)
        if unchanged(entry, f, policy.matcher):
            plan.keep.append(entry)
        else:
            plan.changed.append((f, entry))
    plan.removed = [e for name, e in known.items() if name not in seen]
    return plan


def sidecar_changes(
    names: Iterable[str], touched: Iterable[str], kept: Iterable[Entry]
) -> list[Entry]:
    """Unchanged entries that share a sidecar group with a touched (added, changed or
    removed) file: downstream must rebuild their entry."""
    mates = group_mates(names, touched)
    return [e for e in kept if entry_name(e) in mates]


def make_entry(path: str, f: FileStat, checksum: str) -> Entry:
    return {
        "path": path,
        "size": f.size,
        "mtime_ns": f.mtime_ns,
        "inode": f.inode,
        "checksum": checksum,
    }
