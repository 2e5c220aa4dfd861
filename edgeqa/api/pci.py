"""POST /v1/calls/{id}/pci/pause and /resume: the PCI pause of a call, audited.

Body (optional JSON): ``{"via": "api"|"cli"}`` (``by`` is still accepted, and ignored). The
audit actor is the request's token (``<via>:<token name>#<id>``), never what the body says.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from edgeqa.api.access import principal_of
from edgeqa.api.errors import json_error
from edgeqa.api.keys import PCI_KEY
from edgeqa.audit.model import Actor
from edgeqa.pci.model import PciError

#: HTTP status per PciError kind.
STATUS_OF = {"unknown_call": 404, "not_connected": 409, "already_paused": 409,
             "not_paused": 409, "switch_failed": 502, "audit_failed": 503, "too_many": 503}


async def pause_handler(request: web.Request) -> web.Response:
    """Pause the call's recording and analysis; 200 with the outcome once audited."""
    return await _act(request, "pause")


async def resume_handler(request: web.Request) -> web.Response:
    """Resume the call's recording and analysis; 200 with the outcome once audited."""
    return await _act(request, "resume")


async def _act(request: web.Request, command: str) -> web.Response:
    service = request.app.get(PCI_KEY)
    if service is None:
        return json_error(503, "unavailable", "PCI pause is not running on this daemon")
    try:
        by = await _actor(request)
    except ValueError as exc:
        return json_error(400, "bad_request", str(exc))
    call_id = request.match_info["call_id"]
    try:
        if command == "pause":
            outcome = await service.pause(call_id, by)
        else:
            outcome = await service.resume(call_id, by)
    except PciError as exc:
        return json_error(STATUS_OF.get(exc.kind, 500), exc.kind, str(exc))
    return web.json_response(outcome.to_dict())


async def _actor(request: web.Request) -> Actor:
    """The request's token as actor, kind ``via`` (see the module docstring)."""
    name = principal_of(request).actor.name
    if not request.can_read_body:
        return Actor("api", name)
    try:
        body: Any = json.loads(await request.read() or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict) or set(body) - {"by", "via"}:
        raise ValueError('the body must be a JSON object with only "by" and "via"')
    via, by = body.get("via", "api"), body.get("by", "")
    if via not in ("api", "cli") or not isinstance(by, str):
        raise ValueError('"via" must be "api" or "cli", and "by" a string')
    return Actor(via, name)
