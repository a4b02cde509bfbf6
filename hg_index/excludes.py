"""Which paths a source skips: gitignore-syntax patterns, a size cap, and marker files.

Patterns are matched against the path relative to the source root with pathspec's
gitignore patterns, case-insensitively (as HomeGallery, whose `ignore` package ignores case),
so `*.mov` also skips `CLIP.MOV`. A folder that is excluded is not descended, so nothing in it
can be re-included, as in git. As in git, a pattern ending in `/` matches only folders: files
are matched against the other patterns, folders against all of them (hence the classic
`*` + `!*/` + `!*.jpg` keeps JPEGs in every folder).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from hg_common.errors import ConfigError


def read_exclude_file(path: Path) -> list[str]:
    """Patterns of an exclude file; a missing file is a ConfigError (a typo must not
    silently index everything)."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"exclude file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"exclude file {path}: {exc}") from None


@dataclass(frozen=True)
class Excludes:
    files: pathspec.PathSpec | None
    dirs: pathspec.PathSpec | None
    markers: frozenset[str]

    def skips_dir(self, relpath: str) -> bool:
        return self.dirs is not None and self.dirs.match_file(relpath.lower())

    def skips_file(self, relpath: str) -> bool:
        return self.files is not None and self.files.match_file(relpath.lower())

    def marks_skip(self, names: Iterable[str]) -> bool:
        """True when a folder listing holds a marker such as `.nomedia`."""
        return not self.markers.isdisjoint(names)


def build_excludes(patterns: Sequence[str], markers: Iterable[str] = ()) -> Excludes:
    lines = [p.strip().lower() for p in patterns if p.strip() and not p.lstrip().startswith("#")]
    file_lines = [p for p in lines if not p.endswith("/")]
    dir_lines = [p.rstrip("/") for p in lines if p.rstrip("/") not in ("", "!")]
    return Excludes(
        pathspec.PathSpec.from_lines("gitignore", file_lines) if file_lines else None,
        pathspec.PathSpec.from_lines("gitignore", dir_lines) if dir_lines else None,
        frozenset(markers),
    )
