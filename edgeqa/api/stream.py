"""WebSocket ``/v1/stream`` and SSE ``/v1/events``: the event stream with resume and lag close."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import WSMsgType, web

from edgeqa.api.errors import json_error, parse_after
from edgeqa.api.keys import HUB_KEY, SETTINGS_KEY, StreamSettings
from edgeqa.api.visible import CredentialRevoked, EventSource, visible_events
from edgeqa.stream import (
    BadCursor,
    Lagged,
    Pruned,
    StreamClosed,
    StreamHub,
    Subscription,
    TooManyForKey,
    TooManySubscribers,
)

log = logging.getLogger(__name__)

#: WebSocket close codes (RFC 6455 section 7.4.2: 4000-4999 are for applications).
CLOSE_LAGGED = 4000
CLOSE_SEND_TIMEOUT = 4001
CLOSE_PRUNED = 4002
CLOSE_REVOKED = 4003
CLOSE_GOING_AWAY = 1001
#: Largest frame a consumer may send us (we read only to notice close and pings).
WS_MAX_INCOMING_BYTES = 4096
WS_HEARTBEAT_S = 20.0


def subscriber_key(request: web.Request) -> str:
    """Whose stream this is: the API token (``request["principal"]``, set by the token check),
    else the peer address."""
    token_id = getattr(request.get("principal"), "token_id", None)
    if token_id is not None:
        return f"token:{token_id}"
    return f"peer:{request.remote or 'unknown'}"


def _subscribe(hub: StreamHub, request: web.Request) -> Subscription | web.Response:
    after = parse_after(request)
    try:
        return hub.subscribe(after, key=subscriber_key(request))
    except BadCursor as exc:
        return json_error(400, "bad_request", str(exc))
    except TooManyForKey as exc:
        return json_error(429, "too_many_streams", f"{exc}; close one first")
    except TooManySubscribers as exc:
        return json_error(503, "unavailable", str(exc))
    except StreamClosed:
        return json_error(503, "unavailable", "the daemon is stopping; retry shortly")


async def _ws_send_loop(ws: web.WebSocketResponse, sub: EventSource,
                        settings: StreamSettings) -> tuple[int, str]:
    sent = sub.last_delivered
    try:
        while True:
            event = await sub.next()
            async with asyncio.timeout(settings.send_timeout_s):
                await ws.send_str(event.envelope_json())
            sent = event.seq
    except Lagged:
        return CLOSE_LAGGED, f"lagged, resume from {sent}"
    except StreamClosed:
        return CLOSE_GOING_AWAY, f"daemon stopping, resume from {sent}"
    except Pruned as exc:
        return CLOSE_PRUNED, str(exc)
    except CredentialRevoked as exc:
        return CLOSE_REVOKED, str(exc)
    except TimeoutError:
        return CLOSE_SEND_TIMEOUT, f"send timeout, resume from {sent}"


async def _ws_read_loop(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            return


async def ws_handler(request: web.Request) -> web.StreamResponse:
    """Stream envelopes as WebSocket text frames; close 4000 "lagged, resume from N" on lag."""
    hub: StreamHub = request.app[HUB_KEY]
    settings: StreamSettings = request.app[SETTINGS_KEY]
    sub = _subscribe(hub, request)
    if isinstance(sub, web.Response):
        return sub
    ws = web.WebSocketResponse(heartbeat=WS_HEARTBEAT_S, max_msg_size=WS_MAX_INCOMING_BYTES)
    try:
        await ws.prepare(request)
        sender = asyncio.create_task(_ws_send_loop(ws, visible_events(request, sub),
                                                   settings))
        reader = asyncio.create_task(_ws_read_loop(ws))
        try:
            await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, reader):
                task.cancel()
            await asyncio.gather(sender, reader, return_exceptions=True)
        if not sender.cancelled() and sender.exception() is None and not ws.closed:
            code, reason = sender.result()
            log.info("stream: closing consumer %s: %s", request.remote, reason)
            try:
                async with asyncio.timeout(settings.send_timeout_s):
                    await ws.close(code=code, message=reason.encode())
            except TimeoutError:
                if request.transport is not None:
                    request.transport.abort()
    finally:
        sub.close()
    return ws


def _sse_frame(event: str, data: str, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


async def sse_handler(request: web.Request) -> web.StreamResponse:
    """Stream envelopes as SSE (id = seq); a final lagged/closed event names the resume point."""
    hub: StreamHub = request.app[HUB_KEY]
    settings: StreamSettings = request.app[SETTINGS_KEY]
    sub = _subscribe(hub, request)
    if isinstance(sub, web.Response):
        return sub
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    source = visible_events(request, sub)
    sent = source.last_delivered
    try:
        await resp.prepare(request)
        final: tuple[str, str] | None = None
        while final is None:
            try:
                event = await asyncio.wait_for(source.next(), settings.sse_keepalive_s)
            except TimeoutError:
                frame = b": keepalive\n\n"
            except Lagged:
                final = ("lagged", f"lagged, resume from {sent}")
                break
            except StreamClosed:
                final = ("closed", f"daemon stopping, resume from {sent}")
                break
            except Pruned as exc:
                final = ("pruned", str(exc))
                sent = exc.first - 1
                break
            except CredentialRevoked as exc:
                final = ("revoked", str(exc))
                break
            else:
                frame = _sse_frame(event.type, event.envelope_json(), event.seq)
            async with asyncio.timeout(settings.send_timeout_s):
                await resp.write(frame)
            if frame[:1] != b":":
                sent = source.last_delivered
        kind, reason = final
        body = json.dumps({"resume_after": sent, "message": reason})
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(settings.send_timeout_s):
                await resp.write(_sse_frame(kind, body))
                await resp.write_eof()
    except (TimeoutError, ConnectionError) as exc:
        log.info("stream: SSE consumer %s dropped: %r", request.remote, exc)
    finally:
        sub.close()
    return resp
