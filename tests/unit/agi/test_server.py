"""The FastAGI server against a hand-written fake Asterisk (edgeqa/sandbox/agipeer.py) on
loopback: commands and answers, routing, and faults that cost their own session only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from edgeqa.agi import (
    AgiArgumentError,
    AgiCommandError,
    AgiHangup,
    AgiLimits,
    AgiServer,
    AgiSession,
    AgiTimeout,
)
from edgeqa.sandbox.agipeer import FakeAsteriskAgi, env_bytes

TIMEOUT_S = 5.0
Handler = Callable[[AgiSession], Awaitable[None]]


class Seen:
    """What the handlers did, for the test to check."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self.done = asyncio.Event()

    def add(self, item: object) -> None:
        self.items.append(item)


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def server(seen: Seen) -> AsyncIterator[AgiServer]:
    async def echo(s: AgiSession) -> None:
        seen.add(("request", s.request.route, s.request.args, s.request.channel))
        try:
            seen.add(("var", await s.get_variable("CHANNEL(name)")))
            await s.set_variable("X", 'a "b" c')
            seen.add(("digits", await s.get_data("beep", 3000, 4)))
            await s.stream_file("beep", "#")
            seen.add(("exec", await s.exec("ChanSpy", "PJSIP/agent1-0000000a", "qEd")))
            await s.hangup()
        except Exception as exc:
            seen.add(exc)
            raise
        finally:
            seen.done.set()

    async def broken(s: AgiSession) -> None:
        raise RuntimeError("handler bug")

    async def waits(s: AgiSession) -> None:
        try:
            await s.command("NOOP")
        except Exception as exc:
            seen.add(exc)
            raise
        finally:
            seen.done.set()

    routes: dict[str, Handler] = {"echo": echo, "broken": broken, "waits": waits}
    srv = AgiServer(routes, limits=AgiLimits(max_sessions=4, env_timeout_s=0.3,
                                             command_timeout_s=0.3, max_line_bytes=2048))
    await srv.start("127.0.0.1", 0)
    try:
        yield srv
    finally:
        await srv.stop()


def port(srv: AgiServer) -> int:
    assert srv.address is not None
    return srv.address[1]


async def test_a_session_runs_its_commands_in_order(server: AgiServer, seen: Seen) -> None:
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send_env("echo/x", ["listen", "1"], channel="PJSIP/super1-0000000b")
        assert await peer.command() == 'GET VARIABLE "CHANNEL(name)"'
        await peer.reply("200 result=1 (PJSIP/super1-0000000b)")
        assert await peer.command() == 'SET VARIABLE "X" "a \\"b\\" c"'
        await peer.reply("200 result=1")
        assert await peer.command() == 'GET DATA "beep" "3000" "4"'
        await peer.reply("200 result=12#")
        assert await peer.command() == 'STREAM FILE "beep" "#"'
        await peer.reply("200 result=0 endpos=8000")
        assert await peer.command() == 'EXEC "ChanSpy" "PJSIP/agent1-0000000a,qEd"'
        await peer.reply("200 result=0")
        assert await peer.command() == "HANGUP"
        await peer.reply("200 result=1")
        assert await peer.rest() == b""  # closed, no FAILURE: AGISTATUS=SUCCESS
    assert seen.items == [("request", "echo", ("listen", "1"), "PJSIP/super1-0000000b"),
                          ("var", "PJSIP/super1-0000000b"), ("digits", "12#"), ("exec", 0)]
    assert server.stats.sessions == 1 and server.stats.active == 0


async def test_hangup_notice_mid_command_is_agihangup(server: AgiServer, seen: Seen) -> None:
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send_env("echo")
        assert await peer.command() == 'GET VARIABLE "CHANNEL(name)"'
        await peer.reply("HANGUP")
        assert await peer.rest() == b""  # a hung-up channel is not told FAILURE
    await asyncio.wait_for(seen.done.wait(), TIMEOUT_S)
    assert isinstance(seen.items[-1], AgiHangup)
    assert server.stats.hangups == 1


async def test_minus_one_then_hangup_is_agihangup_and_511_too(server: AgiServer,
                                                              seen: Seen) -> None:
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send_env("echo")
        await peer.command()
        await peer.reply("200 result=1 (x)")
        await peer.command()
        await peer.reply("200 result=1")
        assert (await peer.command() or "").startswith("GET DATA")
        await peer.reply("200 result=-1")  # hang-up or failure: the NOOP tells
        assert await peer.command() == "NOOP"
        await peer.reply("HANGUP")
        await peer.reply("200 result=0")
        assert await peer.rest() == b""
    assert isinstance(seen.items[-1], AgiHangup)
    seen.done.clear()
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send_env("waits")
        await peer.command()
        await peer.reply("511 Command Not Permitted on a dead channel or intercept routine")
        assert await peer.rest() == b""
    assert isinstance(seen.items[-1], AgiHangup)


async def test_minus_one_without_hangup_is_a_failed_command(server: AgiServer,
                                                            seen: Seen) -> None:
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send_env("echo")
        for answer in ("200 result=1 (x)", "200 result=1", "200 result=1#"):
            await peer.command()
            await peer.reply(answer)
        assert await peer.command() == 'STREAM FILE "beep" "#"'
        await peer.reply("200 result=-1 endpos=0")  # no such file
        assert await peer.command() == "NOOP"
        await peer.reply("200 result=0")
        assert await peer.rest() == b"FAILURE\n"  # the dialplan plays its prompt
    error = seen.items[-1]
    assert isinstance(error, AgiCommandError) and "STREAM FILE beep failed" in str(error)


async def test_unknown_command_and_usage_are_command_errors(server: AgiServer,
                                                           seen: Seen) -> None:
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send_env("echo")
        await peer.command()
        await peer.send(b"520-Invalid command syntax.  Proper usage follows:\n"
                        b" Usage: GET VARIABLE <variablename>\n520 End of proper usage.\n")
        assert await peer.rest() == b"FAILURE\n"
    error = seen.items[-1]
    assert isinstance(error, AgiCommandError) and error.code == 520
    assert error.usage == (" Usage: GET VARIABLE <variablename>",)


async def test_no_response_in_time_is_a_timeout(server: AgiServer, seen: Seen) -> None:
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send_env("waits")
        assert await peer.command() == "NOOP"
        assert await peer.rest() == b"FAILURE\n"  # after command_timeout_s
    assert isinstance(seen.items[-1], AgiTimeout)
    assert server.stats.protocol_errors == 1


async def test_half_closed_socket_mid_command(server: AgiServer, seen: Seen) -> None:
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send_env("waits")
        assert await peer.command() == "NOOP"
        peer.half_close()
        assert await peer.rest() == b""
    assert isinstance(seen.items[-1], AgiHangup)


@pytest.mark.parametrize(("data", "log_words"), [
    (b"garbage\n\n", "malformed environment line"),
    (b"agi_network: yes\n" + b"x" * 5000, "over 2048 bytes"),
    (env_bytes("nowhere"), "no route 'nowhere'"),
    (env_bytes(""), "no route ''"),
    (b"agi_network: yes\nagi_chan", "no complete environment"),  # slowloris: stalls
    (env_bytes("echo").replace(b"agi_channel", b"agi_ch\xffannel"), "malformed"),
])
async def test_a_bad_request_gets_failure_and_the_next_is_served(
        server: AgiServer, seen: Seen, data: bytes, log_words: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send(data)
        assert await peer.rest() == b"FAILURE\n"
    assert log_words in caplog.text and "Traceback" not in caplog.text
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send_env("waits")
        assert await peer.command() == "NOOP"
        await peer.reply("200 result=0")
        assert await peer.rest() == b""
    assert server.stats.active == 0


async def test_a_handler_bug_costs_its_session_only(server: AgiServer,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send_env("broken")
        assert await peer.rest() == b"FAILURE\n"
    assert server.stats.handler_errors == 1
    assert "AGI broken handler failed on PJSIP/supervisor1-00000001" in caplog.text
    async with FakeAsteriskAgi(port(server)) as peer:
        await peer.send_env("waits")
        assert await peer.command() == "NOOP"


async def test_sessions_over_the_limit_are_refused_with_failure(server: AgiServer) -> None:
    peers = [FakeAsteriskAgi(port(server)) for _ in range(5)]
    for peer in peers[:4]:
        await peer.connect()
        await peer.send_env("waits")
        assert await peer.command() == "NOOP"  # each is being served
    await peers[4].connect()
    assert await peers[4].rest() == b"FAILURE\n"
    assert server.stats.refused == 1 and server.stats.active == 4
    for peer in peers:
        await peer.close()


async def test_stop_ends_every_session_with_failure(seen: Seen) -> None:
    started = asyncio.Event()

    async def forever(s: AgiSession) -> None:
        started.set()
        await asyncio.Event().wait()

    srv = AgiServer({"forever": forever})
    await srv.start("127.0.0.1", 0)
    async with FakeAsteriskAgi(port(srv)) as peer:
        await peer.send_env("forever")
        await asyncio.wait_for(started.wait(), TIMEOUT_S)
        await srv.stop()
        assert await peer.rest() == b"FAILURE\n"
    assert srv.stats.active == 0


async def test_only_loopback_and_only_valid_words() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        await AgiServer({}).start("0.0.0.0", 0)
    with pytest.raises(AgiArgumentError):
        from edgeqa.agi.codec import encode_command
        encode_command("SET VARIABLE", "X", "a\nHANGUP")
