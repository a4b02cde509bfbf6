"""Who is asking: HTTP Basic or a signed session cookie from the login form.

Without `[[server.users]]` everybody is let in (anonymous). With users, every request
except the login page and its assets needs a user: API and file requests get 401 (with a
Basic challenge unless the web app asked, so the browser shows no dialog), pages are
redirected to the login form. The cookie is `name.expiry.sid.hmac` signed with a key made
at start-up (a restart logs everybody out; Basic keeps working); logging out revokes its
`sid` until it would have expired. Verified Basic credentials are remembered by their
digest, so scrypt runs once per user, not once per thumbnail.

scrypt (~50 ms of CPU) runs in one thread of its own, never on the event loop: a crowd of
wrong passwords must not stall the pages of users who are logged in, nor take both cores.
Failed logins are limited per client address (`LoginLimiter`: 5 a minute, then 429 with
`Retry-After`), form and Basic alike; attempts in flight count, so 30 at once hash 5.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from hg_serve.mlapi import PATHS as MACHINE_PATHS
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
LOGIN_LIMIT = 5  # failed logins per client address and window
LOGIN_WINDOW = 60.0  # seconds
MAX_CLIENTS = 10_000  # addresses remembered by the limiter (the oldest are forgotten)


class RateLimited(Exception):
    """Too many failed logins from this client: try again in `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins: try again in {math.ceil(retry_after)} s")
        self.retry_after = max(1, math.ceil(retry_after))


class LoginLimiter:
    """Failed logins per client in a sliding window; pure state (the clock is passed in).

    `begin` reserves an attempt (refused when the failures and the attempts in flight reach
    the limit), `end` settles it: a failure is remembered for `window` seconds, a success
    forgets the client's failures."""

    def __init__(
        self,
        limit: int = LOGIN_LIMIT,
        window: float = LOGIN_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._pending: dict[str, int] = {}

    def begin(self, client: str) -> None:
        now = self.clock()
        failed = self._failures.get(client)
        while failed and failed[0] <= now - self.window:
            failed.popleft()
        count = len(failed or ()) + self._pending.get(client, 0)
        if count >= self.limit:
            # wait until the oldest failure leaves the window (in flight only: a moment)
            raise RateLimited(failed[0] + self.window - now if failed else 1.0)
        self._pending[client] = self._pending.get(client, 0) + 1

    def end(self, client: str, ok: bool) -> None:
        left = self._pending.get(client, 1) - 1
        if left > 0:
            self._pending[client] = left
        else:
            self._pending.pop(client, None)
        if ok:
            self._failures.pop(client, None)
            return
        self._failures.setdefault(client, deque()).append(self.clock())
        self._failures.move_to_end(client)
        while len(self._failures) > MAX_CLIENTS:
            self._failures.popitem(last=False)


class Sessions:
    """Sign and check session cookies; check passwords (off the loop, rate-limited) and
    Basic credentials (cached)."""

    def __init__(
        self,
        settings: ServerSettings,
        key: bytes | None = None,
        limiter: LoginLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.key = key or os.urandom(32)
        self.limiter = limiter or LoginLimiter()
        self._basic: dict[bytes, str] = {}
        self._revoked: dict[str, int] = {}  # sid -> its cookie's expiry (then dropped)
        # one thread: hashing never takes both cores, whatever the number of attempts
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="hg-serve-scrypt")

    def _mac(self, payload: str) -> str:
        return hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, user: User) -> str:
        expiry = int(time.time() + self.settings.session_hours * 3600)
        name = base64.urlsafe_b64encode(user.name.encode()).decode().rstrip("=")
        sid = base64.urlsafe_b64encode(os.urandom(12)).decode()
        payload = f"{name}.{expiry}.{sid}"
        return f"{payload}.{self._mac(payload)}"

    def _parse(self, token: str) -> tuple[str, int, str] | None:
        """(user name, expiry, sid) of a genuine, unexpired cookie."""
        try:
            name_b64, expiry, sid, mac = token.split(".")
            payload = f"{name_b64}.{expiry}.{sid}"
            if not hmac.compare_digest(mac, self._mac(payload)) or int(expiry) < time.time():
                return None
            name = base64.urlsafe_b64decode(name_b64 + "=" * (-len(name_b64) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return name, int(expiry), sid

    def from_cookie(self, token: str) -> User | None:
        parsed = self._parse(token)
        if parsed is None or parsed[2] in self._revoked:
            return None
        return self.settings.user(parsed[0])

    def revoke(self, token: str) -> None:
        """Logout: this cookie no longer works, even if someone kept a copy."""
        parsed = self._parse(token)
        if parsed is None:
            return
        now = time.time()
        self._revoked = {s: e for s, e in self._revoked.items() if e >= now}  # expired anyway
        self._revoked[parsed[2]] = parsed[1]

    def _check(self, name: str, password: str) -> User | None:
        """Blocking: scrypt. Runs in the hashing thread."""
        user = self.settings.user(name)
        if user is None:
            verify_password(password, self.settings.users[0].password)  # same time either way
            return None
        return user if verify_password(password, user.password) else None

    async def login(self, name: str, password: str, client: str) -> User | None:
        """The user for a name and password, or None; RateLimited when this client failed
        too often (nothing is hashed then)."""
        self.limiter.begin(client)
        user = None
        try:
            loop = asyncio.get_running_loop()
            user = await loop.run_in_executor(self._hasher, self._check, name, password)
        finally:
            self.limiter.end(client, user is not None)
        return user

    async def from_basic(self, header: str, client: str) -> User | None:
        if not header.lower().startswith("basic "):
            return None
        digest = hashlib.sha256(header.encode()).digest()
        if digest in self._basic:  # verified before: no hashing, no limit
            return self.settings.user(self._basic[digest])
        try:
            name, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        user = await self.login(name, password, client)
        if user is not None:
            self._basic[digest] = user.name
        return user

    def close(self) -> None:
        self._hasher.shutdown(wait=False, cancel_futures=True)


def client_address(scope: Scope) -> str:
    """The peer's address (proxy headers are not trusted: see the README)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


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
            header = headers[b"authorization"].decode("latin-1")
            try:
                user = await self.sessions.from_basic(header, client_address(scope))
            except RateLimited as exc:
                body = orjson.dumps({"error": str(exc)})
                retry = [(b"retry-after", str(exc.retry_after).encode())]
                await _send(send, 429, body, b"application/json", retry)
                return
        path = scope["path"]
        rel = path[len(self.base) :] if path.startswith(self.base) else path
        if user is not None or rel in PUBLIC:
            scope.setdefault("state", {})["user"] = user
            await self.app(scope, receive, send)
            return
        if rel.startswith(("/api/", "/files/", "/originals/", "/faces/")) or rel in MACHINE_PATHS:
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
