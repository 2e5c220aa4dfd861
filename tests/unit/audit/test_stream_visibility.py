"""audit.entry on the stream: admin and feed get every entry, a supervisor those of the calls
in its scope, an agent none (not even about its own call: it would learn it is listened to)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from edgeqa.api import StreamSettings, make_app
from edgeqa.audit.model import Actor, AuditEntry
from edgeqa.store import Event, Store
from edgeqa.stream import StreamHub
from tests.support.api import CALL_A, CALL_B, FakeView, authority, new_token, queue_call

TIMEOUT_S = 10.0


@pytest_asyncio.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Store]]:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0)
    store.publish_to(hub.publish)
    a, b = queue_call(CALL_A, "support", "agent1", "Alice"), queue_call(CALL_B, "sales",
                                                                        "agent2", "Bob")
    await store.append([Event("call.started", 1.0, {"call": a}),
                        Event("call.started", 2.0, {"call": b})])
    spy = Actor("dtmf", "PJSIP/super1")
    for call in (CALL_A, CALL_B):
        await store.put_audit(AuditEntry(3.0, spy, "spy.started", call, {
            "agent": "PJSIP/agent1", "mode": "listen"}, source="PJSIP/super1-00000001"))
    await store.put_audit(AuditEntry(4.0, Actor("cli", "root"), "token.added", None, {}))
    app = make_app(FakeView(), hub, StreamSettings(sse_keepalive_s=0.2), auth=authority(store))
    test_client = TestClient(TestServer(app, host="127.0.0.1"))
    await test_client.start_server()
    try:
        yield test_client, store
    finally:
        hub.close()
        await test_client.close()
        await store.close()


async def _audited(client: TestClient[Any, Any], store: Store, role: str, *scopes: str,
                   agent: str | None = None) -> list[tuple[str, str | None]]:
    """The (action, call) of every audit.entry the reader gets, up to a closing marker."""
    secret = await new_token(store, role, role, *scopes, agent=agent)
    await store.append([Event("daemon.stopping", 5.0, {"reason": "signal"})])  # all see it
    got: list[tuple[str, str | None]] = []
    async with client.ws_connect("/v1/stream", params={"after": "0"},
                                 headers={"Authorization": f"Bearer {secret}"}) as ws:
        while True:
            msg = await ws.receive(timeout=TIMEOUT_S)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            env = json.loads(msg.data)
            if env["type"] == "daemon.stopping":
                return got
            if env["type"] == "audit.entry":
                got.append((env["data"]["action"], env["data"]["call_id"]))


@pytest.mark.parametrize("role", ["admin", "feed"])
async def test_admin_and_feed_get_every_entry(client: tuple[TestClient[Any, Any], Store],
                                              role: str) -> None:
    got = await _audited(*client, role)
    assert got[:3] == [("spy.started", CALL_A), ("spy.started", CALL_B), ("token.added", None)]


async def test_a_supervisor_gets_the_entries_of_its_calls(
        client: tuple[TestClient[Any, Any], Store]) -> None:
    assert await _audited(*client, "supervisor", "queue:support") == [
        ("spy.started", CALL_A)]


async def test_an_agent_gets_no_entry_even_of_its_own_call(
        client: tuple[TestClient[Any, Any], Store]) -> None:
    assert await _audited(*client, "agent", agent="PJSIP/agent1") == []
