"""AmiClient against a hand-written FAKE AMI PEER on loopback (not Asterisk).

Used only for what a real Asterisk cannot be made to do: a malformed banner, a half-closed socket,
a flood past the codec's cap, and a peer that goes silent. Everything else runs against the real
sandbox in test_ami_sandbox.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

import pytest

from edgeqa.ami.client import AmiClient
from edgeqa.ami.errors import (
    AmiDisconnectedError,
    AmiNotConnectedError,
    AmiOverloadError,
    AmiProtocolError,
)
from edgeqa.ami.message import AmiMessage
from edgeqa.ami.protocol import MAX_BUFFER_BYTES, MAX_MESSAGE_HEADERS
from tests.support import ami as amihelpers
from tests.support.ami import LoopbackServer, Recorder, ami_hygiene, until

__all__ = ["ami_hygiene"]  # autouse fixture, applied to this module

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
STEP_S = 5.0  # upper bound for any single wait in these tests


class FakeConn:
    """One accepted connection of the fake peer, with helpers to script it."""

    def __init__(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.number = number
        self.reader = reader
        self.writer = writer

    async def read_action(self) -> dict[str, str]:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), STEP_S)
        lines = raw.decode().split("\r\n")
        return dict(line.split(": ", 1) for line in lines if ": " in line)

    async def login_ok(self) -> None:
        self.writer.write(BANNER)
        challenge = await self.read_action()
        assert challenge["Action"] == "Challenge" and challenge["AuthType"] == "MD5"
        self.reply(challenge, "Challenge: 123456789\r\n")
        login = await self.read_action()
        assert login["Action"] == "Login" and login["AuthType"] == "MD5"
        self.writer.write(
            f"Response: Success\r\nActionID: {login['ActionID']}\r\n"
            "Message: Authentication accepted\r\n\r\n"
            "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n".encode()
        )

    def reply(self, action: dict[str, str], extra: str = "") -> None:
        self.writer.write(
            f"Response: Success\r\nActionID: {action['ActionID']}\r\n{extra}\r\n".encode()
        )

    async def serve_pings(self, seen: list[dict[str, str]]) -> None:
        """Answer every action with Success until the client goes away, recording them."""
        while True:
            try:
                action = await self.read_action()
            except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
                return
            seen.append(action)
            self.reply(action)

    async def wait_eof(self) -> bool:
        """True if the client closed its side within STEP_S."""
        try:
            async with asyncio.timeout(STEP_S):
                while await self.reader.read(65536):
                    pass
        except ConnectionError:
            return True
        except TimeoutError:
            return False
        return True


Script = Callable[[FakeConn], Awaitable[None]]


class FakeAmiPeer(LoopbackServer):
    """A FAKE AMI peer: a loopback server that runs ``script`` for each connection."""

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(FakeConn(self.connections, reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def make_client(port: int, rec: Recorder, **kw: float) -> AmiClient:
    """A client of the fake peer, retrying fast."""
    options = {"backoff_initial_s": 0.01, "backoff_max_s": 0.05, "connect_timeout_s": 2.0, **kw}
    return amihelpers.make_client(("127.0.0.1", port, "edgeqa", "fake-secret"), rec, **options)


def running(client: AmiClient) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    return amihelpers.running(client, STEP_S)


async def test_half_closed_socket_fails_action_in_flight_and_never_replays() -> None:
    second_conn_actions: list[dict[str, str]] = []
    first_got: list[dict[str, str]] = []
    client_closed_first: list[bool] = []

    async def script(conn: FakeConn) -> None:
        await conn.login_ok()
        if conn.number == 1:
            first_got.append(await conn.read_action())
            conn.writer.write_eof()  # FAKE: half-close (SHUT_WR) with the Originate unanswered
            client_closed_first.append(await conn.wait_eof())
            return
        await conn.serve_pings(second_conn_actions)

    rec = Recorder()
    async with FakeAmiPeer(script) as peer:
        client = make_client(peer.port, rec)
        async with running(client):
            await client.wait_connected(STEP_S)
            with pytest.raises(AmiDisconnectedError) as info:
                await client.send_action("Originate", {"Channel": "Local/tally@sandbox-test"})
            assert not isinstance(info.value, AmiNotConnectedError)  # it was sent, then lost
            await client.wait_connected(STEP_S)
            pong = await client.send_action("Ping", timeout_s=STEP_S)
            assert pong.response == "Success"
    assert first_got[0]["Action"] == "Originate"
    assert client_closed_first == [True]
    assert [a["Action"] for a in second_conn_actions] == ["Ping"]
    assert first_got[0]["ActionID"] not in {a["ActionID"] for a in second_conn_actions}
    assert isinstance(rec.disconnects[0], AmiDisconnectedError)
    assert client.sessions_started == 2


async def test_malformed_banner_is_a_protocol_error_and_retried_with_backoff() -> None:
    async def script(conn: FakeConn) -> None:
        conn.writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # FAKE: not an AMI peer
        await conn.wait_eof()

    rec = Recorder()
    async with FakeAmiPeer(script) as peer:
        client = make_client(peer.port, rec)
        async with running(client) as task:
            await until(lambda: peer.connections >= 4, STEP_S)
            assert not task.done()
            assert not client.connected
            with pytest.raises(AmiNotConnectedError):
                await client.send_action("Ping")
    assert all(isinstance(exc, AmiProtocolError) for exc in rec.disconnects[:3])
    assert client.sessions_started == 0


async def test_flood_past_cap_drops_link_and_fails_action() -> None:
    flooded: list[int] = []

    async def script(conn: FakeConn) -> None:
        await conn.login_ok()
        if conn.number == 1:
            await conn.read_action()  # the client's Ping, left unanswered
            conn.writer.write(b"Event: Flood\r\nData: ")
            chunk = b"a" * 65536
            sent = 0
            try:
                # FAKE: a message that never ends, until the client resets the connection.
                while sent < 64 * MAX_BUFFER_BYTES and not conn.writer.is_closing():
                    conn.writer.write(chunk)
                    await conn.writer.drain()
                    sent += len(chunk)
            except ConnectionError:
                pass
            flooded.append(sent)
            return
        await conn.serve_pings([])

    rec = Recorder()
    async with FakeAmiPeer(script) as peer:
        client = make_client(peer.port, rec)
        async with running(client):
            await client.wait_connected(STEP_S)
            with pytest.raises(AmiDisconnectedError):
                await client.send_action("Ping", timeout_s=STEP_S)
            await client.wait_connected(STEP_S)
    assert isinstance(rec.disconnects[0], AmiProtocolError)
    assert "exceeds" in str(rec.disconnects[0])
    assert flooded and flooded[0] < 64 * MAX_BUFFER_BYTES  # the client cut the flood short


async def test_silent_peer_is_dropped_after_unanswered_ping() -> None:
    async def script(conn: FakeConn) -> None:
        await conn.login_ok()
        if conn.number == 1:
            await conn.read_action()  # FAKE: Ping read, never answered
            await conn.wait_eof()
            return
        await conn.serve_pings([])

    rec = Recorder()
    async with FakeAmiPeer(script) as peer:
        client = make_client(peer.port, rec, ping_interval_s=0.2)
        loop = asyncio.get_running_loop()
        async with running(client):
            await client.wait_connected(STEP_S)
            first_up = loop.time()
            await until(lambda: client.sessions_started >= 2, STEP_S)
            elapsed_s = loop.time() - first_up
    assert 0.35 <= elapsed_s < 2.0  # one interval of sleep plus one of waiting for Pong
    assert "Ping timeout" in str(rec.disconnects[0])


async def test_on_message_exception_is_fatal_not_retried() -> None:
    async def script(conn: FakeConn) -> None:
        await conn.login_ok()
        conn.writer.write(b"Event: Boom\r\n\r\n")
        await conn.wait_eof()

    def on_message(msg: AmiMessage) -> None:
        if msg.event == "Boom":
            raise KeyError("tracker bug")

    async with FakeAmiPeer(script) as peer:
        client = AmiClient(
            "127.0.0.1",
            peer.port,
            "u",
            "s",
            on_message=on_message,
            backoff_initial_s=0.01,
            backoff_max_s=0.05,
        )
        async with running(client) as task:
            await asyncio.wait_for(asyncio.wait({task}), STEP_S)
            assert isinstance(task.exception(), KeyError)
        assert peer.connections == 1


async def test_outer_cancellation_propagates_and_leaves_no_tasks() -> None:
    async def script(conn: FakeConn) -> None:
        await conn.login_ok()
        await conn.serve_pings([])

    async with FakeAmiPeer(script) as peer:
        client = make_client(peer.port, Recorder())
        task = asyncio.create_task(client.run())
        await client.wait_connected(STEP_S)
        pending = asyncio.create_task(client.send_action("Ping", timeout_s=STEP_S))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not client.connected
        with contextlib.suppress(AmiDisconnectedError):
            await pending  # either answered just in time or failed with the link
        with pytest.raises(AmiNotConnectedError, match="ended"):
            await client.wait_connected(1.0)  # no busy wait once run() is gone
        await client.close()  # idempotent after run() ended
        await client.close()


async def test_close_during_backoff_against_refused_port() -> None:
    with socket.socket() as sock:  # a port that refuses: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        rec = Recorder()
        client = make_client(port, rec, backoff_initial_s=0.05, backoff_max_s=0.4)
        task = asyncio.create_task(client.run())
        await asyncio.sleep(0.5)
        assert not task.done()
        # Backoff 0.05 s doubling (equal jitter): 3..6 attempts in 0.5 s, not a tight loop.
        assert 3 <= client.connect_attempts <= 6
        assert rec.disconnects == []  # no session was ever up
        await asyncio.wait_for(client.close(), STEP_S)
        await asyncio.wait_for(task, STEP_S)


async def test_rejected_messages_are_counted_across_links_for_health() -> None:
    async def script(conn: FakeConn) -> None:
        await conn.login_ok()
        action = await conn.read_action()
        # FAKE: an answer over MAX_MESSAGE_HEADERS, which Asterisk never sends.
        headers = "".join(f"X{i}: y\r\n" for i in range(MAX_MESSAGE_HEADERS + 1))
        conn.writer.write(f"Response: Success\r\nActionID: {action['ActionID']}\r\n"
                          f"{headers}\r\n".encode())
        if conn.number == 1:
            await conn.read_action()  # the Ping after the rejection: the link is still up
            conn.writer.write_eof()
            await conn.wait_eof()
            return
        await conn.serve_pings([])

    rec = Recorder()
    async with FakeAmiPeer(script) as peer:
        client = make_client(peer.port, rec)
        async with running(client):
            await client.wait_connected(STEP_S)
            with pytest.raises(AmiOverloadError):
                await client.send_action("Status", timeout_s=STEP_S)
            assert client.messages_rejected == 1 and client.connected
            with pytest.raises(AmiDisconnectedError):
                await client.send_action("Ping", timeout_s=STEP_S)
            await until(lambda: client.sessions_started == 2, STEP_S)
            with pytest.raises(AmiOverloadError):
                await client.send_action("Status", timeout_s=STEP_S)
            assert client.messages_rejected == 2  # the first link's count is kept
