"""ARI client against a hand-written FAKE ARI peer (127.0.0.1): what real Asterisk never does.

A real Asterisk never sends malformed or oversized frames; this fake peer does, to prove the
events loop counts them, logs them and carries on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from edgeqa.ari.client import AriClient
from edgeqa.ari.rest import AriAuthenticationError, AriConnectionError, AriHttpError

TIMEOUT_S = 5.0
GOOD = {"type": "StasisStart", "channel": {"id": "c1", "name": "PJSIP/x-1"}}


@dataclass
class FakeAri:
    """Script of frames per WebSocket session; records what the client sent."""

    sessions: list[list[str | bytes]]
    status: int = 200
    filter_status: int = 200
    filters: list[Any] = field(default_factory=list)
    subscription_status: int = 200
    #: The eventSource query of each subscription request, and each events URL's query.
    subscriptions: list[str] = field(default_factory=list)
    event_queries: list[str] = field(default_factory=list)
    connects: int = 0
    url: str = ""
    info: tuple[int, str] = (500, '{"message": "boom"}')  # GET /asterisk/info: status, body


@pytest.fixture
async def fake_ari() -> AsyncIterator[FakeAri]:
    fake = FakeAri(sessions=[])

    async def events(request: web.Request) -> web.StreamResponse:
        if fake.status != 200:
            return web.Response(status=fake.status, text='{"message": "nope"}')
        fake.event_queries.append(request.query_string)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        index = fake.connects
        fake.connects += 1
        frames = fake.sessions[index] if index < len(fake.sessions) else []
        for frame in frames:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        if index < len(fake.sessions):
            await ws.close()  # end of script: drop the client so it reconnects
        else:
            async for msg in ws:  # last session: stay up until the client leaves
                if msg.type is WSMsgType.CLOSE:
                    break
        return ws

    async def event_filter(request: web.Request) -> web.Response:
        fake.filters.append(await request.json())
        if fake.filter_status != 200:
            return web.Response(status=fake.filter_status, text='{"message": "read only"}')
        return web.json_response({"name": request.match_info["app"]})

    async def application(request: web.Request) -> web.Response:
        return web.json_response({"name": request.match_info["app"]})

    async def subscription(request: web.Request) -> web.Response:
        fake.subscriptions.append(request.query.get("eventSource", ""))
        if fake.subscription_status != 200:
            return web.Response(status=fake.subscription_status, text='{"message": "no"}')
        return web.json_response({"name": request.match_info["app"]})

    app = web.Application()
    app.router.add_get("/ari/events", events)
    app.router.add_put("/ari/applications/{app}/eventFilter", event_filter)
    app.router.add_get("/ari/applications/{app}", application)
    app.router.add_post("/ari/applications/{app}/subscription", subscription)
    async def info(request: web.Request) -> web.Response:
        return web.Response(status=fake.info[0], text=fake.info[1])

    app.router.add_get("/ari/asterisk/info", info)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}/ari"
    yield fake
    await runner.cleanup()


async def test_malformed_frames_never_crash_the_loop(fake_ari: FakeAri) -> None:
    fake_ari.sessions = [
        ["not json", "[1]", '{"type": 1}', b"\x00binary", json.dumps(GOOD)],
        ["x" * 2048],  # over the client's max frame size: aiohttp closes, we reconnect
    ]
    received: list[Any] = []
    sessions = asyncio.Event()
    hook_calls = 0

    async def on_session() -> None:
        nonlocal hook_calls
        hook_calls += 1
        if hook_calls == 3:
            sessions.set()

    disconnects: list[BaseException | None] = []
    client = AriClient(fake_ari.url, "u", "p", "edgeqa", on_event=received.append,
                       on_session=on_session, on_disconnect=disconnects.append,
                       backoff_initial_s=0.01, backoff_max_s=0.05, max_frame_bytes=1024)
    runner = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(sessions.wait(), TIMEOUT_S)
        assert received == [GOOD]
        assert client.stats.frames_malformed == 5
        assert client.stats.sessions == 3 and client.connected
        assert fake_ari.filters == [{"disallowed": [{"type": "ChannelVarset"}]}] * 3
        # One call per ended WebSocket, with its cause: closed by the peer, then the big frame.
        assert [type(e) for e in disconnects] == [AriConnectionError] * 2
        assert str(disconnects[0]) == "events WebSocket closed (CLOSE)"
        assert "1024" in str(disconnects[1])  # the frame over max_frame_bytes
    finally:
        await client.close()
        await asyncio.wait_for(runner, TIMEOUT_S)
    assert len(disconnects) == 3 and disconnects[-1] is None  # close() reports None


async def test_401_is_fatal(fake_ari: FakeAri) -> None:
    fake_ari.status = 401
    client = AriClient(fake_ari.url, "u", "wrong", "edgeqa", on_event=lambda e: None,
                       backoff_initial_s=0.01)
    with pytest.raises(AriAuthenticationError):
        await asyncio.wait_for(client.run(), TIMEOUT_S)
    assert fake_ari.connects == 0
    await client.close()


async def test_other_handshake_errors_are_retried(fake_ari: FakeAri) -> None:
    fake_ari.status = 503
    client = AriClient(fake_ari.url, "u", "p", "edgeqa", on_event=lambda e: None,
                       backoff_initial_s=0.01, backoff_max_s=0.02)
    runner = asyncio.create_task(client.run())
    await asyncio.sleep(0.3)
    assert not runner.done() and client._backoff.attempts >= 3
    fake_ari.status = 200
    await client.wait_connected(TIMEOUT_S)
    assert client._backoff.attempts == 0  # reset on success
    with pytest.raises(AriHttpError) as info:
        await client.asterisk_info()
    assert (info.value.status, info.value.reason) == (500, "boom")
    await client.close()
    await asyncio.wait_for(runner, TIMEOUT_S)


async def test_refused_event_filter_still_registers(fake_ari: FakeAri) -> None:
    fake_ari.filter_status = 403
    client = AriClient(fake_ari.url, "u", "p", "edgeqa", on_event=lambda e: None)
    runner = asyncio.create_task(client.run())
    await client.wait_connected(TIMEOUT_S)
    assert client.stats.sessions == 1 and len(fake_ari.filters) == 1
    await client.close()
    await asyncio.wait_for(runner, TIMEOUT_S)


async def test_app_subscribes_channels_and_bridges_never_device_states(
        fake_ari: FakeAri) -> None:
    """subscribeAll would subscribe device states, whose teardown can deadlock ARI
    (docs/asterisk.md#ari-device-state-deadlock): channel: and bridge: only."""
    client = AriClient(fake_ari.url, "u", "p", "edgeqa", on_event=lambda e: None)
    runner = asyncio.create_task(client.run())
    await client.wait_connected(TIMEOUT_S)
    assert fake_ari.event_queries == ["app=edgeqa"]
    assert fake_ari.subscriptions == ["channel:,bridge:"]
    await client.close()
    await asyncio.wait_for(runner, TIMEOUT_S)


async def test_refused_subscription_is_retried_not_connected(fake_ari: FakeAri) -> None:
    """Without its subscription the app would miss every channel event: not connected."""
    fake_ari.subscription_status = 500
    client = AriClient(fake_ari.url, "u", "p", "edgeqa", on_event=lambda e: None,
                       backoff_initial_s=0.01, backoff_max_s=0.02)
    runner = asyncio.create_task(client.run())
    for _ in range(200):
        if len(fake_ari.subscriptions) >= 3:
            break
        await asyncio.sleep(0.01)
    assert len(fake_ari.subscriptions) >= 3 and client.stats.sessions == 0
    fake_ari.subscription_status = 200
    await client.wait_connected(TIMEOUT_S)
    assert client.stats.sessions == 1
    await client.close()
    await asyncio.wait_for(runner, TIMEOUT_S)


async def test_close_during_backoff_is_prompt_and_leaves_no_task(fake_ari: FakeAri) -> None:
    fake_ari.status = 503
    attempted = asyncio.Event()

    def jitter() -> float:  # called once per backoff delay: the loop is now waiting
        attempted.set()
        return 1.0

    client = AriClient(fake_ari.url, "u", "p", "edgeqa", on_event=lambda e: None,
                       backoff_initial_s=30.0, backoff_max_s=30.0, rng=jitter)
    runner = asyncio.create_task(client.run())
    await asyncio.wait_for(attempted.wait(), TIMEOUT_S)
    with pytest.raises(RuntimeError, match="already running"):
        await client.run()
    started = asyncio.get_running_loop().time()
    await client.close()
    await asyncio.wait_for(runner, 1.0)  # not the 30 s backoff
    assert asyncio.get_running_loop().time() - started < 1.0
    assert asyncio.all_tasks() == {asyncio.current_task()}
