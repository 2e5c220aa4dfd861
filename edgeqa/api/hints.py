"""The hints routes (issue 13): GET /v1/hints (the active hints and the recently ended ones),
DELETE /v1/hints/{hint_id} (clear one: what it changed is put back now, audited as the token).

Admin, or a supervisor for the hints of its queues and of its teams' agents; never an agent.
"""

from __future__ import annotations

from aiohttp import web

from edgeqa.api.access import AUTH_KEY, principal_of
from edgeqa.api.errors import json_error
from edgeqa.audit.model import Actor
from edgeqa.auth.model import Principal
from edgeqa.auth.visibility import sees_hint
from edgeqa.hints.model import Hint
from edgeqa.hints.service import HintFailed, HintNotFound, HintService

HINTS_KEY = web.AppKey("hints", HintService)


def mount(app: web.Application, service: HintService | None) -> None:
    """Serve the hints routes on ``app`` (503 without the service)."""
    if service is not None:
        app[HINTS_KEY] = service
    app.router.add_get("/v1/hints", _list)
    app.router.add_delete("/v1/hints/{hint_id}", _delete)


def _sees(request: web.Request, principal: Principal, hint: Hint) -> bool:
    return sees_hint(principal, hint.to_dict(), request.app[AUTH_KEY].cfg.teams)


async def _list(request: web.Request) -> web.Response:
    service = request.app.get(HINTS_KEY)
    if service is None:
        return json_error(503, "unavailable", "hints are not running on this daemon")
    principal = principal_of(request)
    hints = sorted((h for h in service.hints.values() if _sees(request, principal, h)),
                   key=lambda h: h.created_at)
    return web.json_response({"dry_run": service.cfg.dry_run,
                              "hints": [h.to_dict() for h in hints]})


async def _delete(request: web.Request) -> web.Response:
    service = request.app.get(HINTS_KEY)
    if service is None:
        return json_error(503, "unavailable", "hints are not running on this daemon")
    principal = principal_of(request)
    hint_id = request.match_info["hint_id"]
    hint = service.hints.get(hint_id)
    if hint is None or hint.state != "active" or not _sees(request, principal, hint):
        return json_error(404, "not_found", f"no active hint {hint_id[:40]!r}")
    by = Actor("cli" if request.query.get("via") == "cli" else "api", principal.actor.name)
    try:
        ended = await service.clear(hint_id, by)
    except HintNotFound as exc:
        return json_error(404, "not_found", str(exc))
    except HintFailed as exc:
        return json_error(502, "switch_failed", str(exc))
    return web.json_response({"hint": ended.to_dict()})
