"""GET /v1/hints and DELETE /v1/hints/{id}: filtered by the supervisor's scope, a clear puts
back the switch and is audited as the token; `edgeqa hints`' line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from edgeqa.api import StreamSettings, make_app
from edgeqa.commands.hints import line
from edgeqa.hints.model import Hint
from edgeqa.hints.service import HintService
from edgeqa.store import Store
from edgeqa.stream import StreamHub
from tests.support.api import FakeView, authority, new_token
from tests.unit.hints.support import DEAD_AIR, T0, FakeSwitch, config, two_agents


async def test_list_and_clear_by_scope(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0)
    switch = FakeSwitch(two_agents())
    events: list[Any] = []
    svc = HintService(config(), switch, store, store.put_audit, events.extend,
                      wall=lambda: T0)
    hint = await svc.consider("c1", "hints", "PJSIP/agent1", DEAD_AIR, 12.0)
    assert isinstance(hint, Hint)
    app = make_app(FakeView(), hub, StreamSettings(), auth=authority(store), hints=svc)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        auth = {n: {"Authorization": f"Bearer {await new_token(store, r, n, *s)}"}
                for n, r, s in (("admin", "admin", ()), ("lead", "supervisor", ("queue:hints",)),
                                ("other", "supervisor", ("queue:sales",)))}
        got = await (await client.get("/v1/hints", headers=auth["lead"])).json()
        assert [h["id"] for h in got["hints"]] == [hint.id] and got["dry_run"] is False
        got = await (await client.get("/v1/hints", headers=auth["other"])).json()
        assert got["hints"] == []
        resp = await client.delete(f"/v1/hints/{hint.id}", headers=auth["other"])
        assert resp.status == 404
        assert switch.member("hints", "PJSIP/agent1").penalty == 5
        resp = await client.delete(f"/v1/hints/{hint.id}?via=cli", headers=auth["lead"])
        assert resp.status == 200
        body = await resp.json()
        assert body["hint"]["state"] == "cleared"
        assert switch.member("hints", "PJSIP/agent1").penalty == 0
        (entry,) = await store.audit(action="hint.cleared")
        assert (entry["actor_kind"], entry["actor_name"].split("#")[0]) == ("cli", "lead")
        resp = await client.delete(f"/v1/hints/{hint.id}", headers=auth["admin"])
        assert resp.status == 404
        assert "cleared" in line(body["hint"], T0)
    finally:
        hub.close()
        await client.close()
        await store.close()


def test_cli_line_says_what_and_when() -> None:
    hint = Hint("0123456789abcdef", "hints", "PJSIP/agent1", "Agent One", "penalty",
                "dead_air", 13.1, "c1", True, T0, T0 + 60, 0, 5).to_dict()
    text = line(hint, T0 + 20)
    assert "penalty 0 -> 5" in text and "expires in 40 s" in text and "[dry run]" in text
