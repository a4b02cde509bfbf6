"""The login form: GET shows it, POST checks the password and sets the session cookie."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hg_serve.app_paths import STATIC
from hg_serve.auth import COOKIE, RateLimited, Sessions, client_address

MAX_FORM = 4096


def _safe_next(base: str, target: str | None) -> str:
    """Only a local path under the base path (no open redirect to another site)."""
    if target and target.startswith(base + "/") and not target.startswith("//"):
        return target
    return base + "/"


def _render(
    request: Request,
    message: str = "",
    status: int = 200,
    target: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    base = request.app.state.settings.base_path
    nxt = _safe_next(base, target or request.query_params.get("next"))
    text = (STATIC / "login.html").read_text()
    text = text.replace("%BASE%", base).replace("%NEXT%", html.escape(nxt, quote=True))
    text = text.replace("%MESSAGE%", html.escape(message))
    return HTMLResponse(text, status, {"Cache-Control": "no-store", **(headers or {})})


async def form(request: Request) -> Response:
    return _render(request)


async def submit(request: Request) -> Response:
    sessions: Sessions = request.app.state.sessions
    base = request.app.state.settings.base_path
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return _render(request, "The form is too large.", 413)
    fields = parse_qs(body.decode("utf-8", "replace"))
    name = fields.get("name", [""])[0]
    password = fields.get("password", [""])[0]
    if not sessions.settings.auth_required:
        return RedirectResponse(base + "/", 303)
    target = fields.get("next", [""])[0]
    try:
        user = await sessions.login(name, password, client_address(request.scope))
    except RateLimited as exc:
        message = f"Too many failed logins. Try again in {exc.retry_after} s."
        return _render(request, message, 429, target, {"Retry-After": str(exc.retry_after)})
    if user is None:
        return _render(request, "Wrong name or password.", 401, target)
    response = RedirectResponse(_safe_next(base, fields.get("next", [""])[0]), 303)
    response.set_cookie(
        COOKIE,
        sessions.issue(user),
        max_age=int(sessions.settings.session_hours * 3600),
        path=base + "/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    """Forget the session on both sides: the server revokes it (a copy of the cookie is
    useless now), the browser drops it."""
    base = request.app.state.settings.base_path
    token = request.cookies.get(COOKIE)
    if token:
        request.app.state.sessions.revoke(token)
    response = RedirectResponse(base + "/login", 303)
    response.delete_cookie(COOKIE, path=base + "/")
    return response
