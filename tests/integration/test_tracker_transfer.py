"""A real blind transfer: agent1 REFERs the customer to 112 (agent2); the call stays one call.

customer1 -> 600 -> Queue(support) -> agent1, then agent1's pjsua2 phone sends REFER
(Refer-To 112); Asterisk 22 (res_pjsip_refer) raises AMI BlindTransfer and runs the customer at
112@sandbox-internal, which dials agent2. The tracker is fed by the real AMI and ARI clients.
Run: EDGEQA_SANDBOX_PORT_BASE=17000 .venv/bin/pytest tests/integration/test_tracker_transfer.py
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edgeqa.ami.message import AmiMessage
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from tests.integration.conftest import SoftphoneFactory
from tests.integration.test_tracker_sandbox import Live
from tests.unit.test_tracker_transcript import assert_valid

pytestmark = pytest.mark.integration
PHONE_TIMEOUT_S = 10.0


class TransferLive(Live):
    """Live, keeping the AMI BlindTransfer events as received."""

    def __init__(self, box: Sandbox) -> None:
        super().__init__(box)
        self.transfers: list[AmiMessage] = []

    def on_ami(self, msg: AmiMessage) -> None:
        if msg.event == "BlindTransfer":
            self.transfers.append(msg)
        super().on_ami(msg)


@pytest.fixture
async def live(running_sandbox: Sandbox) -> AsyncIterator[TransferLive]:
    wired = TransferLive(running_sandbox)
    await wired.start()
    try:
        yield wired
    finally:
        await wired.stop()


async def test_blind_transfer_from_agent1_to_agent2(
        live: TransferLive, running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
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
                                     and e.data["leg"]["endpoint"] == "PJSIP/agent2"
                                     and e.data["leg"]["state"] == "up")
        assert joined.data["call_id"] == call_id
        transferred = await live.wait_for(lambda e: e.type == "call.updated"
                                          and bool(e.data["call"]["transfers"]))
        (transfer,) = transferred.data["call"]["transfers"]
        assert (transfer["kind"], transfer["target"]) == ("blind", "112@sandbox-internal")
        assert asked - 0.1 <= transfer["at"] <= time.time()
        await live.wait_for(lambda e: e.type == "leg.removed"
                            and e.data["leg"]["endpoint"] == "PJSIP/agent1")

        (call,) = live.tracker.snapshot()["calls"]
        legs = {leg["endpoint"]: leg for leg in call["legs"]}
        assert {k: v["role"] for k, v in legs.items()} == {
            "PJSIP/customer1": "customer", "PJSIP/agent1": "agent", "PJSIP/agent2": "agent"}
        assert transfer["transferer"] == legs["PJSIP/agent1"]["uniqueid"]
        assert transfer["transferee"] == legs["PJSIP/customer1"]["uniqueid"]
        assert legs["PJSIP/agent1"]["state"] == "hungup"
        assert legs["PJSIP/customer1"]["ended_at"] is None
        (raw,) = live.transfers
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
    assert final["call_id"] == call_id and len(final["legs"]) == 3
    assert {leg["state"] for leg in final["legs"]} == {"hungup"}
    assert [e.type for e in live.events].count("call.started") == 1
    assert live.tracker.snapshot()["calls"] == []
    assert_valid(live.events)
