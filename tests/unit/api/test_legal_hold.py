"""PUT/DELETE /v1/calls/{id}/legal-hold over loopback on a real store: audited, idempotent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from edgeqa.api import StreamSettings, make_app
from edgeqa.recording.events import Recording, event_for
from edgeqa.store import Store
from edgeqa.stream import StreamHub
from tests.support.api import FakeView, admin_headers, authority

CALL = "1733012345.7"
URL = f"/v1/calls/{CALL}/legal-hold"


class Env:
    def __init__(self, client: TestClient[Any, Any], store: Store) -> None:
        self.client, self.store = client, store


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    await store.append([event_for(Recording(CALL, "customer", "/r/x.wav", 1.0), 1.0)])
    hub = StreamHub(store.read_after, last_seq=0)
    client = TestClient(TestServer(make_app(FakeView(), hub, StreamSettings(),
                                            legal_holds=store, auth=authority(store)),
                                   host="127.0.0.1"), headers=await admin_headers(store))
    await client.start_server()
    try:
        yield Env(client, store)
    finally:
        hub.close()
        await client.close()
        await store.close()


async def test_set_then_clear_each_audited(env: Env) -> None:
    r = await env.client.put(URL, json={"reason": " case 4711 "})
    body = await r.json()
    assert r.status == 201 and body["legal_hold"]["reason"] == "case 4711"
    assert body["legal_hold"]["set_by"] == "api:admin#1"  # the token, not a body field
    r = await env.client.put(URL, json={"reason": "another"})  # already: the first one stays
    assert r.status == 200 and (await r.json())["legal_hold"]["reason"] == "case 4711"
    assert set(await env.store.legal_holds()) == {CALL}
    r = await env.client.delete(URL)
    assert r.status == 200 and (await r.json())["cleared"]["reason"] == "case 4711"
    assert await env.store.legal_holds() == {}
    r = await env.client.delete(URL)
    assert r.status == 404 and (await r.json())["error"] == "not_found"
    audit = await env.store.audit(action="legal_hold.")
    assert [(a["action"], a["call_id"], a["actor_kind"], a["actor_name"], a["detail"]["reason"])
            for a in audit] == [("legal_hold.set", CALL, "api", "admin#1", "case 4711"),
                                ("legal_hold.cleared", CALL, "api", "admin#1", "case 4711")]


async def test_bad_requests_change_nothing(env: Env) -> None:
    for body, status in ((None, 400), ({"why": "x"}, 400), ({"reason": ""}, 400),
                         ({"reason": "x" * 501}, 400), ({"reason": "a\nb"}, 400)):
        r = await env.client.put(URL, json=body)
        assert r.status == status, body
    r = await env.client.put(URL, data=b"not json")
    assert r.status == 400
    r = await env.client.put("/v1/calls/no-such-call/legal-hold", json={"reason": "x"})
    assert r.status == 404 and "no recordings" in (await r.json())["message"]
    r = await env.client.put("/v1/calls/a%20b/legal-hold", json={"reason": "x"})
    assert r.status == 400
    assert await env.store.legal_holds() == {} and await env.store.audit(action="legal_hold.") == []


async def test_without_a_store_the_routes_answer_503(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0)
    client = TestClient(TestServer(make_app(FakeView(), hub, StreamSettings(),
                                            auth=authority(store)),
                                   host="127.0.0.1"), headers=await admin_headers(store))
    await client.start_server()
    try:
        assert (await client.put(URL, json={"reason": "x"})).status == 503
        assert (await client.delete(URL)).status == 503
    finally:
        hub.close()
        await client.close()
        await store.close()
