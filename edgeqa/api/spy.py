"""The spy routes (spy_api.md): POST /v1/spy, GET /v1/spy, PATCH and DELETE /v1/spy/{id}.

POST takes ``{"supervisor": "PJSIP/super1", "agent": "PJSIP/agent1" | "call_id": "...",
"mode": "listen"|"whisper"|"barge", "reason": "...", "via": "api"|"cli"}``: 201 with the
session once it is audited and the supervisor's phone is being rung. A denial answers 403
(unauthorised, wrong_pin), 404 (unknown_agent, unknown_call) or 409 (not_on_call,
too_many_spies) with ``{"error": <reason>, "message": ...}``, audited (spy.denied). A
supervisor token acts on the agents of its teams and the calls of its queues
(edgeqa.spy.model.authorise); the audit actor is the token, never the body.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from aiohttp import web

from edgeqa.api.access import AUTH_KEY, principal_of
from edgeqa.api.errors import json_error
from edgeqa.api.keys import VIEW_KEY
from edgeqa.audit.model import Actor
from edgeqa.auth.model import Principal, call_facts, sees_call
from edgeqa.spy.model import SpyDenied, SpySession
from edgeqa.spy.service import AuditFailed, SpyConflict, SpyFailed, SpyNotFound, SpyService

SPY_KEY = web.AppKey("spy", SpyService)
_POST_KEYS = frozenset({"supervisor", "agent", "call_id", "mode", "reason", "via"})
#: The longest string field a body may carry.
MAX_FIELD_CHARS = 200


def mount(app: web.Application, service: SpyService | None) -> None:
    """Serve the spy routes on ``app`` (503 without the service)."""
    if service is not None:
        app[SPY_KEY] = service
    app.router.add_get("/v1/spy", _list)
    app.router.add_post("/v1/spy", _post)
    app.router.add_patch("/v1/spy/{spy_id}", _patch)
    app.router.add_delete("/v1/spy/{spy_id}", _delete)


def _service(request: web.Request) -> SpyService | None:
    return request.app.get(SPY_KEY)


def _unavailable() -> web.Response:
    return json_error(503, "unavailable", "spying is not running on this daemon")


async def _body(request: web.Request, allowed: frozenset[str]) -> dict[str, Any]:
    try:
        body: Any = json.loads(await request.read() or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict) or set(body) - allowed:
        raise ValueError(f"the body must be a JSON object with only {', '.join(sorted(allowed))}")
    for key, value in body.items():
        if value is not None and (not isinstance(value, str) or len(value) > MAX_FIELD_CHARS):
            raise ValueError(f'"{key}" must be a string of at most {MAX_FIELD_CHARS} characters')
    return body


def _via(value: object) -> Literal["api", "cli"]:
    if value in (None, "api"):
        return "api"
    if value == "cli":
        return "cli"
    raise ValueError('"via" must be "api" or "cli"')


def _sees(request: web.Request, principal: Principal, session: SpySession) -> bool:
    """Whether a token may see and act on ``session``: admin, or a supervisor whose scope
    covers the spied call (its live state; else the session's agent)."""
    if principal.role == "admin":
        return True
    teams = request.app[AUTH_KEY].cfg.teams
    snap = request.app[VIEW_KEY].calls_snapshot()
    call = next((c for c in snap.get("calls", ()) if c.get("call_id") == session.call_id),
                {"agent_interface": session.agent, "channels": []})
    return sees_call(principal, call_facts(call), teams)


async def _list(request: web.Request) -> web.Response:
    service = _service(request)
    if service is None:
        return _unavailable()
    principal = principal_of(request)
    spies = [s.to_dict() for s in service.sessions.values() if _sees(request, principal, s)]
    return web.json_response({"spies": spies})


async def _post(request: web.Request) -> web.Response:
    service = _service(request)
    if service is None:
        return _unavailable()
    principal = principal_of(request)
    try:
        body = await _body(request, _POST_KEYS)
        via = _via(body.get("via"))
        supervisor = body.get("supervisor")
        if not supervisor:
            raise ValueError('"supervisor" (the phone to ring, e.g. PJSIP/super1) is missing')
        session = await service.request(
            supervisor=supervisor, agent=body.get("agent"), call_id=body.get("call_id"),
            mode=body.get("mode") or "", reason=body.get("reason") or "",
            principal=principal, via=via, origin=request.remote or "unknown")
    except ValueError as exc:
        return json_error(400, "bad_request", str(exc))
    except SpyDenied as exc:
        return json_error(exc.status, exc.reason, str(exc))
    except (AuditFailed, SpyFailed) as exc:
        return _failed(exc)
    return web.json_response({"spy": session.to_dict()}, status=201)


def _failed(exc: Exception) -> web.Response:
    if isinstance(exc, AuditFailed):
        return json_error(503, "audit_failed", str(exc))
    if isinstance(exc, SpyConflict):
        return json_error(409, "conflict", str(exc))
    return json_error(502, "switch_failed", str(exc))


async def _session_for(request: web.Request
                       ) -> tuple[SpyService, SpySession, Actor] | web.Response:
    """The service, the path's session and the token's actor; or the 503/404 to answer."""
    service = _service(request)
    if service is None:
        return _unavailable()
    principal = principal_of(request)
    try:
        session = service.get(request.match_info["spy_id"])
    except SpyNotFound as exc:
        return json_error(404, "not_found", str(exc))
    if not _sees(request, principal, session):
        return json_error(404, "not_found", f"no spy {request.match_info['spy_id']!r}")
    return service, session, principal.actor


async def _patch(request: web.Request) -> web.Response:
    found = await _session_for(request)
    if isinstance(found, web.Response):
        return found
    service, session, actor = found
    try:
        body = await _body(request, frozenset({"mode", "via"}))
        via = _via(body.get("via"))
        session = await service.change_mode(session.id, body.get("mode") or "",
                                            Actor(via, actor.name))
    except ValueError as exc:
        return json_error(400, "bad_request", str(exc))
    except (AuditFailed, SpyFailed, SpyConflict) as exc:
        return _failed(exc)
    return web.json_response({"spy": session.to_dict()})


async def _delete(request: web.Request) -> web.Response:
    found = await _session_for(request)
    if isinstance(found, web.Response):
        return found
    service, session, actor = found
    via: Literal["api", "cli"] = "cli" if request.query.get("via") == "cli" else "api"
    try:
        session = await service.end(session.id, Actor(via, actor.name))
    except (AuditFailed, SpyFailed, SpyConflict) as exc:
        return _failed(exc)
    return web.json_response({"spy": session.to_dict()})
