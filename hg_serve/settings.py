"""hg-serve's settings: the `[server]` table of the shared config, overridden by flags.

Example::

    [server]
    host = "127.0.0.1"
    port = 3000
    base_path = "/gallery"          # serve everything under this prefix ("" = root)
    session_hours = 720             # login-form session lifetime
    map_tiles = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"   # "" = no tiles (offline)
    ml_api = false                  # also answer HomeGallery's api-server endpoints (--ml-api)

    [[server.users]]
    name = "anna"
    password = "{scrypt}…"          # from `hg-serve hash-password`
    filter = "year >= 2024 and tag:public"   # optional: she sees only this
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from hg_build.api import QueryError, compile_query
from hg_common.config import DEFAULT_MAP_TILES, Config
from hg_common.errors import ConfigError
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
    """Leaflet URL template of the map's tiles (`[server] map_tiles`)."""
    ml_api: bool = False
    """Answer HomeGallery's api-server endpoints with the local model (`--ml-api`)."""

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
    """Keys and types are checked by hg_common.config's schema; here what needs hg-serve and
    hg-build: password hashes, filters that compile, unique names."""
    if raw is None:
        return ()
    users = []
    for item in raw:
        password = item["password"]
        if not is_hash(password):
            raise ConfigError(
                f"user {item['name']!r}: password must be a hash from `hg-serve hash-password`"
            )
        flt = item.get("filter")
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


def server_settings(
    cfg: Config,
    host: str | None = None,
    port: int | None = None,
    base_path: str | None = None,
    ml_api: bool | None = None,
) -> ServerSettings:
    """Pure: defaults <- [server] table (checked by hg_common.config) <- flags."""
    section = cfg.section("server")
    port_value = port if port is not None else section.get("port", DEFAULT_PORT)
    if not isinstance(port_value, int) or not 0 <= port_value <= 65535:  # the flag's
        raise ConfigError(f"port must be 0..65535, got {port_value!r}")
    hours = section.get("session_hours", 720)
    return ServerSettings(
        host=str(host or section.get("host") or DEFAULT_HOST),
        port=port_value,
        base_path=normalise_base_path(
            base_path if base_path is not None else str(section.get("base_path", ""))
        ),
        users=_users(section.get("users")),
        session_hours=float(hours),
        map_tiles=cfg.value("server", "map_tiles"),
        ml_api=bool(ml_api if ml_api is not None else cfg.value("server", "ml_api")),
    )
