"""The ARI client against the real Asterisk 22 sandbox.

Run: EDGEQA_SANDBOX_PORT_BASE=17000 .venv/bin/pytest tests/integration/test_ari_sandbox.py
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

from edgeqa.ari.client import AriClient
from edgeqa.ari.rest import (
    AriAuthenticationError,
    AriConnectionError,
    AriHttpError,
    AriTimeoutError,
)
from edgeqa.sandbox.pbx import Sandbox
from tests.support.phones import SoftphoneFactory

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)
TIMEOUT_S = 10.0
STASIS_EXTEN = "602"
RACE_TRIES = 10  # sandbox dialplan: Goto(edgeqa-stasis,...) -> Stasis(edgeqa)


class Recorder:
    """Collects ARI events and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[Mapping[str, Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Mapping[str, Any]) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, match: Callable[[Mapping[str, Any]], bool],
                       timeout_s: float = TIMEOUT_S) -> Mapping[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                found = next((e for e in self.events if match(e)), None)
                if found is not None:
                    return found
                self._changed.clear()
                await self._changed.wait()


async def hangup_and_wait(client: AriClient, recorder: Recorder, channel_id: str) -> None:
    """Hang up one of our helper channels and wait until it has left Stasis."""
    await client.hangup(channel_id)
    await recorder.wait_for(lambda e: e.get("type") == "StasisEnd"
                            and e["channel"]["id"] == channel_id)


def _client(box: Sandbox, recorder: Recorder, **kwargs: Any) -> AriClient:
    url, user, password, app = box.ari
    return AriClient(url, user, password, app, on_event=recorder, backoff_initial_s=0.05,
                     backoff_max_s=0.5, **kwargs)


@pytest.fixture
async def ari(running_sandbox: Sandbox) -> AsyncIterator[tuple[AriClient, Recorder]]:
    recorder = Recorder()
    client = _client(running_sandbox, recorder)
    runner = asyncio.create_task(client.run())
    await client.wait_connected(TIMEOUT_S)
    yield client, recorder
    await client.close()
    await asyncio.wait_for(runner, TIMEOUT_S)


async def test_asterisk_info_and_event_filter(ari: tuple[AriClient, Recorder]) -> None:
    client, _ = ari
    info = await client.asterisk_info()
    assert info["system"]["version"].startswith("22")
    app = await client.get_application()
    assert app["name"] == "edgeqa"
    assert {"type": "ChannelVarset"} in app["events_disallowed"]


async def test_wrong_password_is_fatal(running_sandbox: Sandbox) -> None:
    url, user, _, app = running_sandbox.ari
    client = AriClient(url, user, "wrong-password", app, on_event=lambda e: None)
    with pytest.raises(AriAuthenticationError):
        await asyncio.wait_for(client.run(), TIMEOUT_S)
    await client.close()


async def test_stasis_call_channels_snoop_bridge_cleanup(
        ari: tuple[AriClient, Recorder], running_sandbox: Sandbox,
        softphone: SoftphoneFactory) -> None:
    client, recorder = ari
    phone = softphone("customer1")
    dialled = time.monotonic()
    phone.dial(STASIS_EXTEN)
    start = await recorder.wait_for(
        lambda e: e.get("type") == "StasisStart"
        and e["channel"]["name"].startswith("PJSIP/customer1-"))
    log.info("StasisStart %.1f ms after dial", (time.monotonic() - dialled) * 1000)
    channel_id = start["channel"]["id"]
    assert start["args"] == [STASIS_EXTEN]
    await client.wait_for_stasis_start(channel_id, timeout_s=0.01)  # already there

    # GET /channels during a real call.
    channels = {c["id"]: c for c in await client.get_channels()}
    assert channels[channel_id]["dialplan"]["app_name"] == "Stasis"

    # Snoop + externalMedia into a bridge, each added only after its StasisStart.
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    try:
        bridge = await client.create_bridge("mixing", name="edgeqa-test")
        snoop = await client.snoop(channel_id, spy="in")
        assert snoop["name"].startswith("Snoop/")
        await client.add_channel_when_ready(bridge["id"], snoop["id"], timeout_s=TIMEOUT_S)
        host = f"127.0.0.1:{udp.getsockname()[1]}"
        media = await client.external_media(host, audio_format="slin16")
        await client.add_channel_when_ready(bridge["id"], media["id"], timeout_s=TIMEOUT_S)
        bridges = {b["id"]: b for b in await client.get_bridges()}
        assert set(bridges[bridge["id"]]["channels"]) == {snoop["id"], media["id"]}
        assert client.own_bridges == {bridge["id"]}
        with pytest.raises(AriTimeoutError):
            await client.wait_for_stasis_start("no-such-channel", timeout_s=0.05)
        with pytest.raises(AriHttpError) as info:
            await client.add_channel("no-such-bridge", snoop["id"])
        assert info.value.status == 404
        for helper in (snoop["id"], media["id"]):
            await hangup_and_wait(client, recorder, helper)
        # The race itself (docs/asterisk.md#the-422-race): addChannel right after snoop may 422.
        races = 0
        for _ in range(RACE_TRIES):
            extra = await client.snoop(channel_id, spy="out")
            try:
                await client.add_channel(bridge["id"], extra["id"])
            except AriHttpError as exc:
                assert exc.status == 422, exc
                races += 1
                await client.add_channel_when_ready(bridge["id"], extra["id"], TIMEOUT_S)
            await hangup_and_wait(client, recorder, extra["id"])
        log.info("addChannel right after snoop: %d of %d got 422", races, RACE_TRIES)
    finally:
        udp.close()
    phone.hangup()
    await recorder.wait_for(lambda e: e.get("type") == "StasisEnd"
                            and e["channel"]["id"] == channel_id)
    # Bridges we create outlive their channels (docs/asterisk.md#leftover-bridges):
    # close() deletes them.
    assert bridge["id"] in {b["id"] for b in await client.get_bridges()}
    await client.close()
    checker = _client(running_sandbox, Recorder())
    try:
        assert bridge["id"] not in {b["id"] for b in await checker.get_bridges()}
    finally:
        await checker.close()


async def test_app_reregistered_after_asterisk_restart(
        running_sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    """Asterisk forgets the app when it restarts; the reconnect loop registers it again."""
    caplog.set_level(logging.DEBUG, logger="edgeqa.ari.client")
    disconnects: list[BaseException | None] = []
    sessions: list[float] = []
    second = asyncio.Event()

    async def on_session() -> None:
        sessions.append(time.monotonic())
        if len(sessions) == 2:
            second.set()

    recorder = Recorder()
    client = _client(running_sandbox, recorder, on_session=on_session,
                     on_disconnect=disconnects.append)
    runner = asyncio.create_task(client.run())
    try:
        await client.wait_connected(TIMEOUT_S)
        began = time.monotonic()
        boot_s = await asyncio.to_thread(running_sandbox.restart)
        booted = time.monotonic()
        await asyncio.wait_for(second.wait(), TIMEOUT_S)
        log.info("restart() took %.2f s (boot %.2f s); app re-registered %.2f s after the "
                  "restart began", booted - began, boot_s, sessions[1] - began)
        assert sessions[1] - booted < 1.0  # backoff_max_s=0.5 bounds the wait
        assert client.stats.sessions == 2
        app = await client.get_application()
        assert app["name"] == "edgeqa" and {"type": "ChannelVarset"} in app["events_disallowed"]
    finally:
        await client.close()
        await asyncio.wait_for(runner, TIMEOUT_S)
    # on_disconnect: the restart's cause first (the first session was up), then None for close().
    assert isinstance(disconnects[0], AriConnectionError), disconnects
    assert disconnects[-1] is None
    retries = [r for r in caplog.records if "reconnecting in" in r.getMessage()]
    recovered = [r for r in caplog.records if "reconnected after" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.WARNING] + [logging.DEBUG] * (len(retries) - 1)
    assert len(recovered) == 1 and recovered[0].levelno == logging.INFO
    assert f"after {len(retries)} attempt" in recovered[0].getMessage()


async def test_heartbeat_pings_keep_the_session(running_sandbox: Sandbox) -> None:
    """Asterisk answers WebSocket pings: a quiet link stays one session."""
    client = _client(running_sandbox, Recorder(), heartbeat_s=0.2)
    runner = asyncio.create_task(client.run())
    try:
        await client.wait_connected(TIMEOUT_S)
        await asyncio.sleep(1.5)  # ~7 ping/pong rounds with no events
        assert client.connected and client.stats.sessions == 1
    finally:
        await client.close()
        await asyncio.wait_for(runner, TIMEOUT_S)
