"""POST /v1/spy's Originate through the REAL AmiClient, whose link a FAKE AMI peer cuts with
the Originate unanswered: the spy fails, and no connection ever sees the Originate again."""

from __future__ import annotations

from edgeqa.auth.model import Principal
from edgeqa.spy.service import SpyFailed, SpyService
from tests.integration.test_ami_fake_peer import STEP_S, FakeAmiPeer, FakeConn, make_client
from tests.support.ami import Recorder, running
from tests.unit.spy.support import TEAMS, spy_config
from tests.unit.spy.test_service import SNAP, Log


async def test_an_originate_cut_off_by_a_reconnect_is_never_sent_again() -> None:
    seen: list[tuple[int, dict[str, str]]] = []

    async def script(conn: FakeConn) -> None:
        await conn.login_ok()
        while True:
            action = await conn.read_action()
            seen.append((conn.number, action))
            if action["Action"] == "Originate" and conn.number == 1:
                conn.writer.write_eof()  # FAKE: the link drops with the Originate unanswered
                await conn.wait_eof()
                return
            conn.reply(action)

    log = Log()
    async with FakeAmiPeer(script) as peer:
        client = make_client(peer.port, Recorder())
        spy = SpyService(spy_config(), TEAMS, client, log.audit, log.submit, lambda: SNAP,
                         recording=None)
        async with running(client, STEP_S):
            await client.wait_connected(STEP_S)
            try:
                await spy.request(supervisor="PJSIP/super1", agent="PJSIP/agent1",
                                  call_id=None, mode="listen", reason="", via="api",
                                  principal=Principal(1, "root", "admin"), origin="::1")
            except SpyFailed:
                pass
            else:
                raise AssertionError("the spy should have failed with the link")
            await client.wait_connected(STEP_S)  # reconnected
            await client.send_action("Ping", timeout_s=STEP_S)
    originates = [(n, a) for n, a in seen if a["Action"] == "Originate"]
    assert [n for n, _ in originates] == [1]
    assert [a["Action"] for n, a in seen if n == 2 and a["Action"] != "Ping"] == []
    assert [a.action for a in log.audits()] == ["spy.started", "spy.ended"]
    assert spy.active() == []
