"""Who is asking: HTTP Basic or a signed session cookie from the login form.

Without `[[server.users]]` everybody is let in (anonymous). With users, every request
except the login page and its assets needs a user: API and file requests get 401 (with a
Basic challenge unless the web app asked, so the browser shows no dialog), pages are
redirected to the login form. The cookie is `name.expiry.hmac` signed with a key made at
start-up (a restart logs everybody out; Basic keeps working). Verified Basic credentials
are remembered by their digest, so scrypt runs once per user, not once per thumbnail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

from hg_serve.passwords import verify_password
from hg_serve.settings import ServerSettings, User

COOKIE = "hg_session"
PUBLIC = (
    "/login",
    "/logout",
    "/manifest.webmanifest",
    "/static/login.css",
    "/static/login.js",
    "/static/icon.svg",
)


class Sessions:
    """Sign and check session cookies; check Basic credentials (cached)."""

    def __init__(self, settings: ServerSettings, key: bytes | None = None) -> None:
        self.settings = settings
        self.key = key or os.urandom(32)
        self._basic: dict[bytes, str] = {}

    def _mac(self, payload: str) -> str:
        return hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, user: User) -> str:
        expiry = int(time.time() + self.settings.session_hours * 3600)
        name = base64.urlsafe_b64encode(user.name.encode()).decode().rstrip("=")
        payload = f"{name}.{expiry}"
        return f"{payload}.{self._mac(payload)}"

    def from_cookie(self, token: str) -> User | None:
        try:
            name_b64, expiry, mac = token.split(".")
            payload = f"{name_b64}.{expiry}"
            if not hmac.compare_digest(mac, self._mac(payload)) or int(expiry) < time.time():
                return None
            name = base64.urlsafe_b64decode(name_b64 + "=" * (-len(name_b64) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return self.settings.user(name)

    def login(self, name: str, password: str) -> User | None:
        user = self.settings.user(name)
        if user is None:
            verify_password(password, self.settings.users[0].password)  # same time either way
            return None
        return user if verify_password(password, user.password) else None

    def from_basic(self, header: str) -> User | None:
        if not header.lower().startswith("basic "):
            return None
        digest = hashlib.sha256(header.encode()).digest()
        if digest in self._basic:
            return self.settings.user(self._basic[digest])
        try:
            name, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        user = self.login(name, password)
        if user is not None:
            self._basic[digest] = user.name
        return user


def _cookie(headers: dict[bytes, bytes]) -> str | None:
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == COOKIE:
            return value
    return None


class AuthMiddleware:
    """Puts `scope["state"]["user"]` (a User or None) or answers 401 / redirects to login."""

    def __init__(self, app: ASGIApp, sessions: Sessions, base_path: str) -> None:
        self.app = app
        self.sessions = sessions
        self.base = base_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.sessions.settings.auth_required:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        token = _cookie(headers)
        user = self.sessions.from_cookie(token) if token else None
        if user is None and b"authorization" in headers:
            user = self.sessions.from_basic(headers[b"authorization"].decode("latin-1"))
        path = scope["path"]
        rel = path[len(self.base) :] if path.startswith(self.base) else path
        if user is not None or rel in PUBLIC:
            scope.setdefault("state", {})["user"] = user
            await self.app(scope, receive, send)
            return
        if rel.startswith(("/api/", "/files/")):
            extra = (
                []
                if b"x-requested-with" in headers
                else [(b"www-authenticate", b'Basic realm="hg"')]
            )
            await _send(
                send, 401, b'{"error":"authentication required"}', b"application/json", extra
            )
            return
        target = quote(
            path + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        )
        location = f"{self.base}/login?next={target}".encode()
        await _send(send, 303, b"", b"text/plain", [(b"location", location)])


async def _send(send: Send, status: int, body: bytes, ctype: bytes, extra: list) -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
