"""The spy handlers behind the real FastAGI server, with a FAKE Asterisk on the AGI socket
(edgeqa.sandbox.agipeer): the exact lines Asterisk would get."""

from __future__ import annotations

import asyncio

from edgeqa.agi import AgiLimits, AgiServer
from edgeqa.sandbox.agipeer import FakeAsteriskAgi
from tests.unit.spy.test_service import Log, service


async def _server(log: Log, pin: str | None = None) -> AgiServer:
    spy = service(log, pin=pin)
    server = AgiServer(spy.routes(), limits=AgiLimits(command_timeout_s=2.0))  # type: ignore[arg-type]
    await server.start("127.0.0.1", 0)
    return server


async def test_feature_code_on_the_wire() -> None:
    log = Log()
    server = await _server(log, pin="2468")
    assert server.address is not None
    try:
        async with FakeAsteriskAgi(server.address[1]) as peer:
            await peer.send_env("spy", ["barge", "1"], channel="PJSIP/super1-0000000b")
            assert await peer.command() == 'GET DATA "agent-pass" "5000" "16"'
            await peer.reply("200 result=2468")
            assert await peer.command() == 'EXEC "ChanSpy" "PJSIP/agent1-00000101,qEduB"'
            await peer.reply("200 result=0")
            assert await peer.rest() == b""
        async with FakeAsteriskAgi(server.address[1]) as peer:  # agent10: another team's
            await peer.send_env("spy", ["listen", "10"], channel="PJSIP/super1-0000000c")
            assert await peer.command() == 'GET DATA "agent-pass" "5000" "16"'
            await peer.reply("200 result=2468")
            assert await peer.command() == 'STREAM FILE "beeperr" ""'
            await peer.reply("200 result=0 endpos=4000")
            assert await peer.command() == "HANGUP"
            await peer.reply("200 result=1")
            assert await peer.rest() == b""
        async with FakeAsteriskAgi(server.address[1]) as peer:  # the phone hangs up
            await peer.send_env("spy", ["listen", "1"], channel="PJSIP/super1-0000000d")
            assert await peer.command() == 'GET DATA "agent-pass" "5000" "16"'
            await peer.reply("200 result=2468")
            assert (await peer.command() or "").startswith('EXEC "ChanSpy"')
            await peer.reply("HANGUP")
            await asyncio.wait_for(peer.rest(), 5.0)
    finally:
        await server.stop()
    ended = [a.detail["result"] for a in log.audits() if a.action == "spy.ended"]
    assert ended == ["ended", "hangup"]
    assert [a.detail["result"] for a in log.audits() if a.action == "spy.denied"] == [
        "unauthorised"]
