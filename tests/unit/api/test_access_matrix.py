"""Acceptance matrix of issue 10: every route of the real app x every role, no token, a bad
token and a revoked token, each with its expected status; error bodies carry no call data.

The routes are read from the app's router: a route added without an entry in EXPECTED (and a
policy in edgeqa.api.access.POLICIES) fails here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from edgeqa.api import StreamSettings, make_app
from edgeqa.audit.model import Actor
from edgeqa.auth.model import Scope
from edgeqa.auth.service import add_token, revoke_token
from edgeqa.store import Store
from edgeqa.stream import StreamHub
from tests.support.api import CALL_A, CALL_B, authority, new_token, queue_call

#: Strings that must never appear in a 401 or 403 body.
SECRETS_OF_CALLS = (CALL_A, CALL_B, "support", "sales", "PJSIP", "Alice", "5551234")


class View:
    """Two live calls, a queue each, their two agents."""

    def calls_snapshot(self) -> Mapping[str, Any]:
        return {"calls": [queue_call(CALL_A, "support", "agent1", "Alice"),
                          queue_call(CALL_B, "sales", "agent2", "Bob")],
                "queues": [{"name": "support", "members": [], "callers": []},
                           {"name": "sales", "members": [], "callers": []}],
                "agents": [{"interface": "PJSIP/agent1", "name": "Alice",
                            "queues": [{"queue": "support"}]},
                           {"interface": "PJSIP/agent2", "name": "Bob",
                            "queues": [{"queue": "sales"}]}],
                "seq": 0}

    def health(self) -> Mapping[str, Any]:
        return {"status": "ok"}


#: Who asks: role tokens (name -> (role, scopes, agent)), then the unauthenticated cases.
PRINCIPALS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "admin": ("admin", (), None),
    "supervisor": ("supervisor", ("queue:support",), None),
    "supervisor_out": ("supervisor", ("queue:billing", "team:south"), None),
    "supervisor_team": ("supervisor", ("team:north",), None),
    "agent": ("agent", (), "PJSIP/agent1"),
    "agent_other": ("agent", (), "PJSIP/agent2"),
    "feed": ("feed", (), None),
    "metrics": ("metrics", (), None),
}
NOBODY = ("no_token", "bad_token", "revoked_token", "not_bearer")
TEAMS = {"north": frozenset({"Alice"}), "south": frozenset({"PJSIP/agent9"})}

OK = "ok"  # past access control: whatever the handler answers, never 401 or 403
ALL_OK = dict.fromkeys(PRINCIPALS, OK)
STREAM = {**ALL_OK, "metrics": 403}
CALLS = {**ALL_OK, "feed": 403, "metrics": 403}
IN_SCOPE = {**dict.fromkeys(PRINCIPALS, 403), "admin": OK, "supervisor": OK,
            "supervisor_team": OK}
PCI = {**IN_SCOPE, "agent": OK}
ADMIN_ONLY = {**dict.fromkeys(PRINCIPALS, 403), "admin": OK}
#: Spies: admin and supervisors (the handler checks a supervisor's scope on the target).
SPY = {**dict.fromkeys(PRINCIPALS, 403), "admin": OK, "supervisor": OK, "supervisor_out": OK,
       "supervisor_team": OK}
#: (method, route) -> expected per principal (401 for NOBODY unless ``open``).
EXPECTED: dict[tuple[str, str], tuple[dict[str, Any], bool]] = {
    ("GET", "/v1/health"): (ALL_OK, True),
    ("GET", "/v1/calls"): (CALLS, False),
    ("GET", "/v1/calls/{call_id}/recording"): (IN_SCOPE, False),
    ("PUT", "/v1/calls/{call_id}/legal-hold"): (ADMIN_ONLY, False),
    ("DELETE", "/v1/calls/{call_id}/legal-hold"): (ADMIN_ONLY, False),
    ("POST", "/v1/calls/{call_id}/pci/pause"): (PCI, False),
    ("POST", "/v1/calls/{call_id}/pci/resume"): (PCI, False),
    ("GET", "/v1/stream"): (STREAM, False),
    ("GET", "/v1/events"): (STREAM, False),
    ("POST", "/v1/session"): (ALL_OK, True),
    ("DELETE", "/v1/session"): (ALL_OK, False),
    ("GET", "/v1/spy"): (SPY, False),
    ("POST", "/v1/spy"): (SPY, False),
    ("PATCH", "/v1/spy/{spy_id}"): (SPY, False),
    ("DELETE", "/v1/spy/{spy_id}"): (SPY, False),
    # Hints (issue 13): admin and supervisors (the handler filters by the supervisor's scope).
    ("GET", "/v1/hints"): (SPY, False),
    ("DELETE", "/v1/hints/{hint_id}"): (SPY, False),
}


class Env:
    def __init__(self, client: TestClient[Any, Any], store: Store,
                 headers: dict[str, dict[str, str]]) -> None:
        self.client, self.store, self.headers = client, store, headers


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0)
    app = make_app(View(), hub, StreamSettings(), legal_holds=store,
                   auth=authority(store, TEAMS))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    headers: dict[str, dict[str, str]] = {}
    for name, (role, scopes, agent) in PRINCIPALS.items():
        secret = await new_token(store, role, name, *scopes, agent=agent)
        headers[name] = {"Authorization": f"Bearer {secret}"}
    revoked_id, revoked = await add_token(store, "gone", "admin", Scope(), Actor("cli", "t"), 2.0)
    await revoke_token(store, revoked_id, Actor("cli", "t"), 3.0)
    headers |= {"no_token": {}, "bad_token": {"Authorization": "Bearer eqa_not-a-token"},
                "revoked_token": {"Authorization": f"Bearer {revoked}"},
                "not_bearer": {"Authorization": f"Basic {revoked}"}}
    try:
        yield Env(client, store, headers)
    finally:
        hub.close()
        await client.close()
        await store.close()


def app_routes(env: Env) -> list[tuple[str, str]]:
    """Every (method, path pattern) the app serves, HEAD judged as GET."""
    app = env.client.server.app
    assert app is not None
    out = set()
    for route in app.router.routes():
        assert route.resource is not None
        method = "GET" if route.method == "HEAD" else route.method
        out.add((method, route.resource.canonical))
    return sorted(out)


async def ask(env: Env, method: str, pattern: str, who: str) -> tuple[int, str]:
    path = pattern.replace("{call_id}", CALL_A).replace("{spy_id}", "0123456789abcdef") \
        .replace("{hint_id}", "0123456789abcdef")
    # A cursor beyond the end: a stream request that passes access control answers 400 at
    # once instead of streaming.
    params = {"after": "999999"} if pattern in ("/v1/stream", "/v1/events") else {}
    resp = await env.client.request(method, path, headers=env.headers[who], params=params)
    return resp.status, await resp.text()


async def test_every_route_every_principal(env: Env) -> None:
    routes = app_routes(env)
    assert set(routes) == set(EXPECTED), "a route without an expected row (or a row too many)"
    failures = []
    for method, pattern in routes:
        expected, is_open = EXPECTED[(method, pattern)]
        cases = {**expected, **dict.fromkeys(NOBODY, OK if is_open else 401)}
        for who, want in cases.items():
            status, body = await ask(env, method, pattern, who)
            got_ok = status not in (401, 403)
            if (want == OK) != got_ok or (want != OK and status != want):
                failures.append(f"{method} {pattern} as {who}: {status}, expected {want}")
            if status in (401, 403):
                leaked = [s for s in SECRETS_OF_CALLS if s in body]
                if leaked or '"error"' not in body:
                    failures.append(f"{method} {pattern} as {who}: body {body!r}")
    assert failures == []


async def test_401_names_the_scheme_and_no_data(env: Env) -> None:
    resp = await env.client.get("/v1/calls")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"] == 'Bearer realm="edgeqa"'
    assert set(await resp.json()) == {"error", "message"}


async def test_calls_are_filtered_per_principal(env: Env) -> None:
    async def calls(who: str) -> dict[str, Any]:
        resp = await env.client.get("/v1/calls", headers=env.headers[who])
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body

    def ids(snap: Mapping[str, Any], key: str, field: str) -> list[str]:
        return [item[field] for item in snap[key]]

    admin = await calls("admin")
    assert ids(admin, "calls", "call_id") == [CALL_A, CALL_B]
    agent = await calls("agent")
    assert ids(agent, "calls", "call_id") == [CALL_A]
    assert ids(agent, "agents", "interface") == ["PJSIP/agent1"] and agent["queues"] == []
    assert ids(await calls("agent_other"), "calls", "call_id") == [CALL_B]
    sup = await calls("supervisor")
    assert ids(sup, "calls", "call_id") == [CALL_A]
    assert ids(sup, "queues", "name") == ["support"]
    assert ids(await calls("supervisor_team"), "calls", "call_id") == [CALL_A]
    out = await calls("supervisor_out")
    assert out["calls"] == [] and out["queues"] == [] and out["agents"] == []


async def test_a_route_without_a_policy_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0)
    app = make_app(View(), hub, StreamSettings(), auth=authority(store))

    async def secret(_: Any) -> Any:
        raise AssertionError("reached")

    app.router.add_get("/v1/new", secret)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        token = await new_token(store, "admin", "root")
        resp = await client.get("/v1/new", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 403 and "no access policy" in (await resp.json())["message"]
    finally:
        hub.close()
        await client.close()
        await store.close()


async def test_health_needs_a_token_off_loopback(env: Env) -> None:
    from unittest import mock

    from aiohttp.test_utils import make_mocked_request

    from edgeqa.api.access import access_control

    app = env.client.server.app
    assert app is not None

    async def handler(_: Any) -> Any:
        from aiohttp import web

        return web.json_response({"status": "ok"})

    async def health(remote: str, headers: dict[str, str]) -> int:
        transport = mock.Mock()
        transport.get_extra_info.side_effect = lambda key, default=None: (
            (remote, 4242) if key == "peername" else default)
        request = make_mocked_request("GET", "/v1/health", headers=headers, app=app,
                                      transport=transport)
        match = await app.router.resolve(request)
        match.add_app(app)
        request._match_info = match
        return (await access_control(request, handler)).status

    assert await health("127.0.0.1", {}) == 200
    assert await health("::1", {}) == 200
    assert await health("192.0.2.7", {}) == 401
    assert await health("192.0.2.7", env.headers["metrics"]) == 200
