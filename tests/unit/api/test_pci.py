"""POST /v1/calls/{id}/pci/pause|resume over loopback, and `edgeqa pci` against it.

The service is the real PciService; AMI is the in-process stand-in (tests/support/actions.py),
the audit a real Store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from edgeqa.api import StreamSettings, make_app
from edgeqa.cli import main
from edgeqa.pci.config import PciConfig
from edgeqa.pci.service import PciService
from edgeqa.store import Store
from edgeqa.stream import StreamHub
from tests.support.actions import ActionRecorder
from tests.support.api import FakeView, admin_headers, authority, new_token
from tests.support.calls import connected_call

CALL = "1733012345.1"
T0 = 1733012345.0


class Env:
    def __init__(self, client: TestClient[Any, Any], store: Store, ami: ActionRecorder) -> None:
        self.client, self.store, self.ami = client, store, ami


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    ami = ActionRecorder()
    calls = {CALL: connected_call(CALL)}
    pci = PciService(PciConfig(), ami, store.put_audit, lambda events: None, lambda: calls,
                     lambda: calls[CALL].channels, lambda _: "PJSIP/customer1-00000001",
                     live=None, wall=lambda: T0 + 10)
    hub = StreamHub(store.read_after, last_seq=0)
    client = TestClient(TestServer(make_app(FakeView(), hub, StreamSettings(), None, pci,
                                            auth=authority(store)),
                                   host="127.0.0.1"), headers=await admin_headers(store))
    await client.start_server()
    try:
        yield Env(client, store, ami)
    finally:
        hub.close()
        await client.close()
        await store.close()


async def test_pause_then_resume_answer_once_audited(env: Env) -> None:
    r = await env.client.post(f"/v1/calls/{CALL}/pci/pause", json={"by": "alice"})
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["paused"] and body["recording_muted"] and body["by"] == {
        "kind": "api", "name": "admin#1"}  # the token: "by" in the body names no one
    (entry,) = await env.store.audit(call_id=CALL)
    assert entry["id"] == body["audit_id"] and entry["action"] == "pci.pause"
    r = await env.client.post(f"/v1/calls/{CALL}/pci/pause")
    assert r.status == 409 and (await r.json())["error"] == "already_paused"
    r = await env.client.post(f"/v1/calls/{CALL}/pci/resume")
    assert r.status == 200 and (await r.json())["by"]["name"] == "admin#1"
    r = await env.client.post(f"/v1/calls/{CALL}/pci/resume")
    assert r.status == 409 and (await r.json())["error"] == "not_paused"
    assert [a[1]["State"] for a in env.ami.sent] == ["1", "0"]


@pytest.mark.parametrize(("body", "message"), [
    (b"{", "not JSON"), (b"[]", "JSON object"), (b'{"by": "x", "role": "admin"}', "only"),
    (b'{"via": "dtmf"}', '"via"'), (b'{"by": 3}', '"by"')])
async def test_bad_bodies_are_refused_with_a_reason(env: Env, body: bytes, message: str) -> None:
    r = await env.client.post(f"/v1/calls/{CALL}/pci/pause", data=body,
                              headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert message in (await r.json())["message"]
    assert env.ami.sent == [] and await env.store.audit(action="pci.") == []


async def test_unknown_call_is_404(env: Env) -> None:
    r = await env.client.post("/v1/calls/nope/pci/pause")
    assert r.status == 404 and (await r.json())["error"] == "unknown_call"


async def test_the_cli_pauses_through_the_api_as_cli(env: Env, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    url = str(env.client.make_url("")).rstrip("/")
    token = tmp_path / "ops.token"
    token.write_text(await new_token(env.store, "admin", "ops") + "\n")
    status = await asyncio.to_thread(main, ["pci", "pause", CALL, "--by", "qa", "--url", url])
    assert status == 1 and "401 Unauthorized" in capsys.readouterr().err  # no token
    creds = ["--url", url, "--token-file", str(token)]
    status = await asyncio.to_thread(main, ["pci", "pause", CALL, "--by", "qa", *creds])
    assert status == 0
    assert capsys.readouterr().out.startswith(f"call {CALL} paused (recording muted); audit #")
    (entry,) = await env.store.audit(action="pci.")
    assert (entry["actor_kind"], entry["actor_name"]) == ("cli", "ops#2")
    status = await asyncio.to_thread(main, ["pci", "pause", CALL, *creds])
    assert status == 1
    assert "409 Conflict: call 1733012345.1 is already paused" in capsys.readouterr().err
    status = await asyncio.to_thread(main, ["pci", "resume", CALL, *creds])
    assert status == 0 and "resumed after 0.0 s" in capsys.readouterr().out


def test_the_cli_says_when_no_daemon_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pci", "pause", CALL, "--url", "http://127.0.0.1:9"]) == 1
    assert "cannot reach the daemon" in capsys.readouterr().err
