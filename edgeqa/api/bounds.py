"""Connection bounds of the API socket: a request-head deadline, an idle keep-alive limit and
a cap on open connections, refused cheaply beyond it.

aiohttp alone waits for a request head for its keep-alive time (an hour by default), and the
bytes of a slow head do not extend that wait, but nothing caps how many such connections pile
up. Here:
- ``header_timeout_s``: a new connection, and each later request once its first byte arrives,
  must deliver a complete request head (request line + headers) in this time, however slowly
  its bytes trickle in; else the connection is closed (``BoundedHandler``).
- ``idle_timeout_s``: a keep-alive connection with no request in flight is closed after this
  long (aiohttp's own keep-alive timer, armed from the end of each response).
- ``max_connections``: beyond it a new connection gets one fixed ``503`` and is closed at once,
  before any HTTP parsing (``BoundedSite``).

A request counts as started when it reaches the application: ``mark_requests`` is the first
middleware and tells the connection, so a WebSocket or SSE stream is never cut by the head
deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from edgeqa.api.errors import Handler

__all__ = ["BoundedHandler", "BoundedSite", "ConnectionBounds", "ConnectionGate", "mark_requests"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionBounds:
    """The configured limits ([api] header_timeout_s, idle_timeout_s, max_connections)."""

    header_timeout_s: float = 10.0
    idle_timeout_s: float = 30.0
    max_connections: int = 256


@dataclass(slots=True)
class ConnectionGate:
    """Counts open connections against the cap; counters for logs and tests."""

    max_connections: int
    open: int = 0
    refused: int = 0
    head_timeouts: int = 0
    _full: bool = field(default=False, repr=False)

    def admit(self) -> bool:
        """Take a slot for a new connection; False (and counted) when the cap is reached."""
        if self.open >= self.max_connections:
            self.refused += 1
            if not self._full:
                self._full = True
                log.warning("api: %d connections open; refusing new ones ([api] "
                            "max_connections)", self.open)
            return False
        self.open += 1
        return True

    def release(self) -> None:
        """Give a slot back (a connection closed)."""
        self.open -= 1
        if self._full and self.open < self.max_connections:
            self._full = False
            log.info("api: accepting connections again (%d refused so far)", self.refused)


def _refusal_bytes(max_connections: int) -> bytes:
    body = json.dumps({"error": "unavailable",
                       "message": f"too many connections (at most {max_connections}); "
                                  "retry shortly"}).encode()
    head = ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n")
    return head.encode() + body


class _Refusal(asyncio.Protocol):
    """A connection over the cap: one fixed 503, then closed; what it sends is never read."""

    def __init__(self, answer: bytes) -> None:
        self._answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self._answer)
        transport.close()

    def data_received(self, data: bytes) -> None:
        pass


class BoundedHandler(RequestHandler):
    """aiohttp's connection handler with a request-head deadline and a slot in the gate."""

    def __init__(self, manager: web.Server, *, gate: ConnectionGate, header_timeout_s: float,
                 loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._gate = gate
        self._header_timeout_s = header_timeout_s
        self._head_deadline: asyncio.TimerHandle | None = None
        self._in_request = False
        self._holds_slot = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if data and not self._in_request and self._head_deadline is None:
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        if self._holds_slot:
            self._holds_slot = False
            self._gate.release()
        super().connection_lost(exc)

    def request_started(self) -> None:
        """The request head is complete and reached the application."""
        self._in_request = True
        self._disarm()

    def request_ended(self) -> None:
        """The application returned its response."""
        self._in_request = False

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = asyncio.get_running_loop().call_later(
            self._header_timeout_s, self._head_expired)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_expired(self) -> None:
        self._head_deadline = None
        if not self._in_request:
            self._gate.head_timeouts += 1
            self.force_close()


@web.middleware
async def mark_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tell a BoundedHandler when its request starts and ends (the first middleware)."""
    protocol = request.protocol
    if not isinstance(protocol, BoundedHandler):
        return await handler(request)
    protocol.request_started()
    try:
        return await handler(request)
    finally:
        protocol.request_ended()


class BoundedSite(web.BaseSite):
    """A TCP site whose connections are BoundedHandlers, at most ``max_connections`` open."""

    __slots__ = ("_bounds", "_host", "_port", "gate")

    def __init__(self, runner: web.BaseRunner, host: str, port: int,
                 bounds: ConnectionBounds, gate: ConnectionGate | None = None) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._bounds = bounds
        self.gate = gate if gate is not None else ConnectionGate(bounds.max_connections)

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        refusal = _refusal_bytes(self._bounds.max_connections)
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            if not self.gate.admit():
                return _Refusal(refusal)
            return BoundedHandler(server, gate=self.gate, loop=loop,
                                  header_timeout_s=self._bounds.header_timeout_s,
                                  keepalive_timeout=self._bounds.idle_timeout_s,
                                  access_log=None)

        self._server = await loop.create_server(protocol, self._host, self._port,
                                                backlog=self._backlog)


#: The application's ConnectionGate, for /v1/health's counters.
GATE_KEY: web.AppKey[ConnectionGate] = web.AppKey("edgeqa.api.gate", ConnectionGate)


def install(app: web.Application, gate: ConnectionGate) -> None:
    """Make ``mark_requests`` ``app``'s first middleware and keep ``gate`` on it (before the
    app is frozen)."""
    app.middlewares.insert(0, mark_requests)
    app[GATE_KEY] = gate


def counters(app: web.Application) -> dict[str, int] | None:
    """The connection counters /v1/health shows: open now, refused at the cap, head timeouts
    (None for an application not served by an ApiServer, as in aiohttp's test client)."""
    gate = app.get(GATE_KEY)
    if gate is None:
        return None
    return {"open": gate.open, "refused": gate.refused, "head_timeouts": gate.head_timeouts}
