"""The call tracker fed by the real AMI and ARI clients during a real queue call.

customer1 -> 600 -> Queue(support) -> agent1 (the sandbox's FixtureCall, real pjsua2 phones).
Run: EDGEQA_SANDBOX_PORT_BASE=17000 .venv/bin/pytest tests/integration/test_tracker_sandbox.py
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from edgeqa.ami.client import AmiClient
from edgeqa.ami.message import AmiMessage
from edgeqa.ari.client import AriClient
from edgeqa.calls import CallTracker, TrackerEvent
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from tests.integration.conftest import SoftphoneFactory
from tests.unit.test_tracker_transcript import assert_valid

pytestmark = pytest.mark.integration
_LOG = logging.getLogger(__name__)
TIMEOUT_S = 20.0


async def list_state(ami: AmiClient, ari: AriClient) -> tuple[list[AmiMessage], list[Any],
                                                              list[Any]]:
    """What a resync reads: CoreShowChannels + QueueStatus items, GET /channels and /bridges."""
    _, channels = await ami.send_list_action("CoreShowChannels")
    _, queues = await ami.send_list_action("QueueStatus")
    return channels + queues, await ari.get_channels(), await ari.get_bridges()


class Live:
    """A tracker wired to both clients, as the daemon wires it; clients can be replaced.

    AMI events named in ``keep_ami`` are also kept raw, in ``kept``, as received.
    """

    def __init__(self, box: Sandbox, keep_ami: Iterable[str] = ()) -> None:
        self.box = box
        self.tracker = CallTracker()
        self.events: list[TrackerEvent] = []
        self.keep_ami = frozenset(keep_ami)
        self.kept: list[AmiMessage] = []
        self._kept_changed = asyncio.Event()
        self.resynced = asyncio.Event()
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Connect fresh AMI and ARI clients; return once their first resync is applied."""
        self.resynced.clear()
        host, port, user, secret = self.box.ami
        self.ami = AmiClient(host, port, user, secret, on_message=self.on_ami,
                             on_session=self.resync, backoff_initial_s=0.05, backoff_max_s=0.5)
        url, ari_user, password, app = self.box.ari
        self.ari = AriClient(url, ari_user, password, app, on_event=self.on_ari,
                             backoff_initial_s=0.05, backoff_max_s=0.5)
        self._tasks = [asyncio.create_task(self.ari.run()), asyncio.create_task(self.ami.run())]
        await asyncio.wait_for(self.resynced.wait(), TIMEOUT_S)

    async def stop(self) -> None:
        """Close both clients: from now on the tracker hears nothing."""
        await self.ami.close()
        await self.ari.close()
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), TIMEOUT_S)

    def _add(self, events: list[TrackerEvent]) -> None:
        if events:
            self.events += events
            self._changed.set()

    def on_ami(self, msg: AmiMessage) -> None:
        if msg.event in self.keep_ami:
            self.kept.append(msg)
            self._kept_changed.set()
        self._add(self.tracker.handle_ami(msg, time.time()))

    async def wait_kept(self, event: str, timeout_s: float = TIMEOUT_S) -> AmiMessage:
        """Return the first kept AMI event named ``event``, waiting for it if need be."""
        async with asyncio.timeout(timeout_s):
            while True:
                found = next((m for m in self.kept if m.event == event), None)
                if found is not None:
                    return found
                self._kept_changed.clear()
                await self._kept_changed.wait()

    def on_ari(self, event: Any) -> None:
        self._add(self.tracker.handle_ari(event, time.time()))

    async def resync(self) -> None:
        await self.ari.wait_connected(TIMEOUT_S)
        self.tracker.begin_resync(time.time())
        msgs, channels, bridges = await list_state(self.ami, self.ari)
        self._add(self.tracker.resync_ami(msgs, time.time()))
        self._add(self.tracker.resync_ari(channels, bridges, time.time()))
        self._add(self.tracker.end_resync(time.time()))
        self.resynced.set()

    async def wait_for(self, match: Callable[[TrackerEvent], bool]) -> TrackerEvent:
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                found = next((e for e in self.events if match(e)), None)
                if found is not None:
                    return found
                self._changed.clear()
                await self._changed.wait()


@contextlib.asynccontextmanager
async def running_live(box: Sandbox, keep_ami: Iterable[str] = ()) -> AsyncIterator[Live]:
    """A started Live, stopped on exit."""
    wired = Live(box, keep_ami)
    await wired.start()
    try:
        yield wired
    finally:
        await wired.stop()


@pytest.fixture
async def live(running_sandbox: Sandbox) -> AsyncIterator[Live]:
    async with running_live(running_sandbox) as wired:
        yield wired


def _roles(call: dict[str, Any]) -> dict[str, str]:
    return {leg["endpoint"]: leg["role"] for leg in call["legs"]}


async def test_real_queue_call_roles_queue_agent_times(
        live: Live, running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        softphone: SoftphoneFactory) -> None:
    queues = live.tracker.snapshot()["queues"]
    support = next(q for q in queues if q["name"] == "support")
    assert [m["interface"] for m in support["members"]] == [
        "PJSIP/agent1", "PJSIP/agent2", "PJSIP/agent3"]

    fixture = FixtureCall(running_sandbox, data_dir / "calls", tmp_path)
    try:
        dialled = time.time()
        await asyncio.to_thread(fixture.start)
        connected = await live.wait_for(lambda e: e.type == "call.updated"
                                        and e.data["call"]["state"] == "connected")
        call = dict(connected.data["call"])
        _LOG.info("call %s connected %.3f s after dial (tracker)", call["call_id"],
                  call["answered_at"] - dialled)
        assert call["queue"] == "support"
        assert (call["agent_interface"], call["agent_name"]) == ("PJSIP/agent1", "Agent One")
        assert _roles(call) == {"PJSIP/customer1": "customer", "PJSIP/agent1": "agent"}
        assert dialled - 1 < call["started_at"] <= call["answered_at"] <= time.time()

        # A fresh tracker resynced from Asterisk mid-call sees the same call.
        fresh = CallTracker()
        fresh.begin_resync(time.time())
        msgs, channels, bridges = await list_state(live.ami, live.ari)
        events = fresh.resync_ami(msgs, time.time())
        events += fresh.resync_ari(channels, bridges, time.time())
        events += fresh.end_resync(time.time())
        assert_valid(events)
        (again,) = fresh.snapshot()["calls"]
        assert again["call_id"] == call["call_id"] and again["state"] == "connected"
        assert (again["queue"], again["agent_interface"]) == ("support", "PJSIP/agent1")
        assert _roles(again) == _roles(call)
        assert abs(again["started_at"] - call["started_at"]) < 1.5  # Duration is whole seconds
        agent1 = next(a for a in fresh.snapshot()["agents"] if a["interface"] == "PJSIP/agent1")
        assert agent1["on_call"] == call["call_id"]

        # A real ChanSpy supervisor (feature code *2231: whisper on agent1) is a supervisor leg.
        supervisor = softphone("supervisor1")
        supervisor.dial("*2231")
        spy = await live.wait_for(lambda e: e.type.startswith("leg.")
                                  and e.data["leg"]["role"] == "supervisor"
                                  and e.data["leg"]["spying_on"] is not None)
        assert spy.data["call_id"] == call["call_id"]
        assert spy.data["leg"]["endpoint"] == "PJSIP/supervisor1"
        assert spy.data["leg"]["spy_mode"] == "whisper"
        assert live.tracker.snapshot()["calls"][0]["supervisors"] == 1
        supervisor.hangup()
        await live.wait_for(lambda e: e.type == "leg.removed"
                            and e.data["leg"]["role"] == "supervisor")

        # The live tracker survives a resync of its own without losing a leg.
        before = len(live.events)
        await live.resync()
        assert not [e for e in live.events[before:] if e.type in ("leg.removed", "call.ended")]
        await asyncio.to_thread(fixture.finish)
    finally:
        fixture.close()
    ended = await live.wait_for(lambda e: e.type == "call.ended")
    final = ended.data["call"]
    assert final["call_id"] == call["call_id"]
    assert final["answered_at"] < final["ended_at"] <= time.time()
    assert all(leg["ended_at"] is not None for leg in final["legs"])
    assert_valid(live.events)
    assert live.tracker.snapshot()["calls"] == []
    assert [e.type for e in live.events].count("call.started") == 1


async def test_hangup_missed_while_disconnected_is_swept_by_the_resync(
        live: Live, running_sandbox: Sandbox, data_dir: Path, tmp_path: Path) -> None:
    fixture = FixtureCall(running_sandbox, data_dir / "calls", tmp_path)
    try:
        await asyncio.to_thread(fixture.start)
        connected = await live.wait_for(lambda e: e.type == "call.updated"
                                        and e.data["call"]["state"] == "connected")
        await live.stop()
        await asyncio.to_thread(fixture.finish)  # nobody hears these hang-ups
    finally:
        fixture.close()
    assert len(live.tracker.snapshot()["calls"]) == 1
    reconnected = time.time()
    await live.start()
    ended = await live.wait_for(lambda e: e.type == "call.ended")
    final = ended.data["call"]
    assert final["call_id"] == connected.data["call"]["call_id"]
    assert {leg["hangup_cause"] for leg in final["legs"]} == {"swept"}
    assert final["ended_at"] >= reconnected
    assert_valid(live.events)
    assert live.tracker.snapshot()["calls"] == [] and live.tracker.legs == {}
