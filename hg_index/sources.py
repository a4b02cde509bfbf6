"""Which sources a run scans: SOURCE_DIR arguments and `[[sources]]` from the config, with
command-line filters applied on top. Pure apart from reading exclude files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from hg_common.config import Config, Source, source_name
from hg_common.errors import ConfigError
from hg_common.home import index_file
from hg_index.excludes import Excludes, build_excludes, read_exclude_file


def select_sources(
    cfg: Config,
    dirs: Sequence[str],
    name: str | None = None,
    excludes: Sequence[str] = (),
    exclude_from: Sequence[str] = (),
    max_filesize: int | None = None,
    keep_known: bool | None = None,
    exclude_if_present: Sequence[str] | None = None,
) -> tuple[Source, ...]:
    """Arguments pick sources (reusing a configured source's settings when its dir matches);
    without arguments every configured source is scanned. Flags apply to all picked."""
    if name and len(dirs) != 1:
        raise ConfigError("--name needs exactly one SOURCE_DIR")
    configured = {s.dir.resolve(): s for s in cfg.sources}
    picked: list[Source] = []
    for d in dirs:
        path = Path(d).expanduser().absolute()
        base = configured.get(path.resolve()) or Source(dir=path, name=source_name(path))
        picked.append(replace(base, name=name) if name else base)
    if not dirs:
        picked = list(cfg.sources)
    if not picked:
        raise ConfigError(
            "no sources: give SOURCE_DIR arguments or add [[sources]] to the config file"
        )
    out = []
    for s in picked:
        out.append(
            replace(
                s,
                excludes=s.excludes + tuple(excludes),
                exclude_from=s.exclude_from + tuple(Path(p).expanduser() for p in exclude_from),
                max_filesize=max_filesize if max_filesize is not None else s.max_filesize,
                keep_known=s.keep_known if keep_known is None else keep_known,
                exclude_if_present=(
                    tuple(n for n in exclude_if_present if n)
                    if exclude_if_present is not None
                    else s.exclude_if_present
                ),
            )
        )
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(
            f"two sources are named {dupes[0]!r}: give one a --name (or name = in the config)"
        )
    return tuple(out)


def source_excludes(source: Source) -> Excludes:
    patterns: list[str] = []
    for path in source.exclude_from:
        patterns.extend(read_exclude_file(path))
    patterns.extend(source.excludes)  # later patterns win: -e refines an exclude file
    return build_excludes(patterns, source.exclude_if_present)


def index_path(cfg: Config, source: Source) -> Path:
    return index_file(cfg.index_dir, source.name)
