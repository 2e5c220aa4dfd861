"""AmiClient against the real Asterisk 22 sandbox: login, FullyBooted, Ping, lists, auth, kill."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from edgeqa.ami.client import AmiClient
from edgeqa.ami.errors import AmiActionError, AmiAuthenticationError, AmiNotConnectedError
from edgeqa.ami.message import AmiMessage
from edgeqa.sandbox.pbx import Sandbox
from tests.support import ami as amihelpers
from tests.support.ami import Recorder, ami_hygiene, make_client, until

__all__ = ["ami_hygiene"]  # autouse fixture, applied to this module

pytestmark = pytest.mark.integration
STEP_S = 10.0


def running(client: AmiClient) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    return amihelpers.running(client, STEP_S)


async def test_login_fully_booted_and_ping(running_sandbox: Sandbox) -> None:
    rec = Recorder()
    client = make_client(running_sandbox.ami, rec, ping_interval_s=0.1)
    async with running(client):
        await client.wait_connected(STEP_S)
        assert client.banner is not None and client.banner.startswith("Asterisk Call Manager/")
        assert any(m.event == "FullyBooted" for m in rec.events)
        pong = await client.send_action("Ping", timeout_s=STEP_S)
        assert pong.response == "Success"
        assert pong.get("Ping") == "Pong"
        assert client.sessions_started == 1
        await until(lambda: client.last_ping_rtt_s is not None, STEP_S)  # keepalive ran
        assert client.last_ping_rtt_s is not None and client.last_ping_rtt_s < 1.0
        print(f"keepalive Ping RTT {client.last_ping_rtt_s * 1000:.2f} ms")


async def test_core_show_channels_list_completes(running_sandbox: Sandbox) -> None:
    rec = Recorder()
    client = make_client(running_sandbox.ami, rec)
    async with running(client):
        await client.wait_connected(STEP_S)
        # Two live channels: Local/603 (;2 runs Echo) with its ;1 half waiting in Wait(20).
        await client.send_action(
            "Originate",
            {
                "Channel": "Local/603@sandbox-customers",
                "Application": "Wait",
                "Data": "20",
                "Async": "true",
            },
            timeout_s=STEP_S,
        )
        try:
            items: list[AmiMessage] = []
            async with asyncio.timeout(STEP_S):
                while len(items) < 2:
                    response, items = await client.send_list_action("CoreShowChannels")
                    await asyncio.sleep(0.05)
            assert response.get("EventList", "").lower() == "start"
            assert all(i.event == "CoreShowChannel" for i in items)
            assert {
                i["Channel"].rsplit(";", 1)[1] for i in items if "Local/603" in i["Channel"]
            } == {"1", "2"}
            # Items went to the caller only, never to on_message.
            assert not any(m.event == "CoreShowChannel" for m in rec.events)
            assert not any(m.event == "CoreShowChannelsComplete" for m in rec.events)
        finally:
            await client.send_action(
                "Hangup", {"Channel": "/^Local\\/603@sandbox-customers-.*$/"}, timeout_s=STEP_S
            )


async def test_action_error_and_injection(running_sandbox: Sandbox) -> None:
    client = make_client(running_sandbox.ami, Recorder())
    async with running(client):
        await client.wait_connected(STEP_S)
        with pytest.raises(AmiActionError) as info:
            await client.send_action("Hangup", {"Channel": "PJSIP/nobody-00000000"})
        assert info.value.message  # e.g. "No such channel"
        with pytest.raises(ValueError):
            await client.send_action("Ping", {"X": "a\r\nAction: Logoff"})
        assert (await client.send_action("Ping")).response == "Success"  # link unharmed


async def test_bad_secret_is_fatal_without_retry(running_sandbox: Sandbox) -> None:
    host, port, user, _ = running_sandbox.ami
    rec = Recorder()
    client = AmiClient(
        host,
        port,
        user,
        "wrong-secret",
        on_message=rec.on_message,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AmiAuthenticationError) as info:
        await asyncio.wait_for(client.run(), STEP_S)
    assert loop.time() - started < 5.0
    assert client.connect_attempts == 1
    assert "wrong-secret" not in str(info.value)
    with pytest.raises(AmiAuthenticationError):
        await client.wait_connected(0.1)
    with pytest.raises(AmiNotConnectedError):
        await client.send_action("Ping")


async def test_restart_reconnects_and_resyncs(
        running_sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="edgeqa.ami.client")
    rec = Recorder()
    resync_items: list[int] = []
    holder: list[AmiClient] = []

    async def on_session() -> None:
        _, items = await holder[0].send_list_action("CoreShowChannels")
        resync_items.append(len(items))

    client = make_client(running_sandbox.ami, rec, on_session=on_session)
    holder.append(client)
    async with running(client):
        await client.wait_connected(STEP_S)
        await asyncio.to_thread(running_sandbox.kill)
        await until(lambda: not client.connected, STEP_S)
        await asyncio.to_thread(running_sandbox.start)
        await client.wait_connected(STEP_S)
        await until(lambda: len(resync_items) >= 2, STEP_S)
        assert client.sessions_started == 2
        assert (await client.send_action("Ping")).response == "Success"
    assert len(rec.disconnects) >= 1
    # One outage: its first failure at WARNING, later ones at DEBUG, the recovery once at INFO.
    retries = [r for r in caplog.records if "reconnecting in" in r.getMessage()]
    recovered = [r for r in caplog.records if "reconnected after" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.WARNING] + [logging.DEBUG] * (len(retries) - 1)
    assert len(recovered) == 1 and recovered[0].levelno == logging.INFO
    assert f"after {len(retries)} attempt" in recovered[0].getMessage()
    print(f"AMI outage: {len(retries)} failed attempts; {recovered[0].getMessage()}")


async def test_queue_status_list(running_sandbox: Sandbox) -> None:
    rec = Recorder()
    client = make_client(running_sandbox.ami, rec)
    async with running(client):
        await client.wait_connected(STEP_S)
        response, items = await client.send_list_action("QueueStatus", timeout_s=STEP_S)
        assert response.response == "Success"
        params = [i for i in items if i.event == "QueueParams"]
        assert "support" in {p["Queue"] for p in params}
        assert not any(i.event == "QueueStatusComplete" for i in items)
        assert not any(m.event in ("QueueParams", "QueueStatusComplete") for m in rec.events)
        # The list left nothing behind: the next action correlates normally.
        assert (await client.send_action("Ping")).get("Ping") == "Pong"
