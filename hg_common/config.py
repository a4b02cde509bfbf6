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
    write_xmp = false                  # true: `hg-build export meta` may write sidecars here

    [server]
    host = "127.0.0.1"
    port = 3000

Each later stage reads its own table (`[extract]`, `[build]`, `[server]`) through
`Config.section`, so the file stays one file. Every table is checked here, against
`SCHEMA`, when the file is loaded: an unknown key (a typo) or a value of the wrong type is
a ConfigError naming the key and its line, whichever tool reads the file, so the tools read
values of the right type and a new key is added to `SCHEMA` first.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hg_common import home as gallery_home
from hg_common.errors import ConfigError
from hg_common.filesize import parse_filesize
from hg_common.home import default_home
from hg_common.limits import parse_add_limits
from hg_common.tomllines import line_of

DEFAULT_EXCLUDE_IF_PRESENT = (".galleryignore", ".nomedia")
DEFAULT_MAP_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


# -- the schema: every key of every table ---------------------------------------------


@dataclass(frozen=True)
class Key:
    """One config key: its kind (see KINDS), an optional further check (returns what is
    wrong, or None), a default (documentation, and `Config.value`), whether it must be set."""

    kind: str
    check: Callable[[Any], str | None] | None = None
    default: Any = None
    required: bool = False


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # TOML's true is not a count


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "path": ("a non-empty string (a path)", lambda v: isinstance(v, str) and v != ""),
    "integer": ("a whole number", _is_int),
    "number": ("a number", _is_number),
    "boolean": ("true or false", lambda v: isinstance(v, bool)),
    "strings": (
        "a string or a list of strings",
        lambda v: (
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        ),
    ),
    "size": ('a size like "200m" or a number of bytes', lambda v: isinstance(v, str) or _is_int(v)),
    "table": ("a table", lambda v: isinstance(v, dict)),
    "tables": ("an array of tables", lambda v: isinstance(v, list)),
}


def at_least(low: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= low else f"must be at least {low:g}"


def positive(v: Any) -> str | None:
    return None if v > 0 else "must be more than 0"


def between(low: int, high: int) -> Callable[[Any], str | None]:
    return lambda v: None if low <= v <= high else f"must be {low}..{high}"


def one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def _add_limits(v: str) -> str | None:
    try:
        parse_add_limits(v)
    except ConfigError as exc:
        return str(exc)
    return None


def _filesize(v: Any) -> str | None:
    try:
        parse_filesize(str(v))
    except ConfigError as exc:
        return str(exc)
    return None


def _http_url(v: str) -> str | None:
    return None if v.startswith(("http://", "https://")) else "must be an http(s):// URL"


def _dask_address(v: str) -> str | None:
    """A Dask scheduler's address (hg-extract --cluster); "" means the local workers."""
    if v == "" or v.startswith(("tcp://", "tls://", "ws://", "wss://")):
        return None
    return 'must be a Dask scheduler address such as "tcp://HOST:8786" (or "")'


def _url_template(v: str) -> str | None:
    """A Leaflet tile URL template: http(s) or relative to this server, with {z} {x} {y};
    "" means no tiles (the map draws its offline outline)."""
    if v == "":
        return None
    scheme = v.split("://", 1)[0] if "://" in v else ""
    if scheme not in ("", "http", "https"):
        return 'must be an http(s) URL, a path on this server or "" (no tiles)'
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in v]
    return f"must contain {', '.join(missing)}" if missing else None


TOP = ""
SCHEMA: dict[str, dict[str, Key]] = {
    TOP: {
        "storage": Key("path", default=gallery_home.STORAGE),
        "database": Key("path", default=gallery_home.DATABASE),
        "events": Key("path", default=gallery_home.EVENTS),
        "index_dir": Key("path", default=gallery_home.INDEX_DIR),
        "sources": Key("tables"),
        "index": Key("table"),
        "extract": Key("table"),
        "build": Key("table"),
        "server": Key("table"),
    },
    "sources": {  # each [[sources]]
        "dir": Key("path", required=True),
        "name": Key("path"),
        "excludes": Key("strings"),
        "exclude_from": Key("strings"),
        "max_filesize": Key("size", _filesize),
        "keep_known": Key("boolean", default=True),
        "exclude_if_present": Key("strings", default=list(DEFAULT_EXCLUDE_IF_PRESENT)),
        # `hg-build export meta` may write XMP sidecars into this source (opt-in: a source
        # without it, e.g. a read-only NAS share, is never written)
        "write_xmp": Key("boolean", default=False),
    },
    "index": {
        "add_limits": Key("string", _add_limits),
        "matcher": Key("string", one_of("size-mtime-inode", "size-mtime", "size")),
        "jobs": Key("integer", at_least(1), default=4),
    },
    "extract": {
        "jobs": Key("integer", at_least(0), default=0),  # 0: one per CPU
        "video": Key("boolean", default=True),
        "geo_server": Key("string"),
        "max_pixels": Key("integer", at_least(1)),
        "video_timeout": Key("number", positive),
        # CPU seconds one file's previews may take (default: hg_extract.extractor.CPU_LIMIT)
        "cpu_limit": Key("number", at_least(0)),
        # the ML step (similar images, objects): the shipped model, an api server, or none
        "ml": Key("string", one_of("local", "api", "off"), default="local"),
        "api_server": Key("string", _http_url),  # HomeGallery api-server for ml = "api"
        "faces": Key("boolean", default=True),  # ml = "local": faces with dlib too
        "api_timeout": Key("number", positive, default=30),
        "api_concurrency": Key("integer", between(1, 20), default=5),
        # a Dask scheduler (tcp://HOST:8786) whose workers do the extraction (hg_extract.cluster)
        "cluster": Key("string", _dask_address, default=""),
        # how its workers reach the originals and the storage: a shared mount (the same
        # paths, or HG_CLUSTER_PATHS), or sent with each task and the artefacts sent back
        "cluster_transfer": Key("string", one_of("shared", "send"), default="shared"),
        # a scheduler that cannot be reached: an error (exit 2), or extract locally
        "cluster_fallback": Key("string", one_of("error", "local"), default="error"),
    },
    "build": {
        "chunk_size": Key("integer", at_least(1), default=500),
        "workers": Key("integer", at_least(0), default=0),  # 0: one per core
        # README once showed `matcher` here: hg-index reads it when [index] has none
        "matcher": Key("string", one_of("size-mtime-inode", "size-mtime", "size")),
    },
    "server": {
        "host": Key("string", default="127.0.0.1"),
        "port": Key("integer", between(0, 65535), default=3000),
        "base_path": Key("string", default=""),
        "session_hours": Key("number", positive, default=720),
        "watch_debounce": Key("number", at_least(0), default=10),
        "watch_max_delay": Key("number", at_least(0), default=600),
        "watch_poll": Key("number", positive),
        "map_tiles": Key("string", _url_template, default=DEFAULT_MAP_TILES),
        # HomeGallery's api-server endpoints (/embeddings, /objects) with the local model
        "ml_api": Key("boolean", default=False),
        "users": Key("tables"),
    },
    "server.users": {  # each [[server.users]]
        "name": Key("string", required=True),
        "password": Key("string", required=True),
        "filter": Key("string"),
    },
}
ARRAYS = {"sources": ("sources",), "users": ("server", "users")}
"""Keys holding arrays of tables -> the schema table of their items (by path)."""


def validate(data: Mapping[str, Any], text: str | None = None, where: str = "") -> None:
    """Check parsed TOML against SCHEMA; the first problem is a ConfigError that names the
    key, its table and (with `text`) its line. Pure."""
    for problem, path in _problems(data, (), TOP):
        line = line_of(text, path)
        at = f"line {line}: " if line else ""
        raise ConfigError(f"{where}{at}{problem}")


def _table_name(at: Sequence[str | int], numbered: bool = True) -> str:
    """() -> 'the top level'; ('server',) -> '[server]'; ('sources', 1) -> '[[sources]] #2'."""
    if not at:
        return "the top level"
    names = ".".join(p for p in at if isinstance(p, str))
    index = next((p for p in at if isinstance(p, int)), None)
    if index is None:
        return f"[{names}]"
    return f"[[{names}]] #{index + 1}" if numbered else f"[[{names}]]"


def _name(path: Sequence[str | int]) -> str:
    """('server', 'port') -> '[server] port'; ('storage',) -> 'storage'."""
    return str(path[-1]) if len(path) == 1 else f"{_table_name(path[:-1])} {path[-1]}"


def _problems(
    data: Mapping[str, Any], at: tuple[str | int, ...], table: str
) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """(what is wrong, path of the key) for a table's keys, depth first."""
    keys = SCHEMA[table]
    for key, value in data.items():
        path = (*at, key)
        spec = keys.get(key)
        if spec is None:
            close = difflib.get_close_matches(key, keys, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(keys))}"
            where = f"in {_table_name(at)}" if at else "at the top level"
            yield f"unknown key {key!r} {where} ({hint})", path
            continue
        words, fits = KINDS[spec.kind]
        if not fits(value):
            yield f"{_name(path)} must be {words}, got {_show(value)}", path
            continue
        wrong = spec.check(value) if spec.check is not None else None
        if wrong:
            yield f"{_name(path)}{' ' if wrong.startswith('must') else ': '}{wrong}", path
        elif spec.kind == "table":
            yield from _problems(value, path, key)
        elif spec.kind == "tables":
            item_table = ".".join(ARRAYS[key])
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    yield f"{_name(path)} must be an array of tables ([[{item_table}]])", path
                    break
                yield from _problems(item, (*path, i), item_table)
    for key, spec in keys.items():
        if spec.required and key not in data:
            yield f"{_name((*at, key))} is missing (each {_table_name(at, False)} needs one)", at


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


@dataclass(frozen=True)
class Source:
    dir: Path
    name: str
    excludes: tuple[str, ...] = ()
    exclude_from: tuple[Path, ...] = ()
    max_filesize: int | None = None
    keep_known: bool = True
    exclude_if_present: tuple[str, ...] = DEFAULT_EXCLUDE_IF_PRESENT
    write_xmp: bool = False


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
        """A tool's own table from the config file (empty when absent), checked against
        SCHEMA: only known keys, each of its kind."""
        if name not in SCHEMA or name == TOP:
            raise KeyError(f"no config table [{name}] in hg_common.config.SCHEMA")
        return dict(self.sections.get(name, {}))

    def value(self, name: str, key: str) -> Any:
        """One key of a table: the file's value, else the schema's default."""
        return self.sections.get(name, {}).get(key, SCHEMA[name][key].default)

    def with_sources(self, sources: tuple[Source, ...]) -> Config:
        return replace(self, sources=sources)


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
    """A `[[sources]]` table (checked by `validate`) to a Source (paths relative to the
    config file's folder)."""
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
        write_xmp=bool(raw.get("write_xmp", False)),
    )


def source_name(directory: Path) -> str:
    """A source's default name: its folder's name (the root folder is 'root')."""
    return directory.resolve().name or "root"


def build_config(
    home: Path,
    data: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    storage: Path | None = None,
    text: str | None = None,
) -> Config:
    """Pure: defaults <- parsed TOML data (checked against SCHEMA; `text`, the file's
    text, gives the line of a problem) <- explicit overrides."""
    data = dict(data or {})
    validate(data, text, f"config file {config_file}, " if config_file else "config: ")
    base = config_file.parent if config_file else home
    top_keys = {"storage", "database", "events", "index_dir", "sources"}
    sections = {k: v for k, v in data.items() if k not in top_keys}
    raw_sources = data.get("sources", [])
    return Config(
        home=home,
        storage=storage or _path(data.get("storage", gallery_home.STORAGE), home, "storage"),
        database=_path(data.get("database", gallery_home.DATABASE), home, "database"),
        events=_path(data.get("events", gallery_home.EVENTS), home, "events"),
        index_dir=_path(data.get("index_dir", gallery_home.INDEX_DIR), home, "index_dir"),
        sources=tuple(parse_source(s, base) for s in raw_sources),
        config_file=config_file,
        sections=sections,
    )


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """The parsed file and its text (for the lines of later problems)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    return parse_toml(raw, path), raw.decode("utf-8")


def parse_toml(raw: bytes, path: Path | str) -> dict[str, Any]:
    """Pure: TOML bytes to data; what is not UTF-8 TOML text is a ConfigError with where."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"config file {path}, line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} "
            "cannot be read); a config file is TOML text, see README's Configuration section"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


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
        cfg_path = gallery_home.config_file(home_path)
        try:
            present = cfg_path.exists()
        except OSError:  # a home this user may not enter: reading the file says so clearly
            present = True
        if not present:
            cfg_path = None
    data, text = read_toml(cfg_path) if cfg_path else ({}, None)
    return build_config(
        home_path.absolute(),
        data,
        cfg_path.absolute() if cfg_path else None,
        Path(storage).expanduser().absolute() if storage else None,
        text,
    )
