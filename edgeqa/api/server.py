"""The HTTP API (aiohttp): /v1/health, /v1/calls, /v1/calls/{id}/recording,
/v1/calls/{id}/pci/pause|resume, /v1/stream (WebSocket), /v1/events (SSE)."""

from __future__ import annotations

import logging

from aiohttp import web

from edgeqa.api import access, bounds, guard, legal_hold, session
from edgeqa.api import hints as hints_api
from edgeqa.api import spy as spy_api
from edgeqa.api.bounds import BoundedSite, ConnectionBounds
from edgeqa.api.errors import json_errors
from edgeqa.api.keys import (
    HUB_KEY,
    PCI_KEY,
    RECORDINGS_KEY,
    SETTINGS_KEY,
    VIEW_KEY,
    DaemonView,
    StreamSettings,
)
from edgeqa.api.pci import pause_handler, resume_handler
from edgeqa.api.recording import recording_handler
from edgeqa.api.stream import sse_handler, ws_handler
from edgeqa.auth.service import Authority
from edgeqa.hints.service import HintService
from edgeqa.pci.service import PciService
from edgeqa.recording.legal_hold import LegalHoldStore
from edgeqa.recording.playback import StereoCache
from edgeqa.spy.service import SpyService
from edgeqa.stream import StreamHub

log = logging.getLogger(__name__)

#: Largest request body we accept (the API has no bodies; this is a guard).
CLIENT_MAX_BODY_BYTES = 64 * 1024
#: How long open streams get to finish when the server stops.
SHUTDOWN_TIMEOUT_S = 5.0


async def _health(request: web.Request) -> web.Response:
    view: DaemonView = request.app[VIEW_KEY]
    body = dict(view.health())
    connections = bounds.counters(request.app)
    if connections is not None:
        body["api"] = {"connections": connections}
    return web.json_response(body, status=200 if body.get("status") == "ok" else 503)


async def _calls(request: web.Request) -> web.Response:
    view: DaemonView = request.app[VIEW_KEY]
    return web.json_response(access.snapshot_for(request, view.calls_snapshot()))


def make_app(view: DaemonView, hub: StreamHub, settings: StreamSettings,
             recordings: StereoCache | None = None,
             pci: PciService | None = None,
             legal_holds: LegalHoldStore | None = None,
             origins: guard.GuardSettings | None = None, *,
             auth: Authority, spy: SpyService | None = None,
             hints: HintService | None = None) -> web.Application:
    """Return the aiohttp application serving ``view``, ``hub`` and (if recording is on)
    ``recordings``, and the PCI pause of calls (``pci``); ``auth`` checks every request."""
    app = web.Application(middlewares=[json_errors], client_max_size=CLIENT_MAX_BODY_BYTES)
    guard.mount(app, origins)  # Host and Origin checks, first of all middlewares
    app[VIEW_KEY] = view
    app[HUB_KEY] = hub
    app[SETTINGS_KEY] = settings
    if recordings is not None:
        app[RECORDINGS_KEY] = recordings
    if pci is not None:
        app[PCI_KEY] = pci
    app.router.add_get("/v1/health", _health)
    app.router.add_get("/v1/calls", _calls)
    app.router.add_get("/v1/calls/{call_id}/recording", recording_handler)
    legal_hold.mount(app, legal_holds)
    app.router.add_post("/v1/calls/{call_id}/pci/pause", pause_handler)
    app.router.add_post("/v1/calls/{call_id}/pci/resume", resume_handler)
    app.router.add_get("/v1/stream", ws_handler)
    app.router.add_get("/v1/events", sse_handler)
    session.mount(app, auth)
    spy_api.mount(app, spy)  # /v1/spy (issue 11)
    hints_api.mount(app, hints)  # /v1/hints (issue 13)
    return app


class ApiServer:
    """Runs the application on host:port (loopback by default); start/stop are awaited."""

    def __init__(self, app: web.Application, host: str, port: int,
                 limits: ConnectionBounds | None = None) -> None:
        self._limits = limits or ConnectionBounds()
        self.gate = bounds.ConnectionGate(self._limits.max_connections)
        bounds.install(app, self.gate)
        self.site: BoundedSite | None = None
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        self._host = host
        self._port = port
        self.bound: tuple[str, int] | None = None

    async def start(self) -> tuple[str, int]:
        """Bind and serve; return the bound (host, port) (port 0 picks a free port)."""
        await self._runner.setup()
        site = self.site = BoundedSite(self._runner, self._host, self._port, self._limits,
                                            self.gate)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        host, port = self._runner.addresses[0][:2]
        self.bound = (str(host), int(port))
        log.info("api: listening on http://%s:%d/v1/", host, port)
        return self.bound

    async def stop(self) -> None:
        """Stop accepting, let open streams finish (bounded), then close; idempotent."""
        if self.bound is None:
            return
        self.bound = None
        await self._runner.cleanup()
