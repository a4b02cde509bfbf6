from hg_index.plan import Policy, plan_dir, sidecar_changes
from hg_index.walk import FileStat


def entry(name, size=10, mtime=1, inode=1, checksum="c" * 64):
    return {
        "path": f"d/{name}",
        "size": size,
        "mtime_ns": mtime,
        "inode": inode,
        "checksum": checksum,
    }


def test_unchanged_changed_new_removed():
    old = [entry("a.jpg"), entry("b.jpg"), entry("gone.jpg")]
    files = [FileStat("a.jpg", 10, 1, 1), FileStat("b.jpg", 11, 2, 1), FileStat("c.jpg", 5, 1, 9)]
    plan = plan_dir(old, files, Policy(), None)
    assert [e["path"] for e in plan.keep] == ["d/a.jpg"]
    assert [f.name for f, _ in plan.changed] == ["b.jpg"]
    assert [f.name for f in plan.new] == ["c.jpg"]
    assert [e["path"] for e in plan.removed] == ["d/gone.jpg"]


def test_matchers():
    old = [entry("a.jpg", inode=1)]
    moved_inode = [FileStat("a.jpg", 10, 1, 2)]
    assert plan_dir(old, moved_inode, Policy(), None).changed
    assert plan_dir(old, moved_inode, Policy(matcher="size-mtime"), None).keep
    touched = [FileStat("a.jpg", 10, 5, 2)]
    assert plan_dir(old, touched, Policy(matcher="size"), None).keep


def test_empty_files_are_reported_not_indexed():
    plan = plan_dir([], [FileStat("z.jpg", 0, 1, 1)], Policy(), None)
    assert [f.name for f in plan.empty] == ["z.jpg"] and not plan.new


def test_max_filesize_keep_known():
    old = [entry("big.mov", size=100), entry("grown.mov", size=50)]
    files = [
        FileStat("big.mov", 100, 1, 1),
        FileStat("grown.mov", 101, 1, 1),
        FileStat("new.mov", 100, 1, 1),
    ]
    plan = plan_dir(old, files, Policy(max_filesize=60), None)
    assert [e["path"] for e in plan.keep] == ["d/big.mov"]
    assert [e["path"] for e in plan.removed] == ["d/grown.mov"]
    assert not plan.new
    plan = plan_dir(old, files, Policy(max_filesize=60, keep_known=False), None)
    assert sorted(e["path"] for e in plan.removed) == ["d/big.mov", "d/grown.mov"]


def test_allowance_counts_only_new_paths():
    old = [entry("a.jpg")]
    files = [FileStat("a.jpg", 10, 1, 1)] + [FileStat(f"n{i}.jpg", 1, 1, i) for i in range(5)]
    plan = plan_dir(old, files, Policy(), 2)
    assert [f.name for f in plan.new] == ["n0.jpg", "n1.jpg"]
    assert plan.over_limit == 3
    assert len(plan.keep) == 1


def test_sidecar_changes():
    kept = [entry("IMG_1.jpg"), entry("IMG_2.jpg")]
    names = ["IMG_1.jpg", "IMG_1.jpg.xmp", "IMG_2.jpg"]
    assert [e["path"] for e in sidecar_changes(names, ["IMG_1.jpg.xmp"], kept)] == ["d/IMG_1.jpg"]
