"""PUT/DELETE /v1/calls/{id}/legal-hold: exempt a call's recordings from retention, or not.

PUT takes ``{"reason": "..."}``: 201 with the new legal hold, 200 with the existing one if the
call already is on legal hold. DELETE: 200 with the legal hold that was cleared, 404 if none.
Each change is audited, its actor the request's token (admin only: edgeqa.api.access).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from edgeqa.api.access import principal_of
from edgeqa.api.errors import json_error
from edgeqa.recording.legal_hold import (
    LegalHoldError,
    LegalHoldStore,
    clear_legal_hold,
    set_legal_hold,
)

LEGAL_HOLDS_KEY = web.AppKey("legal_holds", LegalHoldStore)
STATUS_OF = {"bad_request": 400, "unknown": 404, "not_held": 404}
ERROR_OF = {"bad_request": "bad_request", "unknown": "not_found", "not_held": "not_found"}


def mount(app: web.Application, store: LegalHoldStore | None) -> None:
    """Serve the legal-hold routes on ``app`` (503 without a store)."""
    if store is not None:
        app[LEGAL_HOLDS_KEY] = store
    app.router.add_put("/v1/calls/{call_id}/legal-hold", _put)
    app.router.add_delete("/v1/calls/{call_id}/legal-hold", _delete)


def _error(exc: LegalHoldError) -> web.Response:
    return json_error(STATUS_OF[exc.kind], ERROR_OF[exc.kind], str(exc))


async def _put(request: web.Request) -> web.Response:
    store = request.app.get(LEGAL_HOLDS_KEY)
    if store is None:
        return json_error(503, "unavailable", "recording is not enabled on this daemon")
    try:
        body: Any = await request.json()
    except ValueError:
        return json_error(400, "bad_request", 'the body must be JSON: {"reason": "..."}')
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str):
        return json_error(400, "bad_request", 'the body must be JSON: {"reason": "..."}')
    try:
        hold, new = await set_legal_hold(store, request.match_info["call_id"], reason,
                                         principal_of(request).actor, time.time())
    except LegalHoldError as exc:
        return _error(exc)
    return web.json_response({"legal_hold": dict(hold)}, status=201 if new else 200)


async def _delete(request: web.Request) -> web.Response:
    store = request.app.get(LEGAL_HOLDS_KEY)
    if store is None:
        return json_error(503, "unavailable", "recording is not enabled on this daemon")
    try:
        hold = await clear_legal_hold(store, request.match_info["call_id"],
                                      principal_of(request).actor,
                                      time.time())
    except LegalHoldError as exc:
        return _error(exc)
    return web.json_response({"cleared": dict(hold)})
