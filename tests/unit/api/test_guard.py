"""Cross-site guard: Host names (DNS rebinding), Origin on WebSocket/SSE/POST, no wildcard CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from edgeqa.api import StreamSettings, make_app
from edgeqa.api.guard import GuardSettings, OriginPolicy, parse_host, parse_origin
from edgeqa.store import Store
from edgeqa.stream import StreamHub
from tests.support.ami import until
from tests.support.api import admin_headers, authority

EVIL = "http://evil.example"
FRIEND = "https://dash.example:8443"


class FakeView:
    def calls_snapshot(self) -> Mapping[str, Any]:
        return {"calls": []}

    def health(self) -> Mapping[str, Any]:
        return {"status": "ok"}


class Env:
    def __init__(self, client: TestClient[Any, Any], hub: StreamHub) -> None:
        self.client, self.hub = client, hub

    @property
    def own(self) -> str:
        return f"127.0.0.1:{self.client.port}"


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0)
    settings = GuardSettings(allowed_hosts=("pbx.example",), allowed_origins=(FRIEND,))
    app = make_app(FakeView(), hub, StreamSettings(sse_keepalive_s=0.2), origins=settings,
                   auth=authority(store))
    client = TestClient(TestServer(app, host="127.0.0.1"), headers=await admin_headers(store))
    await client.start_server()
    try:
        yield Env(client, hub)
    finally:
        hub.close()
        await client.close()
        await store.close()


@pytest.mark.parametrize(("text", "parsed"), [
    ("localhost:8765", ("localhost", 8765)), ("LOCALHOST", ("localhost", None)),
    ("[::1]:80", ("[::1]", 80)), ("127.0.0.1:1", ("127.0.0.1", 1)),
    ("evil.example:8765", ("evil.example", 8765)),
    ("*", None), ("*.example", None), ("a b", None), ("host:0", None), ("host:65536", None),
    ("host:80:80", None), ("[::1", None), ("[nope]:80", None), ("host:+80", None),
    ("user@host", None), ("", None), ("host:８０", None),
])
def test_parse_host(text: str, parsed: tuple[str, int | None] | None) -> None:
    assert parse_host(text) == parsed


@pytest.mark.parametrize(("text", "parsed"), [
    ("http://LOCALHOST:8765", "http://localhost:8765"), ("https://a.example:443", "https://a.example"),
    ("http://a.example:80", "http://a.example"), ("http://[::1]:9", "http://[::1]:9"),
    ("null", None), ("*", None), ("http://*", None), ("file://x", None), ("ftp://a.example", None),
    ("http://a.example/", None), ("http://a.example/path", None), ("http://u:p@a.example", None),
    ("http://a.example?", None), ("http://a.example#f", None), ("", None),
])
def test_parse_origin(text: str, parsed: str | None) -> None:
    assert parse_origin(text) == parsed


def test_policy_decisions() -> None:
    policy = OriginPolicy(GuardSettings(("pbx.example", "proxy.example:443"), (FRIEND,), "::1"))
    for host in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765", "pbx.example",
                 "pbx.example:8765", "proxy.example:443", "PBX.EXAMPLE"):
        assert policy.host_error(host, 8765) is None, host
    for host in ("evil.example:8765", "localhost:9999", "localhost", "pbx.example:9999",
                 "proxy.example", "127.0.0.2:8765", "0.0.0.0:8765", "localhost.:8765"):
        assert policy.host_error(host, 8765) is not None, host
    assert policy.host_error(None, 8765) is None  # no Host: not a browser
    assert policy.origin_error(None, "localhost:8765") is None
    assert policy.origin_error("http://localhost:8765", "localhost:8765") is None
    assert policy.origin_error("https://dash.example:8443", "localhost:8765") is None
    for origin in (EVIL, "null", "http://localhost:9999", "http://127.0.0.1:8765", "*"):
        assert policy.origin_error(origin, "localhost:8765") is not None, origin
    assert policy.cors_origin(FRIEND) == FRIEND
    assert policy.cors_origin("http://localhost:8765") is None  # same origin needs no CORS
    assert policy.cors_origin(EVIL) is None
    wildcard_bind = OriginPolicy(GuardSettings(bind_host="0.0.0.0"))
    assert wildcard_bind.host_error("0.0.0.0:8765", 8765) is None  # `edgeqa` CLI's own URL
    assert wildcard_bind.host_error("evil.example:8765", 8765) is not None
    with pytest.raises(ValueError):
        OriginPolicy(GuardSettings(allowed_origins=("*",)))
    with pytest.raises(ValueError):
        OriginPolicy(GuardSettings(allowed_hosts=("*.example",)))


async def test_websocket_from_a_foreign_origin_is_refused(env: Env) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await env.client.ws_connect("/v1/stream", origin=EVIL)
    assert info.value.status == 403
    assert env.hub.subscribers == 0
    resp = await env.client.get("/v1/stream", headers={"Origin": EVIL, "Upgrade": "websocket",
                                                       "Connection": "Upgrade"})
    assert resp.status == 403
    body = await resp.json()
    assert body["error"] == "forbidden_origin" and "evil.example" in body["message"]


async def test_websocket_with_a_foreign_host_is_refused(env: Env) -> None:
    for host in (f"evil.example:{env.client.port}", "localhost:1", "evil.example"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await env.client.ws_connect("/v1/stream", headers={"Host": host})
        assert info.value.status == 421, host
    resp = await env.client.get("/v1/calls", headers={"Host": f"evil.example:{env.client.port}"})
    assert resp.status == 421
    body = await resp.json()
    assert body["error"] == "misdirected_request" and "calls" not in body
    assert env.hub.subscribers == 0


async def test_allowed_websockets_pass(env: Env) -> None:
    for headers, origin in (({}, None), ({}, f"http://{env.own}"), ({}, FRIEND),
                            ({"Host": f"localhost:{env.client.port}"}, None),
                            ({"Host": "pbx.example"}, None)):
        ws = await env.client.ws_connect("/v1/stream", headers=headers, origin=origin)
        assert env.hub.subscribers == 1
        await ws.close()
        await until(lambda: env.hub.subscribers == 0, 5.0)


async def test_sse_and_post_check_origin(env: Env) -> None:
    resp = await env.client.get("/v1/events", headers={"Origin": EVIL})
    assert resp.status == 403
    for origin in (EVIL, "null"):
        resp = await env.client.post("/v1/calls/c1/pci/pause", headers={"Origin": origin})
        assert resp.status == 403, origin
        assert (await resp.json())["error"] == "forbidden_origin"
    # Without an Origin (a non-browser client) the request reaches its handler.
    resp = await env.client.post("/v1/calls/c1/pci/pause")
    assert resp.status != 403


async def test_no_wildcard_cors_and_allowed_origin_echoed(env: Env) -> None:
    plain = await env.client.get("/v1/calls")
    assert "Access-Control-Allow-Origin" not in plain.headers
    friend = await env.client.get("/v1/calls", headers={"Origin": FRIEND})
    assert friend.status == 200
    assert friend.headers.getall("Access-Control-Allow-Origin") == [FRIEND]
    assert "Origin" in friend.headers.get("Vary", "")
    own = await env.client.get("/v1/calls", headers={"Origin": f"http://{env.own}"})
    assert own.status == 200 and "Access-Control-Allow-Origin" not in own.headers
    refused = await env.client.get("/v1/calls", headers={"Origin": EVIL})
    assert refused.status == 403 and "Access-Control-Allow-Origin" not in refused.headers
    for resp in (plain, friend, own, refused):
        assert resp.headers.get("Access-Control-Allow-Origin") != "*"


async def test_preflight_only_for_allowed_origins(env: Env) -> None:
    ask = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "Authorization, Content-Type"}
    ok = await env.client.options("/v1/calls/c1/pci/pause", headers={"Origin": FRIEND, **ask})
    assert ok.status == 204
    assert ok.headers["Access-Control-Allow-Origin"] == FRIEND
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert ok.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    bad = await env.client.options("/v1/calls/c1/pci/pause", headers={"Origin": EVIL, **ask})
    assert bad.status == 403 and "Access-Control-Allow-Origin" not in bad.headers
