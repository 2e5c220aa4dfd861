"""The stream per principal: an agent gets its own calls' events, a supervisor its queues',
admin and feed everything; resumed mid-call, a call's facts come from the store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from edgeqa.api import StreamSettings, make_app
from edgeqa.store import Event, Store
from edgeqa.stream import StreamHub
from tests.support.api import CALL_A, CALL_B, FakeView, authority, new_token, queue_call

TIMEOUT_S = 10.0


def history() -> list[Event]:
    """Two calls (A: support/agent1, B: sales/agent2), their metrics, and events of no call."""
    a, b = queue_call(CALL_A, "support", "agent1", "Alice"), queue_call(CALL_B, "sales",
                                                                        "agent2", "Bob")
    return [
        Event("daemon.started", 1.0, {"version": "x", "pid": 1, "resume_from": 0, "api": "-"}),
        Event("call.started", 2.0, {"call": a}),
        Event("call.started", 3.0, {"call": b}),
        Event("leg.sample", 4.0, {"call_id": CALL_A, "leg": "agent"}),
        Event("leg.sample", 5.0, {"call_id": CALL_B, "leg": "agent"}),
        Event("queue.updated", 6.0, {"queue": {"name": "support"}}),
        Event("queue.updated", 7.0, {"queue": {"name": "sales"}}),
        Event("agent.updated", 8.0, {"agent": {"interface": "PJSIP/agent1", "name": "Alice",
                                               "queues": [{"queue": "support"}]}}),
        Event("recording.disk_low", 9.0, {"state": "low"}),
        Event("call.summary", 10.0, {"call_id": CALL_B, "leg": "agent"}),
        Event("call.summary", 11.0, {"call_id": CALL_A, "leg": "agent"}),
    ]


def seen(envelopes: list[Mapping[str, Any]]) -> list[tuple[str, str | None]]:
    out = []
    for e in envelopes:
        data = e["data"]
        call = data.get("call_id") or (data.get("call") or {}).get("call_id")
        out.append((e["type"], call))
    return out


class Env:
    def __init__(self, client: TestClient[Any, Any], store: Store, hub: StreamHub) -> None:
        self.client, self.store, self.hub = client, store, hub

    async def bearer(self, role: str, *scopes: str, agent: str | None = None) -> dict[str, str]:
        secret = await new_token(self.store, role, role, *scopes, agent=agent)
        return {"Authorization": f"Bearer {secret}"}


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0)
    store.publish_to(hub.publish)  # as the daemon's pipeline does: audit.entry events too
    await store.append(history())
    # The tracker holds no call: a resumed reader's unknown calls are looked up in the store.
    app = make_app(FakeView(), hub, StreamSettings(sse_keepalive_s=0.2),
                   auth=authority(store))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Env(client, store, hub)
    finally:
        hub.close()
        await client.close()
        await store.close()


async def ws_read(env: Env, headers: dict[str, str], after: int,
                  last_type: str = "call.summary", last_call: str = CALL_A) -> list[Any]:
    """Envelopes from ``after`` on, up to the last event of the history (call A's summary)."""
    out: list[Any] = []
    async with env.client.ws_connect("/v1/stream", params={"after": str(after)},
                                     headers=headers) as ws:
        while not out or seen(out[-1:]) != [(last_type, last_call)]:
            msg = await ws.receive(timeout=TIMEOUT_S)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            out.append(json.loads(msg.data))
    return out


async def test_an_agent_gets_its_own_calls_only(env: Env) -> None:
    got = seen(await ws_read(env, await env.bearer("agent", agent="PJSIP/agent1"), 0))
    assert got == [("daemon.started", None), ("call.started", CALL_A), ("leg.sample", CALL_A),
                   ("agent.updated", None), ("call.summary", CALL_A)]


async def test_a_supervisor_gets_its_queues(env: Env) -> None:
    got = seen(await ws_read(env, await env.bearer("supervisor", "queue:sales"), 0,
                             "call.summary", CALL_B))
    assert got == [("daemon.started", None), ("call.started", CALL_B), ("leg.sample", CALL_B),
                   ("queue.updated", None), ("call.summary", CALL_B)]


@pytest.mark.parametrize("role", ["admin", "feed"])
async def test_admin_and_feed_get_everything(env: Env, role: str) -> None:
    got = await ws_read(env, await env.bearer(role), 0)
    assert [e["seq"] for e in got] == list(range(1, len(history()) + 1))


async def test_resumed_mid_call_the_call_is_judged_from_the_store(env: Env) -> None:
    # After both call.started: this reader never sees the events that carry the calls.
    got = seen(await ws_read(env, await env.bearer("agent", agent="PJSIP/agent1"), 3))
    assert got == [("leg.sample", CALL_A), ("agent.updated", None), ("call.summary", CALL_A)]


async def test_sse_is_filtered_the_same_way(env: Env) -> None:
    headers = await env.bearer("agent", agent="PJSIP/agent2")
    out: list[Any] = []
    async with env.client.get("/v1/events", params={"after": "0"}, headers=headers) as resp:
        assert resp.status == 200
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
                if out[-1]["type"] == "call.summary":
                    break
    assert seen(out) == [("daemon.started", None), ("call.started", CALL_B),
                         ("leg.sample", CALL_B), ("call.summary", CALL_B)]


@pytest.mark.parametrize("path", ["/v1/stream", "/v1/events"])
async def test_a_revoked_token_loses_its_open_stream(env: Env, path: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeqa.api import visible
    from edgeqa.audit.model import Actor
    from edgeqa.auth.service import revoke_token

    monkeypatch.setattr(visible, "CREDENTIAL_RECHECK_S", 0.0)
    headers = await env.bearer("feed")
    last = await env.store.last_seq()  # the history, then the audit.entry of token.added
    if path == "/v1/stream":
        async with env.client.ws_connect(path, params={"after": str(last)},
                                         headers=headers) as ws:
            await revoke_token(env.store, 1, Actor("cli", "test"), 1.0)
            await env.store.append([Event("daemon.stopping", 1.0, {})])
            msg = await ws.receive(timeout=TIMEOUT_S)
            # token.revoked is audited before the token goes: the feed still gets its entry.
            assert msg.type == aiohttp.WSMsgType.TEXT
            assert json.loads(msg.data)["data"]["action"] == "token.revoked"
            msg = await ws.receive(timeout=TIMEOUT_S)
            assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4003
            assert msg.extra == f"the token was revoked or the session ended, at {last + 1}"
        return
    async with env.client.get(path, params={"after": str(last)}, headers=headers) as resp:
        await revoke_token(env.store, 1, Actor("cli", "test"), 1.0)
        await env.store.append([Event("daemon.stopping", 1.0, {})])
        async with asyncio.timeout(TIMEOUT_S):
            body = (await resp.read()).decode()
    assert "data: " in body and body.split("event: ")[-1].startswith("revoked")
    assert "daemon.stopping" not in body
