"""The FastAGI server: loopback only, bounded, one task per session, routed by script path.

A session that breaks the protocol, sends too much, stalls, or whose handler fails costs that
session only: it is logged in one line (a handler bug with its traceback), answered FAILURE
when Asterisk may still read it (so the dialplan sees AGISTATUS=FAILURE and can play its
prompt), and closed. No exception leaves a session task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from edgeqa.agi.codec import (
    FAILURE_LINE,
    AgiError,
    AgiHangup,
    AgiLimits,
    AgiParser,
    AgiProtocolError,
    AgiReply,
    AgiRequest,
    HangupNotice,
)
from edgeqa.agi.session import READ_CHUNK_BYTES, AgiHandler, AgiSession
from edgeqa.runtime.net import is_loopback

log = logging.getLogger(__name__)

#: Log the first refusal at capacity, then one in this many.
REFUSAL_LOG_EVERY = 100
#: Time to flush FAILURE and close a session's socket.
CLOSE_TIMEOUT_S = 1.0
#: After FAILURE, what is still to read from Asterisk is read (and dropped) for this long, at
#: most DRAIN_MAX_BYTES: closing a socket with unread data sends a reset, and a reset makes
#: res_agi read end-of-script, that is AGISTATUS=SUCCESS instead of FAILURE.
DRAIN_TIMEOUT_S = 0.5
DRAIN_MAX_BYTES = 65536
#: The listen backlog: connections waiting to be accepted (the session limit is max_sessions).
LISTEN_BACKLOG = 1024


@dataclass(slots=True)
class AgiStats:
    """Counters of the server (for /v1/health and the bench)."""

    sessions: int = 0
    active: int = 0
    refused: int = 0
    protocol_errors: int = 0
    timeouts: int = 0
    unrouted: int = 0
    handler_errors: int = 0
    hangups: int = 0


class AgiServer:
    """Serves AGI(agi://127.0.0.1:PORT/ROUTE/...) to ``routes[ROUTE](session)``."""

    def __init__(self, routes: Mapping[str, AgiHandler], *,
                 limits: AgiLimits | None = None) -> None:
        self.routes = routes
        self.limits = limits or AgiLimits()
        self.stats = AgiStats()
        self.address: tuple[str, int] | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        """Listen on loopback ``host:port`` (0: any free port; see ``address``)."""
        if not is_loopback(host):
            raise ValueError(f"the AGI server binds loopback only, not {host!r}")
        self._server = await asyncio.start_server(
            self._serve, host, port, backlog=LISTEN_BACKLOG)
        sock = self._server.sockets[0].getsockname()
        self.address = (str(sock[0]), int(sock[1]))

    async def stop(self) -> None:
        """Stop listening and end every session (their handlers are cancelled)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT_S)
            self._server = None

    def health(self) -> dict[str, object]:
        """Address and counters."""
        s = self.stats
        return {"listening": self.address is not None and self._server is not None,
                "address": f"{self.address[0]}:{self.address[1]}" if self.address else None,
                "sessions": s.sessions, "active": s.active, "refused": s.refused,
                "protocol_errors": s.protocol_errors, "timeouts": s.timeouts,
                "unrouted": s.unrouted, "handler_errors": s.handler_errors,
                "hangups": s.hangups}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        peer = _peer(writer)
        if self.stats.active >= self.limits.max_sessions or task is None:
            self.stats.refused += 1
            if self.stats.refused % REFUSAL_LOG_EVERY == 1:
                log.warning("AGI: refused a session from %s: %d sessions at once (the limit; "
                            "%d refused so far)", peer, self.stats.active, self.stats.refused)
            await _close(reader, writer, FAILURE_LINE)
            return
        self._tasks.add(task)
        self.stats.active += 1
        self.stats.sessions += 1
        failure = True
        try:
            failure = await self._session(reader, writer, peer)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not leave the task: log it, end this session
            log.exception("AGI: session from %s failed", peer)
        finally:
            self.stats.active -= 1
            self._tasks.discard(task)
            await _close(reader, writer, FAILURE_LINE if failure else b"")

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       peer: str) -> bool:
        """Run one session; return True if Asterisk should be told FAILURE."""
        parser = AgiParser(self.limits)
        early: list[AgiReply | HangupNotice] = []
        try:
            async with asyncio.timeout(self.limits.env_timeout_s):
                request = await _read_env(reader, parser, early)
        except TimeoutError:
            self.stats.timeouts += 1
            log.warning("AGI: no complete environment from %s in %g s", peer,
                        self.limits.env_timeout_s)
            return True
        except AgiProtocolError as exc:
            self.stats.protocol_errors += 1
            log.warning("AGI: bad request from %s: %s", peer, exc)
            return True
        except (ConnectionError, OSError, EOFError) as exc:
            self.stats.protocol_errors += 1
            log.warning("AGI: %s closed before its environment ended: %s", peer, exc)
            return False
        handler = self.routes.get(request.route)
        if handler is None:
            self.stats.unrouted += 1
            log.warning("AGI: no route %r (script %r) for %s", request.route,
                        request.script[:80], request.channel)
            return True
        session = AgiSession(request, parser, reader, writer, self.limits, early)
        try:
            await handler(session)
        except AgiHangup as exc:
            self.stats.hangups += 1
            log.info("AGI %s on %s: %s", request.route, request.channel, exc)
            return False
        except AgiError as exc:
            self.stats.protocol_errors += 1
            log.warning("AGI %s on %s: %s", request.route, request.channel, exc)
            return not session.hung_up
        except Exception:
            self.stats.handler_errors += 1
            log.exception("AGI %s handler failed on %s", request.route, request.channel)
            return not session.hung_up
        return False


async def _read_env(reader: asyncio.StreamReader, parser: AgiParser,
                    early: list[AgiReply | HangupNotice]) -> AgiRequest:
    while True:
        data = await reader.read(READ_CHUNK_BYTES)
        if not data:
            raise EOFError("end of stream")
        request: AgiRequest | None = None
        for event in parser.feed(data):
            if isinstance(event, AgiRequest):
                request = event
            else:
                early.append(event)
        if request is not None:
            return request


async def _close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 last: bytes) -> None:
    """Send ``last`` (FAILURE) and our end of stream, drop what Asterisk still sends for a
    moment (no reset), then close."""
    with contextlib.suppress(Exception):
        if last and not writer.is_closing():
            writer.write(last)
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout(DRAIN_TIMEOUT_S):
                left = DRAIN_MAX_BYTES
                while left > 0 and (data := await reader.read(left)):
                    left -= len(data)
    with contextlib.suppress(Exception):
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT_S)


def _peer(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{info[0]}:{info[1]}"
    return "?"
