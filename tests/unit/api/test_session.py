"""Browser sessions: login sets an HttpOnly SameSite=Strict cookie, state changes need the
CSRF token given at login, logout and revocation end the session; each step audited."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from edgeqa.api import StreamSettings, make_app
from edgeqa.audit.model import Actor
from edgeqa.auth.config import AuthConfig
from edgeqa.auth.service import Authority, revoke_token
from edgeqa.store import Store
from edgeqa.stream import StreamHub
from tests.support.api import FakeView, new_token

PAUSE = "/v1/calls/1733012345.1/pci/pause"


class Env:
    def __init__(self, client: TestClient[Any, Any], store: Store, auth: Authority) -> None:
        self.client, self.store, self.auth = client, store, auth


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0)
    auth = Authority(store, AuthConfig(session_lifetime_s=600.0))
    app = make_app(FakeView(), hub, StreamSettings(), auth=auth)
    # unsafe: the jar keeps cookies for 127.0.0.1 (an IP address), as a browser would.
    client = TestClient(TestServer(app, host="127.0.0.1"), cookie_jar=CookieJar(unsafe=True))
    await client.start_server()
    try:
        yield Env(client, store, auth)
    finally:
        hub.close()
        await client.close()
        await store.close()


async def login(env: Env, token: str) -> str:
    resp = await env.client.post("/v1/session", json={"token": token})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Max-Age=600" in cookie
    assert ("Secure" in cookie) == env.auth.cfg.cookie_secure
    assert token not in cookie and body["role"] == "admin"
    csrf: str = body["csrf_token"]
    return csrf


async def test_login_then_cookie_reads_and_csrf_guards_changes(env: Env) -> None:
    token = await new_token(env.store, "admin", "web")
    assert (await env.client.get("/v1/calls")).status == 401
    csrf = await login(env, token)
    assert (await env.client.get("/v1/calls")).status == 200  # a read needs no CSRF token
    resp = await env.client.post(PAUSE)
    assert resp.status == 403 and "X-CSRF-Token" in (await resp.json())["message"]
    resp = await env.client.post(PAUSE, headers={"X-CSRF-Token": "eqa_wrong"})
    assert resp.status == 403
    resp = await env.client.post(PAUSE, headers={"X-CSRF-Token": csrf})
    assert resp.status == 503  # past access control: no PCI service in this app
    assert (await env.client.delete("/v1/session")).status == 403  # logout changes state too
    resp = await env.client.delete("/v1/session", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await resp.json())["logged_out"] == "web"
    assert (await env.client.get("/v1/calls")).status == 401
    actions = [(a["action"], a["actor_name"]) for a in await env.store.audit()]
    assert actions == [("token.added", "test"), ("session.login", "web#1")]


async def test_a_stolen_cookie_of_an_ended_session_is_refused(env: Env) -> None:
    token = await new_token(env.store, "admin", "web")
    csrf = await login(env, token)
    cookies = {c.key: c.value for c in env.client.session.cookie_jar}
    await env.client.delete("/v1/session", headers={"X-CSRF-Token": csrf})
    resp = await env.client.get("/v1/calls", cookies=cookies)
    assert resp.status == 401


async def test_bad_logins_are_401_and_audited(env: Env) -> None:
    for body in ({"token": "eqa_nope"}, {"token": ""}, {"token": "x" * 1000}):
        resp = await env.client.post("/v1/session", json=body)
        assert resp.status == 401 and "Set-Cookie" not in resp.headers
    assert (await env.client.post("/v1/session", data=b"{")).status == 400
    assert (await env.client.post("/v1/session", json=["token"])).status == 400
    failed = await env.store.audit(action="session.failed")
    assert len(failed) == 3 and failed[0]["actor_name"] == "anonymous"
    assert failed[0]["detail"] == {"remote": "127.0.0.1"} and failed[0]["source"] == "127.0.0.1"


async def test_revoking_the_token_ends_its_sessions(env: Env) -> None:
    token = await new_token(env.store, "admin", "web")
    await login(env, token)
    assert (await env.client.get("/v1/calls")).status == 200
    await revoke_token(env.store, 1, Actor("cli", "test"), time.time())
    assert (await env.client.get("/v1/calls")).status == 401


async def test_a_session_expires(env: Env) -> None:
    token = await new_token(env.store, "admin", "web")
    now = time.time()
    session = await env.auth.login(token, now, "127.0.0.1")
    assert session is not None
    assert await env.auth.session(session.cookie, now + 599) is not None
    assert await env.auth.session(session.cookie, now + 601) is None


async def test_a_bearer_request_needs_no_csrf_and_has_no_session_to_end(env: Env) -> None:
    token = await new_token(env.store, "admin", "cli")
    auth = {"Authorization": f"Bearer {token}"}
    assert (await env.client.post(PAUSE, headers=auth)).status == 503
    assert (await env.client.delete("/v1/session", headers=auth)).status == 400


async def test_the_cookie_is_secure_when_configured(env: Env) -> None:
    env.auth.cfg = AuthConfig(cookie_secure=True)
    resp = await env.client.post("/v1/session",
                                 json={"token": await new_token(env.store, "feed", "f")})
    assert resp.status == 200 and "Secure" in resp.headers["Set-Cookie"]


async def test_too_many_failed_logins_are_refused_unaudited(env: Env) -> None:
    from edgeqa.auth.throttle import LOGIN_FAILURES_MAX

    for _ in range(LOGIN_FAILURES_MAX):
        assert (await env.client.post("/v1/session", json={"token": "eqa_x"})).status == 401
    token = await new_token(env.store, "admin", "web")
    resp = await env.client.post("/v1/session", json={"token": token})
    assert resp.status == 429 and (await resp.json())["error"] == "too_many_requests"
    assert len(await env.store.audit(action="session.failed")) == LOGIN_FAILURES_MAX
    # Another minute later the address may try again.
    assert await env.auth.login(token, time.time() + 61, "127.0.0.1") is not None
