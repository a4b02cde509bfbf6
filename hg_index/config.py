"""One TOML config shared by all tools; flags override it; every option has a default.

Resolution order for the gallery home: `--home` flag, then `HG_HOME`, then
`$XDG_DATA_HOME/hg` (`~/.local/share/hg`). The config file is `--config FILE`, else
`HG_CONFIG`, else `<home>/config.toml` when it exists; without one, defaults apply.
Relative paths in the file are relative to the home (for storage/database/events/index) or
to the config file's folder (for exclude files and source dirs).

Example (every key optional)::

    storage = "storage"            # previews etc.; may live elsewhere (--storage DIR)
    database = "gallery.db"
    events = "events.ndjson"

    [index]
    add_limits = "200,500,1.25,8000"   # only when set: a growing chunk of new files per run

    [[sources]]
    dir = "~/Pictures"
    name = "pictures"                  # default: the folder's name
    excludes = ["*.tmp", "/Trash/"]    # gitignore syntax, relative to dir
    exclude_from = "only-images.exclude"
    max_filesize = "200m"
    exclude_if_present = [".galleryignore", ".nomedia"]

    [server]
    host = "127.0.0.1"
    port = 3000

Each later stage reads its own table (`[extract]`, `[build]`, `[server]`) through
`Config.section`, so the file stays one file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_EXCLUDE_IF_PRESENT = (".galleryignore", ".nomedia")


class ConfigError(ValueError):
    """The configuration or a flag is invalid; tools exit with status 2."""


@dataclass(frozen=True)
class Source:
    dir: Path
    name: str
    excludes: tuple[str, ...] = ()
    exclude_from: tuple[Path, ...] = ()
    max_filesize: int | None = None
    keep_known: bool = True
    exclude_if_present: tuple[str, ...] = DEFAULT_EXCLUDE_IF_PRESENT


@dataclass(frozen=True)
class Config:
    home: Path
    storage: Path
    database: Path
    events: Path
    index_dir: Path
    sources: tuple[Source, ...] = ()
    config_file: Path | None = None
    sections: Mapping[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """A tool's own table from the config file (empty when absent)."""
        value = self.sections.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] in {self.config_file} must be a table")
        return dict(value)

    def with_sources(self, sources: tuple[Source, ...]) -> Config:
        return replace(self, sources=sources)


def default_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("HG_HOME"):
        return Path(env["HG_HOME"]).expanduser()
    data = env.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(data).expanduser() / "hg"


def _path(value: Any, base: Path, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must be a non-empty string, got {value!r}")
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _str_list(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{what} must be a string or a list of strings")
    return tuple(value)


def parse_source(raw: Mapping[str, Any], base: Path) -> Source:
    """A `[[sources]]` table to a Source (paths relative to the config file's folder)."""
    from hg_index.filesize import parse_filesize  # local: filesize imports ConfigError

    if not isinstance(raw, Mapping) or "dir" not in raw:
        raise ConfigError("each [[sources]] needs a 'dir'")
    known = {
        "dir",
        "name",
        "excludes",
        "exclude_from",
        "max_filesize",
        "keep_known",
        "exclude_if_present",
    }
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [[sources]]: {', '.join(sorted(unknown))}")
    d = _path(raw["dir"], base, "sources.dir")
    max_fs = raw.get("max_filesize")
    return Source(
        dir=d,
        name=str(raw.get("name") or source_name(d)),
        excludes=_str_list(raw.get("excludes", []), "sources.excludes"),
        exclude_from=tuple(
            _path(p, base, "sources.exclude_from")
            for p in _str_list(raw.get("exclude_from", []), "sources.exclude_from")
        ),
        max_filesize=parse_filesize(str(max_fs)) if max_fs is not None else None,
        keep_known=bool(raw.get("keep_known", True)),
        exclude_if_present=_str_list(
            raw.get("exclude_if_present", list(DEFAULT_EXCLUDE_IF_PRESENT)),
            "sources.exclude_if_present",
        ),
    )


def source_name(directory: Path) -> str:
    """A source's default name: its folder's name (the root folder is 'root')."""
    return directory.resolve().name or "root"


def build_config(
    home: Path,
    data: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    storage: Path | None = None,
) -> Config:
    """Pure: defaults <- parsed TOML data <- explicit overrides."""
    data = dict(data or {})
    base = config_file.parent if config_file else home
    top_keys = {"storage", "database", "events", "index_dir", "sources"}
    sections = {k: v for k, v in data.items() if k not in top_keys}
    for key, value in sections.items():
        if not isinstance(value, dict):
            raise ConfigError(f"unknown top-level key {key!r} in {config_file}")
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list):
        raise ConfigError("'sources' must be an array of tables ([[sources]])")
    return Config(
        home=home,
        storage=storage or _path(data.get("storage", "storage"), home, "storage"),
        database=_path(data.get("database", "gallery.db"), home, "database"),
        events=_path(data.get("events", "events.ndjson"), home, "events"),
        index_dir=_path(data.get("index_dir", "index"), home, "index_dir"),
        sources=tuple(parse_source(s, base) for s in raw_sources),
        config_file=config_file,
        sections=sections,
    )


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None


def load_config(
    home: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
    storage: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Flags (`home`, `config`, `storage`) over env over the config file over defaults."""
    env = os.environ if env is None else env
    home_path = Path(home).expanduser() if home else default_home(env)
    cfg_path: Path | None
    if config:
        cfg_path = Path(config).expanduser()
    elif env.get("HG_CONFIG"):
        cfg_path = Path(env["HG_CONFIG"]).expanduser()
    else:
        cfg_path = home_path / "config.toml"
        if not cfg_path.exists():
            cfg_path = None
    data = read_toml(cfg_path) if cfg_path else {}
    return build_config(
        home_path.absolute(),
        data,
        cfg_path.absolute() if cfg_path else None,
        Path(storage).expanduser().absolute() if storage else None,
    )
