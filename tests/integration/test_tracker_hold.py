"""Hold on a real call: the agent's pjsua2 phone re-INVITEs with a=sendonly, then a=sendrecv.

customer1 -> 600 -> Queue(support) -> agent1; Asterisk 22's res_pjsip_sdp_rtp raises
ast_queue_hold() on a sendonly/inactive offer (AMI ``Hold`` with MusicClass, ARI
``ChannelHold``) and ast_queue_unhold() when sendrecv returns (``Unhold``). The tracker is fed
by the real AMI and ARI clients, as the daemon feeds it.
Run: EDGEQA_SANDBOX_PORT_BASE=17000 .venv/bin/pytest tests/integration/test_tracker_hold.py
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from edgeqa.store.records import Event
from tests.support.schemas import assert_valid
from tests.support.tracker import Live, running_live

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)
HELD_S = 1.5
#: Hold start/end as the tracker records them vs. the phone's own re-INVITE round trips.
HOLD_EDGE_TOLERANCE_S = 0.5
AMI_LAG_TIMEOUT_S = 5.0


@pytest.fixture
async def live(running_sandbox: Sandbox) -> AsyncIterator[Live]:
    async with running_live(running_sandbox, keep_ami=("Hold", "Unhold")) as wired:
        yield wired


def _agent_hold_event(on_hold: bool) -> Callable[[Event], bool]:
    def match(e: Event) -> bool:
        channel = e.data.get("channel") or {}
        return (e.type == "leg.updated" and channel["endpoint"] == "PJSIP/agent1"
                and channel["on_hold"] is on_hold and channel["hold_count"] == 1)
    return match


async def test_agent_holds_and_resumes_a_real_queue_call(
        live: Live, running_sandbox: Sandbox, data_dir: Path, tmp_path: Path) -> None:
    fixture = FixtureCall(running_sandbox, data_dir / "calls", tmp_path)
    try:
        await asyncio.to_thread(fixture.start)
        connected = await live.wait_for(lambda e: e.type == "call.updated"
                                        and e.data["call"]["state"] == "connected")
        call_id = connected.data["call"]["call_id"]

        asked = time.time()
        await asyncio.to_thread(fixture.agent.hold)
        held_ack = time.time()
        held = await live.wait_for(_agent_hold_event(True))
        seen_held = time.time()
        leg = held.data["channel"]
        assert held.data["call_id"] == call_id and leg["role"] == "agent"
        (start, end) = (leg["holds"][0]["start"], leg["holds"][0]["end"])
        assert end is None and asked - 0.1 <= start <= held_ack + HOLD_EDGE_TOLERANCE_S
        call = live.tracker.snapshot()["calls"][0]
        assert call["on_hold"] is True
        customer = next(x for x in call["channels"] if x["role"] == "customer")
        assert customer["on_hold"] is False  # the phone that sent sendonly is the held leg
        log.info("hold: re-INVITE answered %.3f s, tracker saw it %.3f s after the request",
                  held_ack - asked, seen_held - asked)

        await asyncio.sleep(HELD_S)
        resumed_at = time.time()
        await asyncio.to_thread(fixture.agent.unhold)
        resumed = await live.wait_for(_agent_hold_event(False))
        leg = resumed.data["channel"]
        (start2, end2) = (leg["holds"][0]["start"], leg["holds"][0]["end"])
        assert start2 == start and end2 is not None
        assert resumed_at - 0.1 <= end2 <= time.time()
        assert abs(leg["hold_s"] - (end2 - start2)) < 1e-9
        assert HELD_S - 0.1 <= leg["hold_s"] <= HELD_S + 2 * HOLD_EDGE_TOLERANCE_S
        updated = next(e for e in reversed(live.events) if e.type == "call.updated")
        assert updated.data["call"]["on_hold"] is False
        assert updated.data["call"]["hold_s"] == leg["hold_s"]
        log.info("hold interval %.3f s (slept %.1f s)", leg["hold_s"], HELD_S)

        # Both AMI events came from the agent's channel; ARI's duplicates opened no new hold.
        # (ARI's ChannelUnhold may be the one the tracker applied: AMI can come second.)
        await live.wait_kept("Unhold", AMI_LAG_TIMEOUT_S)
        assert [m.event for m in live.kept] == ["Hold", "Unhold"]
        assert all((m.get("Channel") or "").startswith("PJSIP/agent1-")
                   for m in live.kept)
        await asyncio.to_thread(fixture.finish)
    finally:
        fixture.close()
    ended = await live.wait_for(lambda e: e.type == "call.ended")
    final = ended.data["call"]
    assert final["call_id"] == call_id and final["on_hold"] is False
    agent = next(x for x in final["channels"] if x["role"] == "agent")
    assert (agent["hold_count"], agent["state"]) == (1, "hungup")
    assert len(agent["holds"]) == 1 and final["hold_s"] == agent["hold_s"]
    holds = [e for e in live.events if e.type == "leg.updated" and e.data["channel"]["on_hold"]]
    assert {e.data["channel"]["hold_count"] for e in holds} == {1}
    assert_valid(live.events)
