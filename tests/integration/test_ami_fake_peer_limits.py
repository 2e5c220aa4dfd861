"""AmiClient against the FAKE AMI PEER of test_ami_fake_peer.py: a message over a named limit
(header lines, size) costs that message (its action fails at once), not the connection."""

from __future__ import annotations

import pytest

from edgeqa.ami.errors import AmiOverloadError
from edgeqa.ami.protocol import MAX_BUFFER_BYTES, MAX_MESSAGE_HEADERS
from tests.integration.test_ami_fake_peer import STEP_S, FakeAmiPeer, FakeConn, make_client, running
from tests.support.ami import Recorder, ami_hygiene

__all__ = ["ami_hygiene"]  # autouse fixture, applied to this module


TINY_HEADERS = b"a:\r\n" * ((1024 * 1024 - 128) // 4)  # 1 MiB of them, under the size cap
BIG_VALUE = b"Data: " + b"x" * (2 * MAX_BUFFER_BYTES) + b"\r\n"  # twice the size cap


@pytest.mark.parametrize("body, limit", [(TINY_HEADERS, f"exceeds {MAX_MESSAGE_HEADERS}"),
                                         (BIG_VALUE, f"exceeds {MAX_BUFFER_BYTES}")])
async def test_answer_over_a_limit_fails_its_action_and_the_session_goes_on(
        body: bytes, limit: str) -> None:
    async def script(conn: FakeConn) -> None:
        await conn.login_ok()
        flood = await conn.read_action()
        # FAKE: an answer over a named limit (Asterisk never sends one).
        head = f"Response: Success\r\nActionID: {flood['ActionID']}\r\n".encode()
        conn.writer.write(head + body + b"\r\n")
        await conn.serve_pings([])

    rec = Recorder()
    async with FakeAmiPeer(script) as peer:
        client = make_client(peer.port, rec)
        async with running(client):
            await client.wait_connected(STEP_S)
            with pytest.raises(AmiOverloadError, match="answer dropped") as info:
                await client.send_action("Ping", timeout_s=STEP_S)
            assert limit in str(info.value)
            pong = await client.send_action("Ping", timeout_s=STEP_S)
            assert pong.response == "Success"
            assert client.connected
        assert peer.connections == 1
    assert client.sessions_started == 1
    assert rec.disconnects in ([], [None])
