"""The call tracker fed by the real AMI and ARI clients during a real queue call.

customer1 -> 600 -> Queue(support) -> agent1 (the sandbox's FixtureCall, real pjsua2 phones).
Run: EDGEQA_SANDBOX_PORT_BASE=17000 .venv/bin/pytest tests/integration/test_tracker_sandbox.py
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edgeqa.calls import CallTracker
from edgeqa.calls.changes import CallConnected, CallEnded
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from tests.support.agi import agi_server, trivial_spy
from tests.support.phones import SoftphoneFactory
from tests.support.schemas import assert_valid
from tests.support.tracker import Live, list_state, running_live

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)


@pytest.fixture
async def live(running_sandbox: Sandbox) -> AsyncIterator[Live]:
    async with running_live(running_sandbox) as wired:
        yield wired


def _roles(call: dict[str, Any]) -> dict[str, str]:
    return {leg["endpoint"]: leg["role"] for leg in call["channels"]}


async def test_real_queue_call_roles_queue_agent_times(
        live: Live, running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        softphone: SoftphoneFactory) -> None:
    queues = live.tracker.snapshot()["queues"]
    support = next(q for q in queues if q["name"] == "support")
    assert [m["interface"] for m in support["members"]] == [
        "PJSIP/agent1", "PJSIP/agent10", "PJSIP/agent2", "PJSIP/agent3"]

    fixture = FixtureCall(running_sandbox, data_dir / "calls", tmp_path)
    try:
        dialled = time.time()
        await asyncio.to_thread(fixture.start)
        connected = await live.wait_for(lambda e: e.type == "call.updated"
                                        and e.data["call"]["state"] == "connected")
        call = dict(connected.data["call"])
        log.info("call %s connected %.3f s after dial (tracker)", call["call_id"],
                  call["answered_at"] - dialled)
        assert call["queue"] == "support"
        assert (call["agent_interface"], call["agent_name"]) == ("PJSIP/agent1", "Agent One")
        assert _roles(call) == {"PJSIP/customer1": "customer", "PJSIP/agent1": "agent"}
        assert dialled - 1 < call["started_at"] <= call["answered_at"] <= time.time()

        # A fresh tracker resynced from Asterisk mid-call sees the same call.
        fresh = CallTracker()
        fresh.begin_resync(time.time())
        msgs, channels, bridges = await list_state(live.ami, live.ari)
        events = fresh.resync_ami(msgs, time.time(), channels)
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
        # Its answer is no later than the real one, and not the resync time: the agent's
        # channel age (CoreShowChannel Duration, ARI creationtime) bounds it from below.
        ids = {c["role"]: c["uniqueid"] for c in call["channels"]}
        (connected_again,) = fresh.drain_changes()
        assert connected_again == CallConnected(
            call["call_id"], connected_again.at, again["answered_at"],
            customer=ids["customer"], agent=ids["agent"])
        assert call["answered_at"] - 5 < again["answered_at"] <= call["answered_at"]
        # A restarted daemon whose store has the call open keeps the stored answer.
        restarted = CallTracker()
        restarted.remember_calls([call])
        restarted.begin_resync(time.time())
        restarted.resync_ami(msgs, time.time(), channels)
        restarted.resync_ari(channels, bridges, time.time())
        restarted.end_resync(time.time())
        assert restarted.snapshot()["calls"][0]["answered_at"] == call["answered_at"]
        (restored,) = restarted.drain_changes()
        assert isinstance(restored, CallConnected)
        assert restored.answered_at == call["answered_at"]

        # A real ChanSpy supervisor (feature code *2231: whisper on agent1, run over FastAGI
        # by a trivial handler) is a supervisor leg.
        supervisor = softphone("supervisor1")
        async with agi_server(running_sandbox, {"spy": trivial_spy}):
            supervisor.dial("*2231")
            spy = await live.wait_for(lambda e: e.type.startswith("leg.")
                                      and e.data["channel"]["role"] == "supervisor"
                                      and e.data["channel"]["spying_on"] is not None)
            assert spy.data["call_id"] == call["call_id"]
            assert spy.data["channel"]["endpoint"] == "PJSIP/supervisor1"
            assert spy.data["channel"]["spy_mode"] == "whisper"
            assert live.tracker.snapshot()["calls"][0]["supervisors"] == 1
            supervisor.hangup()
            await live.wait_for(lambda e: e.type == "leg.removed"
                                and e.data["channel"]["role"] == "supervisor")

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
    assert all(leg["ended_at"] is not None for leg in final["channels"])
    assert_valid(live.events)
    assert live.tracker.snapshot()["calls"] == []
    assert [e.type for e in live.events].count("call.started") == 1
    changes = [c for c in live.tracker.drain_changes() if c.call_id == call["call_id"]]
    assert changes == [
        CallConnected(call["call_id"], changes[0].at,
                      call["answered_at"], customer=ids["customer"], agent=ids["agent"]),
        CallEnded(call["call_id"], final["ended_at"])]


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
    lost_at = live.lost_at
    await live.start()
    ended = await live.wait_for(lambda e: e.type == "call.ended")
    final = ended.data["call"]
    assert final["call_id"] == connected.data["call"]["call_id"]
    assert {leg["hangup_cause"] for leg in final["channels"]} == {"swept"}
    # It ended while nobody listened: at the disconnect, not at the resync after it.
    assert lost_at is not None and final["ended_at"] == lost_at < ended.at
    assert live.tracker.drain_changes()[-1] == CallEnded(final["call_id"], lost_at)
    assert_valid(live.events)
    assert live.tracker.snapshot()["calls"] == [] and live.tracker.channels == {}
