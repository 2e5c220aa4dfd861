"""JSON error bodies for every failed API request: ``{"error": slug, "message": text}``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, error: str, message: str) -> web.Response:
    """Return a JSON error response."""
    return web.json_response({"error": error, "message": message}, status=status)


def parse_after(request: web.Request) -> int | None:
    """Return the resume cursor from ``?after=N`` or ``Last-Event-ID`` (None: live only)."""
    raw = request.query.get("after")
    source = "after"
    if raw is None:
        raw = request.headers.get("Last-Event-ID")
        source = "Last-Event-ID"
    if raw is None:
        return None
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise web.HTTPBadRequest(reason=f"{source} must be a non-negative integer, got {raw!r}")
    return int(text)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn HTTP errors (unknown path, bad method, bad query) into JSON bodies."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        slug = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
                409: "conflict", 503: "unavailable"}.get(exc.status, "error")
        message = exc.reason
        if exc.status == 404:
            message = f"no such endpoint: {request.path} (see /v1/health, /v1/calls, " \
                      "/v1/stream, /v1/events)"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        return json_error(exc.status, slug, message)
