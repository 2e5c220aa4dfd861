"""HTTP API over loopback with a fake event source (a real Store and hub, no Asterisk)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from edgeqa.api import CLOSE_GOING_AWAY, CLOSE_LAGGED, CLOSE_PRUNED, StreamSettings, make_app
from edgeqa.store import Event, Store
from edgeqa.stream import StreamHub
from tests.support.api import admin_headers, authority

TIMEOUT_S = 10.0


class FakeView:
    """Stands in for the daemon: a fixed snapshot and health."""

    def __init__(self) -> None:
        self.status = "ok"

    def calls_snapshot(self) -> Mapping[str, Any]:
        return {"calls": [{"id": "c1"}], "queues": [], "agents": []}

    def health(self) -> Mapping[str, Any]:
        return {"status": self.status}


class Env:
    def __init__(self, store: Store, hub: StreamHub, client: TestClient[Any, Any],
                 view: FakeView) -> None:
        self.store, self.hub, self.client, self.view = store, hub, client, view

    async def emit(self, n: int, type_: str = "call.updated") -> None:
        stored = await self.store.append([Event(type_, float(i), {"i": i}) for i in range(n)])
        self.hub.publish(stored)


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0, subscriber_queue_max_events=5)
    view = FakeView()
    # The token lives in a store of its own: its audit.entry would take seq 1 of the stream.
    tokens = Store(tmp_path / "tokens.db", synchronous="normal")
    await tokens.open()
    app = make_app(view, hub, StreamSettings(send_timeout_s=2.0, sse_keepalive_s=0.2),
                   auth=authority(tokens))
    client = TestClient(TestServer(app, host="127.0.0.1"), headers=await admin_headers(tokens))
    await client.start_server()
    try:
        yield Env(store, hub, client, view)
    finally:
        hub.close()
        await client.close()
        await tokens.close()
        await store.close()


async def test_health_and_calls(env: Env) -> None:
    resp = await env.client.get("/v1/health")
    assert resp.status == 200 and await resp.json() == {"status": "ok"}
    env.view.status = "degraded"
    assert (await env.client.get("/v1/health")).status == 503
    calls = await (await env.client.get("/v1/calls")).json()
    assert calls["calls"] == [{"id": "c1"}]


async def test_unknown_path_and_method_give_json(env: Env) -> None:
    resp = await env.client.get("/v1/nope")
    assert resp.status == 404
    body = await resp.json()
    assert body["error"] == "not_found" and "/v1/nope" in body["message"]
    resp = await env.client.post("/v1/calls")
    assert resp.status == 405 and (await resp.json())["error"] == "method_not_allowed"


@pytest.mark.parametrize("after", ["x", "-1", "1.5", "", "99999999999999999999"])
async def test_bad_after_is_a_json_400(env: Env, after: str) -> None:
    for path in ("/v1/stream", "/v1/events"):
        resp = await env.client.get(path, params={"after": after})
        assert resp.status == 400
        body = await resp.json()
        assert body["error"] == "bad_request" and "non-negative integer" in body["message"]


async def test_after_beyond_latest_is_a_json_400(env: Env) -> None:
    await env.emit(2)
    resp = await env.client.get("/v1/events", params={"after": "3"})
    assert resp.status == 400
    assert "beyond the latest sequence 2" in (await resp.json())["message"]


async def recv_seqs(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[int]:
    out = []
    for _ in range(n):
        msg = await ws.receive(timeout=TIMEOUT_S)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        env = json.loads(msg.data)
        assert set(env) == {"seq", "type", "at", "schema", "data"}
        out.append(env["seq"])
    return out


async def test_ws_resume_replays_then_live(env: Env) -> None:
    await env.emit(4)
    async with env.client.ws_connect("/v1/stream", params={"after": "1"}) as ws:
        assert await recv_seqs(ws, 3) == [2, 3, 4]
        await env.emit(2)
        assert await recv_seqs(ws, 2) == [5, 6]
    async with env.client.ws_connect("/v1/stream", params={"after": "6"}) as ws:
        await env.emit(1)
        assert await recv_seqs(ws, 1) == [7]


async def test_ws_lagged_consumer_gets_4000_with_resume_point(env: Env) -> None:
    async with env.client.ws_connect("/v1/stream", params={"after": "0"}) as ws:
        await env.emit(1)
        assert await recv_seqs(ws, 1) == [1]
        await env.emit(20)  # one burst beyond the 5-event queue, without yielding
        seqs: list[int] = []
        while True:
            msg = await ws.receive(timeout=TIMEOUT_S)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            seqs.append(json.loads(msg.data)["seq"])
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == CLOSE_LAGGED
        last = seqs[-1] if seqs else 1
        assert msg.extra == f"lagged, resume from {last}"
    async with env.client.ws_connect("/v1/stream", params={"after": str(last)}) as ws:
        assert await recv_seqs(ws, 21 - last) == list(range(last + 1, 22))


async def test_ws_closes_1001_on_shutdown(env: Env) -> None:
    await env.emit(1)
    async with env.client.ws_connect("/v1/stream", params={"after": "0"}) as ws:
        assert await recv_seqs(ws, 1) == [1]
        env.hub.close()
        msg = await ws.receive(timeout=TIMEOUT_S)
        assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == CLOSE_GOING_AWAY
        assert msg.extra == "daemon stopping, resume from 1"


async def read_sse(resp: aiohttp.ClientResponse, n: int) -> list[dict[str, str]]:
    """Read ``n`` SSE events (comments skipped)."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    while len(events) < n:
        line = (await asyncio.wait_for(resp.content.readline(), TIMEOUT_S)).decode()
        assert line, "stream ended early"
        line = line.rstrip("\n")
        if not line:
            if current:
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    return events


async def test_sse_resume_with_last_event_id_and_keepalive(env: Env) -> None:
    await env.emit(3, "agent.updated")
    resp = await env.client.get("/v1/events", headers={"Last-Event-ID": "1"})
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    got = await read_sse(resp, 2)
    assert [e["id"] for e in got] == ["2", "3"]
    assert got[0]["event"] == "agent.updated"
    assert json.loads(got[0]["data"])["seq"] == 2
    line = await asyncio.wait_for(resp.content.readline(), TIMEOUT_S)
    assert line == b": keepalive\n"
    resp.close()


async def test_sse_lag_sends_final_event(env: Env) -> None:
    resp = await env.client.get("/v1/events", params={"after": "0"})
    await asyncio.sleep(0.05)
    await env.emit(30)
    events = await read_sse(resp, 1)
    while events[-1].get("event") != "lagged":
        events += await read_sse(resp, 1)
    final = json.loads(events[-1]["data"])
    delivered = [int(e["id"]) for e in events[:-1]]
    assert final["resume_after"] == (delivered[-1] if delivered else 0)
    assert "id" not in events[-1]
    assert await asyncio.wait_for(resp.content.read(), TIMEOUT_S) == b""  # then the end
    resp.close()


async def test_consumer_that_never_reads_is_dropped_without_stalling(env: Env) -> None:
    """Hand-written fake peer (a real client always reads): WS handshake, then never reads."""
    host, port = env.client.host, env.client.port
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    auth = env.client.session.headers["Authorization"].encode()
    writer.write(f"GET /v1/stream?after=0 HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
                 + b"Authorization: " + auth + b"\r\n"
                 + b"Upgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S)
    assert head.startswith(b"HTTP/1.1 101")
    assert env.hub.subscribers == 1
    big = "x" * 65536
    started = asyncio.get_running_loop().time()
    published = 0
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while env.hub.subscribers:
                stored = await env.store.append(
                    [Event("call.updated", 0.0, {"pad": big}) for _ in range(2)])
                env.hub.publish(stored)  # never waits for the consumer
                published += len(stored)
                await asyncio.sleep(0.01)
    finally:
        writer.close()
        await writer.wait_closed()
    elapsed = asyncio.get_running_loop().time() - started
    assert env.hub.stats.lagged == 1
    assert published > 5 and elapsed < TIMEOUT_S


async def test_plain_get_on_websocket_endpoint_is_a_json_400(env: Env) -> None:
    resp = await env.client.get("/v1/stream")
    assert resp.status == 400
    body = await resp.json()
    assert body["error"] == "bad_request"
    assert env.hub.subscribers == 0


async def test_ws_resume_from_pruned_seq_closes_4002(tmp_path: Path) -> None:
    store = Store(tmp_path / "p.db", synchronous="normal", retention_max_events=10)
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0)
    client = TestClient(TestServer(make_app(FakeView(), hub, StreamSettings(),
                                            auth=authority(store)),
                                   host="127.0.0.1"), headers=await admin_headers(store))
    await client.start_server()
    try:
        for _ in range(25):
            hub.publish(await store.append([Event("x.y", 0.0, {}) for _ in range(50)]))
        first = (await store.read_after(0, 1))[0].seq
        async with client.ws_connect("/v1/stream", params={"after": "3"}) as ws:
            msg = await ws.receive(timeout=TIMEOUT_S)
            assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == CLOSE_PRUNED
            assert msg.extra == f"events 4..{first - 1} were pruned, resume from {first - 1}"
    finally:
        hub.close()
        await client.close()
        await store.close()
