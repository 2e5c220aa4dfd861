"""POST/GET/PATCH/DELETE /v1/spy on the real app: statuses, JSON errors, scope, audits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from edgeqa.api import StreamSettings, make_app
from edgeqa.store import Store
from edgeqa.stream import StreamHub
from tests.support.api import authority, new_token
from tests.unit.spy.support import TEAMS
from tests.unit.spy.test_service import SNAP, Log, service


class View:
    def calls_snapshot(self) -> Mapping[str, Any]:
        return SNAP

    def health(self) -> Mapping[str, Any]:
        return {"status": "ok"}


class Env:
    def __init__(self, client: TestClient[Any, Any], log: Log,
                 headers: dict[str, dict[str, str]]) -> None:
        self.client, self.log, self.headers = client, log, headers

    async def post(self, who: str, body: Any) -> tuple[int, dict[str, Any]]:
        resp = await self.client.post("/v1/spy", json=body, headers=self.headers[who])
        return resp.status, await resp.json()


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0)
    log = Log()
    app = make_app(View(), hub, StreamSettings(), auth=authority(store, TEAMS),
                   spy=service(log, max_per_agent=1))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    headers = {}
    for name, role, scopes in (("root", "admin", ()), ("north", "supervisor", ("team:north",)),
                               ("south", "supervisor", ("team:south",)),
                               ("queue", "supervisor", ("queue:support",))):
        headers[name] = {"Authorization":
                         f"Bearer {await new_token(store, role, name, *scopes)}"}
    try:
        yield Env(client, log, headers)
    finally:
        hub.close()
        await client.close()
        await store.close()


ASK = {"supervisor": "PJSIP/super1", "agent": "PJSIP/agent1", "mode": "listen",
       "reason": "dead air alert"}


async def test_post_201_then_list_patch_delete(env: Env) -> None:
    status, body = await env.post("north", ASK)
    assert status == 201, body
    spy = body["spy"]
    assert (spy["state"], spy["agent_channel"], spy["via"], spy["actor"]) == (
        "pending", "PJSIP/agent1-00000101", "api", "api:north#2")
    listed = await (await env.client.get("/v1/spy", headers=env.headers["north"])).json()
    assert [s["id"] for s in listed["spies"]] == [spy["id"]]
    hidden = await (await env.client.get("/v1/spy", headers=env.headers["south"])).json()
    assert hidden["spies"] == []
    resp = await env.client.patch(f"/v1/spy/{spy['id']}", json={"mode": "barge"},
                                  headers=env.headers["north"])
    assert resp.status == 409 and (await resp.json())["error"] == "conflict"  # not answered
    resp = await env.client.delete(f"/v1/spy/{spy['id']}", headers=env.headers["south"])
    assert resp.status == 404  # out of scope: not even told it exists
    resp = await env.client.delete(f"/v1/spy/{spy['id']}", headers=env.headers["north"])
    assert resp.status == 200 and (await resp.json())["spy"]["result"] == "cancelled"
    resp = await env.client.delete(f"/v1/spy/{spy['id']}", headers=env.headers["north"])
    assert resp.status == 409
    resp = await env.client.patch("/v1/spy/0123456789abcdef", json={"mode": "barge"},
                                  headers=env.headers["root"])
    assert resp.status == 404 and (await resp.json())["error"] == "not_found"


async def test_denials_answer_their_status_with_a_json_error_and_are_audited(env: Env) -> None:
    cases = [
        ("south", ASK, 403, "unauthorised"),                                # token scope
        ("root", {**ASK, "supervisor": "PJSIP/super2"}, 403, "unauthorised"),  # phone's teams
        ("root", {**ASK, "agent": "PJSIP/agent7"}, 404, "unknown_agent"),
        ("root", {**ASK, "agent": None, "call_id": "gone"}, 404, "unknown_call"),
        ("root", {**ASK, "agent": "Agent Two"}, 409, "not_on_call"),
        ("queue", {**ASK, "agent": None, "call_id": "c1"}, 201, None),
        ("root", ASK, 409, "too_many_spies"),
    ]
    for who, body, status, error in cases:
        got, answer = await env.post(who, body)
        assert got == status, (who, body, answer)
        if error is not None:
            assert answer["error"] == error and isinstance(answer["message"], str)
    denied = [a.detail["result"] for a in env.log.audits() if a.action == "spy.denied"]
    assert denied == [e for _, _, _, e in cases if e is not None]


async def test_bad_requests_are_400_and_not_decisions(env: Env) -> None:
    for body in ({**ASK, "mode": "shout"}, {**ASK, "call_id": "c1"},
                 {k: v for k, v in ASK.items() if k != "supervisor"}, {**ASK, "by": "x"},
                 {**ASK, "reason": "x" * 201}, {**ASK, "via": "dtmf"}, ["not", "a", "dict"],
                 {**ASK, "agent": 5}):
        status, answer = await env.post("root", body)
        assert status == 400 and answer["error"] == "bad_request", body
    resp = await env.client.post("/v1/spy", data=b"{", headers=env.headers["root"])
    assert resp.status == 400
    assert env.log.items == []


async def test_the_cli_goes_through_the_api(env: Env, monkeypatch: Any,
                                            capsys: Any) -> None:
    import asyncio

    from edgeqa.cli import main

    url = str(env.client.make_url("")).rstrip("/")
    monkeypatch.setenv("EDGEQA_TOKEN", env.headers["north"]["Authorization"].split()[1])

    async def cli(*argv: str) -> int:
        return await asyncio.to_thread(main, ["spy", *argv, "--url", url])

    assert await cli("--supervisor", "PJSIP/super1", "--agent", "PJSIP/agent1", "--mode",
                     "whisper", "--reason", "coaching") == 0
    out = capsys.readouterr().out
    assert out.startswith("ringing PJSIP/super1: ") and "PJSIP/agent1-00000101" in out
    started = env.log.audits()[0]
    assert (started.action, str(started.actor), started.detail["via"]) == (
        "spy.started", "cli:north#2", "cli")
    spy_id = out.split(": ", 1)[1].split()[0]
    assert await cli("list") == 0 and spy_id in capsys.readouterr().out
    assert await cli("mode", spy_id, "barge") == 1  # not answered yet: 409
    assert "409" in capsys.readouterr().err
    assert await cli("end", spy_id) == 0 and "cancelled" in capsys.readouterr().out
    assert str(env.log.audits()[-1].actor) == "cli:north#2"
    assert await cli("--supervisor", "PJSIP/super1", "--agent", "PJSIP/agent10",
                     "--mode", "listen") == 1
    assert "403" in capsys.readouterr().err
    assert await cli("frobnicate") == 2
