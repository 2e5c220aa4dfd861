"""Real blind and attended transfers from agent1 to 112 (agent2); the call stays one call.

customer1 -> 600 -> Queue(support) -> agent1. Blind: agent1's pjsua2 phone sends REFER
(Refer-To 112); Asterisk 22 (res_pjsip_refer) raises AMI BlindTransfer and runs the customer at
112@sandbox-internal, which dials agent2. Attended: agent1 holds the customer, calls 112 on a
second line, then REFERs the customer with Replaces of that line; Asterisk raises AMI
AttendedTransfer and bridges the customer with agent2. The tracker is fed by the real AMI and
ARI clients.
Run: EDGEQA_SANDBOX_PORT_BASE=17000 .venv/bin/pytest tests/integration/test_tracker_transfer.py
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from tests.support.phones import SoftphoneFactory
from tests.support.schemas import assert_valid
from tests.support.tracker import Live, running_live

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)
PHONE_TIMEOUT_S = 10.0


@pytest.fixture
async def live(running_sandbox: Sandbox) -> AsyncIterator[Live]:
    async with running_live(running_sandbox,
                            keep_ami=("BlindTransfer", "AttendedTransfer")) as wired:
        yield wired


async def test_blind_transfer_from_agent1_to_agent2(
        live: Live, running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        softphone: SoftphoneFactory) -> None:
    agent2 = softphone("agent2", auto_answer=True)
    fixture = FixtureCall(running_sandbox, data_dir / "calls", tmp_path)
    try:
        await asyncio.to_thread(fixture.start)
        connected = await live.wait_for(lambda e: e.type == "call.updated"
                                        and e.data["call"]["state"] == "connected")
        call_id = connected.data["call"]["call_id"]
        completed_before = next(q["completed"] for q in live.tracker.snapshot()["queues"]
                                if q["name"] == "support")

        asked = time.time()
        await asyncio.to_thread(fixture.agent.transfer, "112")
        await asyncio.to_thread(agent2.wait_incoming, PHONE_TIMEOUT_S)
        await asyncio.to_thread(agent2.wait_state, "CONFIRMED", PHONE_TIMEOUT_S)
        await asyncio.to_thread(fixture.agent.wait_state, "DISCONNECTED", PHONE_TIMEOUT_S)
        joined = await live.wait_for(lambda e: e.type.startswith("leg.")
                                     and e.data["channel"]["endpoint"] == "PJSIP/agent2"
                                     and e.data["channel"]["state"] == "up")
        assert joined.data["call_id"] == call_id
        transferred = await live.wait_for(lambda e: e.type == "call.updated"
                                          and bool(e.data["call"]["transfers"]))
        (transfer,) = transferred.data["call"]["transfers"]
        assert (transfer["kind"], transfer["target"]) == ("blind", "112@sandbox-internal")
        assert asked - 0.1 <= transfer["at"] <= time.time()
        await live.wait_for(lambda e: e.type == "leg.removed"
                            and e.data["channel"]["endpoint"] == "PJSIP/agent1")

        (call,) = live.tracker.snapshot()["calls"]
        legs = {leg["endpoint"]: leg for leg in call["channels"]}
        assert {k: v["role"] for k, v in legs.items()} == {
            "PJSIP/customer1": "customer", "PJSIP/agent1": "agent", "PJSIP/agent2": "agent"}
        assert transfer["transferer"] == legs["PJSIP/agent1"]["uniqueid"]
        assert transfer["transferee"] == legs["PJSIP/customer1"]["uniqueid"]
        assert legs["PJSIP/agent1"]["state"] == "hungup"
        assert legs["PJSIP/customer1"]["ended_at"] is None
        (raw,) = live.kept
        assert (raw.get("Result"), raw.get("Extension")) == ("Success", "112")
        # app_queue counts the transferred call as completed (AgentComplete, Reason: transfer).
        await live.wait_for(lambda e: e.type == "queue.updated"
                            and e.data["queue"]["name"] == "support"
                            and e.data["queue"]["completed"] == completed_before + 1)

        await asyncio.to_thread(fixture.customer.hangup)
        await asyncio.to_thread(agent2.wait_state, "DISCONNECTED", PHONE_TIMEOUT_S)
    finally:
        fixture.close()
    ended = await live.wait_for(lambda e: e.type == "call.ended")
    final = ended.data["call"]
    assert final["call_id"] == call_id and len(final["channels"]) == 3
    assert {leg["state"] for leg in final["channels"]} == {"hungup"}
    assert [e.type for e in live.events].count("call.started") == 1
    assert live.tracker.snapshot()["calls"] == []
    assert_valid(live.events)


async def test_attended_transfer_from_agent1_to_agent2(
        live: Live, running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        softphone: SoftphoneFactory) -> None:
    agent2 = softphone("agent2", auto_answer=True)
    fixture = FixtureCall(running_sandbox, data_dir / "calls", tmp_path)
    try:
        await asyncio.to_thread(fixture.start)
        connected = await live.wait_for(lambda e: e.type == "call.updated"
                                        and e.data["call"]["state"] == "connected")
        call_id = connected.data["call"]["call_id"]
        agent = fixture.agent
        await asyncio.to_thread(agent.hold)
        await asyncio.to_thread(agent.consult, "112", PHONE_TIMEOUT_S)
        await asyncio.to_thread(agent2.wait_incoming, PHONE_TIMEOUT_S)
        await asyncio.to_thread(agent2.wait_state, "CONFIRMED", PHONE_TIMEOUT_S)
        consulted = await live.wait_for(lambda e: e.type.startswith("leg.")
                                        and e.data["channel"]["endpoint"] == "PJSIP/agent2"
                                        and e.data["channel"]["state"] == "up")
        consult_id = consulted.data["call_id"]
        assert consult_id != call_id  # before the transfer: a call of its own
        asked = time.time()
        await asyncio.to_thread(agent.transfer_attended, PHONE_TIMEOUT_S)
        await asyncio.to_thread(agent.wait_state, "DISCONNECTED", PHONE_TIMEOUT_S)
        merged = await live.wait_for(lambda e: e.type == "call.ended"
                                     and e.data["call"]["call_id"] == consult_id)
        transferred = await live.wait_for(lambda e: e.type == "call.updated"
                                          and e.data["call"]["call_id"] == call_id
                                          and bool(e.data["call"]["transfers"]))
        (transfer,) = transferred.data["call"]["transfers"]
        assert transfer["kind"] == "attended"
        assert asked - 0.1 <= transfer["at"] <= time.time()
        await live.wait_for(lambda e: e.type == "leg.removed"
                            and e.data["channel"]["endpoint"] == "PJSIP/agent1"
                            and e.data["call_id"] == call_id)
        (call,) = live.tracker.snapshot()["calls"]
        assert call["call_id"] == call_id and call["state"] == "connected"
        roles = {leg["channel"]: leg["role"] for leg in call["channels"]}
        log.info("attended transfer: roles %s", roles)
        by_endpoint: dict[str, list[dict[str, Any]]] = {}
        for leg in call["channels"]:
            by_endpoint.setdefault(leg["endpoint"], []).append(leg)
        # The customer stays the customer; agent1's two lines are the agent, and hung up;
        # agent2, reached from the consultation, is the call's agent now.
        ((customer,), agent1_legs, (agent2_leg,)) = (
            by_endpoint["PJSIP/customer1"], by_endpoint["PJSIP/agent1"],
            by_endpoint["PJSIP/agent2"])
        assert len(by_endpoint) == 3 and len(agent1_legs) == 2
        assert (customer["role"], customer["ended_at"]) == ("customer", None)
        assert (agent2_leg["role"], agent2_leg["ended_at"]) == ("agent", None)
        agent1_ids = {leg["uniqueid"] for leg in agent1_legs}
        # (A move from the consultation also emits leg.removed: wait for both hang-ups.)
        await live.wait_for(lambda e: len({x.data["channel"]["uniqueid"] for x in live.events
                                           if x.type == "leg.removed"
                                           and x.data["channel"]["uniqueid"] in agent1_ids
                                           and x.data["channel"]["state"] == "hungup"}) == 2)
        for leg in live.tracker.snapshot()["calls"][0]["channels"]:
            if leg["endpoint"] == "PJSIP/agent1":
                assert (leg["role"], leg["state"]) == ("agent", "hungup")
        first = min(agent1_legs, key=lambda leg: leg["started_at"])
        assert transfer["transferer"] == first["uniqueid"]
        assert transfer["transferee"] == customer["uniqueid"]
        assert transfer["target"] == agent2_leg["uniqueid"]
        assert merged.data["call"]["state"] == "ended"
        (raw,) = live.kept
        assert (raw.event, raw.get("Result")) == ("AttendedTransfer", "Success")

        await asyncio.to_thread(fixture.customer.hangup)
        await asyncio.to_thread(agent2.wait_state, "DISCONNECTED", PHONE_TIMEOUT_S)
    finally:
        fixture.close()
    ended = await live.wait_for(lambda e: e.type == "call.ended"
                                and e.data["call"]["call_id"] == call_id)
    final = ended.data["call"]
    assert len(final["channels"]) == 4 and {leg["state"] for leg in final["channels"]} == {"hungup"}
    assert {leg["channel"]: leg["role"] for leg in final["channels"]} == roles
    assert [e.data["call"]["call_id"] for e in live.events if e.type == "call.ended"] == [
        consult_id, call_id]
    assert live.tracker.snapshot()["calls"] == []
    assert_valid(live.events)
