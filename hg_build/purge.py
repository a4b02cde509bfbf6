"""`hg-build purge`: delete storage files that no known file and no entry references.

A storage file's path names the checksum it belongs to (`hg_common.layout.parse`): the
checksum of an original file (metadata) or of an entry's primary file (previews, video). It is
still needed while that checksum is in an index file (committed or pending `.next`) or in the
database (an entry id or a file checksum). Everything else is left over from files that were
deleted or changed, and can go. Caches not keyed by a file (`layout.NOT_FILE_KEYED`), temp
files and anything else that is no artefact's name are kept. Dry run by default: it prints
what it would delete.

Purging while an import runs could delete the outputs of files not yet in any index, so purge
takes the import lock (`<home>/import.lock`) and the database writer lock.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

from hg_build import db
from hg_build.store import writer_lock
from hg_common import layout
from hg_index.cli_support import EXIT_OK, ArgumentParser, add_common_arguments
from hg_index.config import ConfigError, load_config
from hg_index.filesize import format_filesize
from hg_index.indexfile import index_files, pending_indexes, read_entries
from hg_index.lock import LockedError, RunLock
from hg_index.log import setup_logging
from hg_index.ndjson import NdjsonWriter


def _prefix(checksum: str) -> int:
    """A 64-bit prefix: the set stays small; a collision only keeps a file, never drops one."""
    return int(checksum[:16], 16)


def referenced(index_dir: Path, database: Path) -> set[int]:
    """Checksums (prefixes) still referenced by an index file or the database."""
    refs: set[int] = set()
    for path in index_files(index_dir) + pending_indexes(index_dir):
        refs.update(_prefix(e["checksum"]) for e in read_entries(path))
    if database.exists():
        conn = db.connect(database, readonly=True)
        try:
            sql = "SELECT id FROM entries UNION SELECT checksum FROM files"
            for (checksum,) in conn.execute(sql):
                if checksum:
                    refs.add(_prefix(checksum))
        finally:
            conn.close()
    return refs


def unreferenced(storage: Path, refs: set[int]) -> Iterator[tuple[Path, int]]:
    """(path, size) of every storage file whose checksum is not in `refs`, in path order."""
    for folder in layout.folders(storage):
        rel = folder.relative_to(storage).as_posix()
        for f in sorted(os.scandir(folder), key=lambda e: e.name):
            artefact = layout.parse(f"{rel}/{f.name}")
            if artefact is None or artefact[1] in layout.NOT_FILE_KEYED:
                continue
            if _prefix(artefact[0]) not in refs and f.is_file(follow_symlinks=False):
                yield Path(f.path), f.stat(follow_symlinks=False).st_size


def purge(storage: Path, refs: set[int], delete: bool, out) -> tuple[int, int]:
    files = nbytes = 0
    emptied: set[Path] = set()
    for path, size in unreferenced(storage, refs):
        if delete:
            path.unlink(missing_ok=True)
            emptied.add(path.parent)
        files += 1
        nbytes += size
        rel = path.relative_to(storage).as_posix()
        out.write({"type": "purge", "v": 1, "path": rel, "bytes": size, "deleted": delete})
    for folder in sorted(emptied, reverse=True):
        for d in (folder, folder.parent):
            try:
                d.rmdir()  # only when empty
            except OSError:
                pass
    return files, nbytes


def purge_main(argv) -> int:
    p = ArgumentParser(
        prog="hg-build purge",
        description="Delete storage files that no indexed file and no entry references any "
        "more. Without --yes it only prints them (NDJSON 'purge' records) and the total.",
    )
    p.add_argument("--yes", action="store_true", help="delete them (default: dry run)")
    p.add_argument("--database", help="database file (default: <home>/gallery.db)")
    add_common_arguments(p)
    args = p.parse_args(argv)
    setup_logging("hg-build", args.verbose, args.quiet)
    cfg = load_config(args.home, args.config, args.storage)
    database = Path(args.database).expanduser() if args.database else cfg.database
    out = NdjsonWriter(sys.stdout.buffer)
    lock = cfg.home / "import.lock"
    try:
        with RunLock(lock), writer_lock(database):
            refs = referenced(cfg.index_dir, database)
            files, nbytes = purge(cfg.storage, refs, args.yes, out)
    except LockedError:
        raise ConfigError(f"an import is running in {cfg.home}: purge when it is done") from None
    out.flush()
    if not args.quiet:
        verb = "deleted" if args.yes else "would be deleted (dry run; --yes deletes them)"
        print(
            f"hg-build purge: {files} storage files, {format_filesize(nbytes)} {verb}",
            file=sys.stderr,
        )
    return EXIT_OK
