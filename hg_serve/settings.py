"""hg-serve's settings: the `[server]` table of the shared config, overridden by flags.

Example::

    [server]
    host = "127.0.0.1"
    port = 3000
    base_path = "/gallery"          # serve everything under this prefix ("" = root)
    session_hours = 720             # login-form session lifetime
    map_tiles = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"   # "" = no tiles (offline)

    [[server.users]]
    name = "anna"
    password = "{scrypt}…"          # from `hg-serve hash-password`
    filter = "year >= 2024 and tag:public"   # optional: she sees only this
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hg_build.query import QueryError, compile_query
from hg_index.config import Config, ConfigError
from hg_serve.headers import DEFAULT_MAP_TILES
from hg_serve.passwords import is_hash

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
MAX_EVENT_BODY = 1 << 20
"""POST /api/events bodies above 1 MiB are refused (413), like HomeGallery."""


@dataclass(frozen=True)
class User:
    name: str
    password: str
    filter: str | None = None


@dataclass(frozen=True)
class ServerSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    base_path: str = ""
    users: tuple[User, ...] = ()
    session_hours: float = 720.0
    map_tiles: str = DEFAULT_MAP_TILES

    @property
    def auth_required(self) -> bool:
        return bool(self.users)

    def user(self, name: str) -> User | None:
        return next((u for u in self.users if u.name == name), None)


def normalise_base_path(value: str) -> str:
    """'/gallery/' -> '/gallery'; '' or '/' -> '' (served at the root)."""
    value = (value or "").strip()
    if value in ("", "/"):
        return ""
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+/?", value):
        raise ConfigError(f"base path {value!r} must look like /gallery (letters, digits, ._~-)")
    return value.rstrip("/")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _users(raw: Any) -> tuple[User, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("[[server.users]] must be an array of tables")
    users = []
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ConfigError("each [[server.users]] needs a 'name'")
        unknown = set(item) - {"name", "password", "filter"}
        if unknown:
            raise ConfigError(f"unknown key(s) in [[server.users]]: {', '.join(sorted(unknown))}")
        password = item.get("password")
        if not isinstance(password, str) or not is_hash(password):
            raise ConfigError(
                f"user {item['name']!r}: password must be a hash from `hg-serve hash-password`"
            )
        flt = item.get("filter")
        if flt is not None and not isinstance(flt, str):
            raise ConfigError(f"user {item['name']!r}: filter must be a query string")
        if flt:
            try:
                compile_query(flt)
            except QueryError as exc:
                raise ConfigError(f"user {item['name']!r}: filter: {exc}") from None
        users.append(User(item["name"], password, flt or None))
    names = [u.name for u in users]
    if len(set(names)) != len(names):
        raise ConfigError("[[server.users]] names must be unique")
    return tuple(users)


WATCH_KEYS = {"watch_debounce", "watch_max_delay", "watch_poll"}
"""Read by hg_serve.watch (`hg-serve --watch`)."""


def server_settings(
    cfg: Config,
    host: str | None = None,
    port: int | None = None,
    base_path: str | None = None,
) -> ServerSettings:
    """Pure: defaults <- [server] table <- flags."""
    section = cfg.section("server")
    known = {"host", "port", "base_path", "users", "session_hours", "map_tiles"} | WATCH_KEYS
    unknown = set(section) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [server]: {', '.join(sorted(unknown))}")
    port_value = port if port is not None else section.get("port", DEFAULT_PORT)
    if not isinstance(port_value, int) or not 0 <= port_value <= 65535:
        raise ConfigError(f"port must be 0..65535, got {port_value!r}")
    hours = section.get("session_hours", 720)
    if not isinstance(hours, int | float) or hours <= 0:
        raise ConfigError("session_hours must be a positive number")
    tiles = section.get("map_tiles", DEFAULT_MAP_TILES)
    if not isinstance(tiles, str):
        raise ConfigError("map_tiles must be a URL template string ('' for no tiles)")
    return ServerSettings(
        host=str(host or section.get("host") or DEFAULT_HOST),
        port=port_value,
        base_path=normalise_base_path(
            base_path if base_path is not None else str(section.get("base_path", ""))
        ),
        users=_users(section.get("users")),
        session_hours=float(hours),
        map_tiles=tiles,
    )
