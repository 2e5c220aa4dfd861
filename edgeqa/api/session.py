"""POST /v1/session (log in with a token: sets the session cookie, returns the CSRF token)
and DELETE /v1/session (log out). For browsers; other clients send the bearer token."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from edgeqa.api.access import (
    AUTH_KEY,
    SESSION_COOKIE,
    access_control,
    principal_of,
    unauthenticated,
)
from edgeqa.api.errors import json_error
from edgeqa.auth.service import Authority, TooManyLogins


def mount(app: web.Application, authority: Authority) -> None:
    """Check every request of ``app`` (edgeqa.api.access: a middleware after json_errors)
    and serve POST/DELETE /v1/session."""
    app[AUTH_KEY] = authority
    app.middlewares.append(access_control)
    app.router.add_post("/v1/session", login_handler)
    app.router.add_delete("/v1/session", logout_handler)


async def login_handler(request: web.Request) -> web.Response:
    """``{"token": "..."}`` -> 200 with the principal and ``csrf_token``; the cookie is
    ``HttpOnly; SameSite=Strict; Path=/`` (and ``Secure`` if [auth] cookie_secure)."""
    authority = request.app[AUTH_KEY]
    try:
        body: Any = await request.json()
    except ValueError:
        body = None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        return json_error(400, "bad_request", 'the body must be JSON: {"token": "..."}')
    now = time.time()
    try:
        login = await authority.login(token, now, request.remote or "-")
    except TooManyLogins as exc:
        return json_error(429, "too_many_requests", str(exc))
    if login is None:
        return unauthenticated("the token is unknown or revoked")
    p = login.principal
    resp = web.json_response({
        "name": p.name, "role": p.role, "scope": p.scope.describe(),
        "csrf_token": login.csrf, "expires_at": login.expires_at})
    resp.set_cookie(SESSION_COOKIE, login.cookie, path="/", httponly=True, samesite="Strict",
                    secure=authority.cfg.cookie_secure,
                    max_age=int(authority.cfg.session_lifetime_s))
    return resp


async def logout_handler(request: web.Request) -> web.Response:
    """End the request's browser session (a bearer request has none: 400)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None or "Authorization" in request.headers:
        return json_error(400, "bad_request", "no browser session to end (this request "
                                              "authenticated with a bearer token)")
    await request.app[AUTH_KEY].logout(cookie)
    resp = web.json_response({"logged_out": principal_of(request).name})
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp
