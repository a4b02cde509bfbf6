"""HTTP headers: the security headers on every answer, and the If-None-Match test of the
routes that answer with an ETag.

Security: no sniffing, no framing, a content security policy.
The policy allows what the web app uses and nothing else: scripts, styles, fetches (API,
SSE), video and the manifest from this server; images from it, `data:`/`blob:` (Leaflet's
empty tile) and the map's tile host (`[server] map_tiles`, a URL template: `{s}` in the
host becomes `*`); styles from files only (the app and Leaflet set styles through the CSSOM,
which a policy does not restrict; no style attribute in markup); forms post here only;
nobody may frame it (`frame-ancestors 'none'` and, for older browsers, `X-Frame-Options`).
No page carries inline code, so scripts come from files only and injected code does not run;
the policy is one string per server, made once.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hg_common.config import DEFAULT_MAP_TILES


def tile_source(template: str) -> str | None:
    """The CSP source of a tile URL template: its scheme and host (`{s}.tile.x` ->
    `*.tile.x`); None for no tiles or tiles from this server (a relative URL)."""
    parts = urlsplit(template.strip())
    if not template.strip() or not parts.netloc:
        return None
    host = parts.netloc.rsplit("@", 1)[-1]
    labels = host.split(".")
    if "{" in labels[0]:
        labels[0] = "*"  # the subdomain placeholder: CSP allows a wildcard only there
    if any("{" in label for label in labels):
        return f"{parts.scheme}:"  # placeholders deeper in the host: the scheme alone
    return f"{parts.scheme}://{'.'.join(labels)}"


def content_security_policy(map_tiles: str) -> str:
    tiles = tile_source(map_tiles)
    directives = [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:" + (f" {tiles}" if tiles else ""),
        "media-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


class SecurityHeaders:
    """Adds nosniff, the frame policy and the CSP to every HTTP answer that has none."""

    def __init__(self, app: ASGIApp, map_tiles: str = DEFAULT_MAP_TILES) -> None:
        self.app = app
        self.fixed = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
        ]
        self.policy = content_security_policy(map_tiles).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in self.fixed if h[0] not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", self.policy))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


_ENTITY_TAG = re.compile(r'(?:W/)?"([^"]*)"')
"""An entity tag, weak (`W/"…"`) or strong; its opaque part may hold commas, so a list of
them is scanned for tags rather than split at commas."""


def not_modified(headers: Headers, etag: str) -> bool:
    """Whether a GET/HEAD request's If-None-Match holds for the current `etag` (then the
    answer is 304). RFC 9110 13.1.2: `*` (alone) matches any current representation (the
    caller has one: it made the ETag), and entity tags compare weakly: `W/"x"`, `"x"` and
    the ETag `"x"` are the same. Several header lines count as one comma-separated list."""
    field = ",".join(headers.getlist("if-none-match")).strip()
    if field == "*":
        return True
    ours = _ENTITY_TAG.fullmatch(etag.strip())
    if not field or ours is None:
        return False
    return any(tag.group(1) == ours.group(1) for tag in _ENTITY_TAG.finditer(field))
