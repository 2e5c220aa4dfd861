"""Connection bounds of the API socket (ApiServer on loopback): head deadline, idle keep-alive,
connection cap, and subscribers per token.

The clients here are hand-written sockets, a FAKE PEER of the kind no real HTTP client is: one
that stops half-way through its request line, or trickles its headers a byte at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from edgeqa.api import ApiServer, StreamSettings, make_app
from edgeqa.api.bounds import BoundedSite, ConnectionBounds
from edgeqa.store import Store
from edgeqa.stream import StreamHub
from tests.support.ami import until
from tests.support.api import authority, new_token

HEAD_S = 0.5
IDLE_S = 2.5  # well above HEAD_S: aiohttp's own keep-alive timer must not be what closes heads
STEP_S = 10.0  # upper bound of any single wait


class FakeView:
    def calls_snapshot(self) -> Mapping[str, Any]:
        return {"calls": []}

    def health(self) -> Mapping[str, Any]:
        return {"status": "ok"}


@dataclass
class Env:
    server: ApiServer
    hub: StreamHub
    port: int
    auth: dict[str, dict[str, str]]  # two feed tokens' headers, "a" and "b"

    @property
    def site(self) -> BoundedSite:
        assert self.server.site is not None
        return self.server.site

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def _env(tmp_path: Path, limits: ConnectionBounds) -> AsyncIterator[Env]:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0, max_subscribers_per_key=2)
    app = make_app(FakeView(), hub, StreamSettings(sse_keepalive_s=0.2), auth=authority(store))
    server = ApiServer(app, "127.0.0.1", 0, limits)
    _, port = await server.start()
    auth = {name: {"Authorization": f"Bearer {await new_token(store, 'feed', name)}"}
            for name in ("a", "b")}
    try:
        yield Env(server, hub, port, auth)
    finally:
        hub.close()
        await server.stop()
        await store.close()


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with _env(tmp_path, ConnectionBounds(HEAD_S, IDLE_S, 64)) as e:
        yield e


async def closed_after(reader: asyncio.StreamReader, *, limit_s: float = STEP_S,
                       started: float | None = None) -> float:
    """Seconds from ``started`` (default: now) until the server closes the connection (EOF or
    reset); what it sent is read."""
    loop = asyncio.get_running_loop()
    started = loop.time() if started is None else started
    async with asyncio.timeout(limit_s):
        try:
            while await reader.read(65536):
                pass
        except ConnectionResetError:
            pass
    return loop.time() - started


async def health_body(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/v1/health") as resp:
        body: dict[str, Any] = await resp.json()
        return body


async def health(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/v1/health") as resp:
        return resp.status


async def test_half_open_requests_are_closed_at_the_head_deadline(env: Env) -> None:
    opened = asyncio.get_running_loop().time()
    conns = [await asyncio.open_connection("127.0.0.1", env.port) for _ in range(40)]
    for _, writer in conns:
        writer.write(b"GET /v1/hea")  # never finished
    await asyncio.sleep(0.05)
    assert env.site.gate.open >= 40
    assert await health(env.url) == 200  # served meanwhile
    waits = await asyncio.gather(*(closed_after(r, started=opened) for r, _ in conns))
    assert HEAD_S - 0.1 <= min(waits) and max(waits) < HEAD_S + 1.5
    assert env.site.gate.head_timeouts >= 40
    for _, writer in conns:
        writer.close()
    await until(lambda: env.site.gate.open == 0, STEP_S)


async def test_slowloris_is_not_extended_by_its_bytes(env: Env) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    request = f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{env.port}\r\nX-Pad: {'a' * 200}"
    sent = 0
    closing = asyncio.create_task(closed_after(reader))
    try:
        for byte in request.encode():
            if closing.done():
                break
            writer.write(bytes([byte]))
            sent += 1
            await asyncio.sleep(0.05)
        await closing
    finally:
        writer.close()
    elapsed = loop.time() - started
    assert sent < len(request)  # closed before it could finish
    assert HEAD_S - 0.1 <= elapsed < HEAD_S + 1.5


async def test_idle_keepalive_closed_and_streams_not_cut(env: Env) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
    writer.write(f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{env.port}\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP_S)
    assert head.startswith(b"HTTP/1.1 200")
    assert IDLE_S - 0.1 <= await closed_after(reader) < IDLE_S + 2.0
    writer.close()
    # A WebSocket outlives both deadlines (it is a request in progress, not a head or idle).
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{env.url}/v1/stream", heartbeat=None,
                                      headers=env.auth["a"])
        await asyncio.sleep(HEAD_S + IDLE_S + 0.3)
        assert not ws.closed and env.hub.subscribers == 1
        await ws.close()


async def test_connections_over_the_cap_get_a_503_and_are_closed(tmp_path: Path) -> None:
    async with _env(tmp_path, ConnectionBounds(STEP_S, STEP_S, 3)) as env:
        held = [await asyncio.open_connection("127.0.0.1", env.port) for _ in range(3)]
        await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
        answer = await asyncio.wait_for(reader.read(), STEP_S)  # then EOF
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b'"error": "unavailable"' in answer and b"at most 3" in answer
        writer.close()
        assert env.site.gate.refused == 1 and env.site.gate.open == 3
        for _, w in held:
            w.close()
        await until(lambda: env.site.gate.open == 0, STEP_S)
        assert await health(env.url) == 200  # a slot is free again
        counters = (await health_body(env.url))["api"]["connections"]
        assert counters == {"open": 1, "refused": 1, "head_timeouts": 0}  # open: this request


async def test_health_counts_head_timeouts(env: Env) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", env.port)
    writer.write(b"GET /v1/health HT")  # FAKE: stops half-way through its request line
    await until(lambda: env.site.gate.head_timeouts == 1, STEP_S)
    writer.close()
    counters = (await health_body(env.url))["api"]["connections"]
    assert counters["head_timeouts"] == 1 and counters["refused"] == 0


async def test_subscribers_capped_per_token(env: Env) -> None:
    async with aiohttp.ClientSession() as session:
        mine = [await session.ws_connect(f"{env.url}/v1/stream", headers=env.auth["a"])
                for _ in range(2)]
        async with session.get(f"{env.url}/v1/events", headers=env.auth["a"]) as resp:
            assert resp.status == 429
            body = await resp.json()
            assert body["error"] == "too_many_streams"
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(f"{env.url}/v1/stream", headers=env.auth["a"])
        assert info.value.status == 429
        other = await session.ws_connect(f"{env.url}/v1/stream", headers=env.auth["b"])
        assert env.hub.subscribers == 3
        await mine[0].close()
        await until(lambda: env.hub.subscribers == 2, STEP_S)
        again = await session.ws_connect(f"{env.url}/v1/stream", headers=env.auth["a"])
        for ws in (mine[1], other, again):
            await ws.close()
