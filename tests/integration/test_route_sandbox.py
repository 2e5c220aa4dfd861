"""The FastAGI route on the real switch, real queue, real phones (issue 13's acceptance):

- a caller whom the route prioritises (a VIP) is answered before an earlier caller: both wait
  in the support queue while agent1, the only agent logged in, is busy on another call; when
  agent1 frees up, the VIP is the one connected to it;
- the agent who last had a good call with the caller (agent2, in the caller history) is offered
  first although the queue would ring agent1 (penalty 1) before it (penalty 2);
- with the daemon stopped, a new call still reaches the queue within 1 s: from the INVITE (the
  phone's dial) to app_queue's QueueCallerJoin on AMI; the dialplan saw AGISTATUS=FAILURE and
  kept its defaults.

Extension 611 (sandbox extensions.conf): Gosub(edgeqa-agi,route,1(support)), then
Gosub(edgeqa-queue,...) (asterisk_conf/extensions_edgeqa.conf).

Run: EDGEQA_SANDBOX_PORT_BASE=22000 .venv/bin/pytest -q tests/integration/test_route_sandbox.py
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest

from edgeqa.ami.message import AmiMessage
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.pbx import Sandbox
from tests.support.ami import Recorder, make_client, running, until
from tests.support.daemon import make_daemon
from tests.support.hygiene import no_leaks  # noqa: F401
from tests.support.phones import SoftphoneFactory

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]
log = logging.getLogger(__name__)

STEP_TIMEOUT_S = 15.0
#: The issue's bound: a new call reaches the queue this soon with the daemon down.
FALLBACK_MAX_S = 1.0
ROUTE_EXTEN = "611"
VIP, OTHER = "5551002", "5551003"  # customer2's and customer3's caller numbers


def _joins(rec: Recorder, number: str) -> list[AmiMessage]:
    return [m for m in rec.events
            if m.get("Event") == "QueueCallerJoin" and m.get("CallerIDNum") == number]


def _route_events(rec: Recorder, number: str) -> list[AmiMessage]:
    return [m for m in rec.events if m.get("Event") == "UserEvent"
            and m.get("UserEvent") == "EdgeqaRoute" and m.get("CallerIDNum") == number]


async def test_a_prioritised_caller_is_answered_before_an_earlier_caller(
        running_sandbox: Sandbox, softphone: SoftphoneFactory, tmp_path: Path) -> None:
    box = running_sandbox
    proc = make_daemon(box, tmp_path, live=False, record=False,
                       extra=f'[route]\nvip_numbers = ["{VIP}"]\nprefer_agent = false\n')
    proc.start()
    rec = Recorder()
    try:
        await blocking(proc.wait_ready)
        agent = softphone("agent1", auto_answer=True)
        other, vip = softphone("customer3"), softphone("customer2")
        async with running(make_client(box.ami, rec), STEP_TIMEOUT_S):
            await until(lambda: len(rec.events) > 0, STEP_TIMEOUT_S)  # logged in
            await blocking(agent.dial, "603")  # agent1 busy (echo): the queue cannot ring it
            await blocking(agent.wait_state, "CONFIRMED", STEP_TIMEOUT_S)
            await blocking(other.dial, ROUTE_EXTEN)
            await until(lambda: bool(_joins(rec, OTHER)), STEP_TIMEOUT_S)
            await blocking(vip.dial, ROUTE_EXTEN)
            await until(lambda: bool(_joins(rec, VIP)), STEP_TIMEOUT_S)
            assert _joins(rec, OTHER)[0].get("Position") == "1"
            assert _joins(rec, VIP)[0].get("Position") == "1"  # placed ahead by QUEUE_PRIO
            (routed,) = _route_events(rec, VIP)
            assert (routed.get("Prio"), routed.get("AgiStatus")) == ("10", "SUCCESS"), routed
            (plain,) = _route_events(rec, OTHER)
            assert plain.get("Prio") == "0", plain
            await blocking(agent.hangup)  # agent1 frees up: the head of the queue gets it
            await until(lambda: any(m.get("Event") == "AgentConnect" for m in rec.events),
                        STEP_TIMEOUT_S)
            first = next(m for m in rec.events if m.get("Event") == "AgentConnect")
            assert first.get("CallerIDNum") == VIP, first
            assert first.get("MemberName") == "Agent One"
            for phone in (vip, other, agent):
                await blocking(phone.hangup)
        health = await blocking(proc.get, "/v1/health")
        assert health["route"]["decided"] == 2 and health["route"]["by_rule"]["vip"] == 1
    finally:
        assert proc.stop() == 0, proc.log()
    # the calls' ends reached the caller history (the store's projection of call.ended)
    with sqlite3.connect(tmp_path / "d" / "edgeqa.db") as db:
        rows = dict(db.execute("SELECT caller, agent FROM caller_history").fetchall())
    db.close()
    assert rows == {VIP: "PJSIP/agent1", OTHER: None}, rows


async def test_with_the_daemon_stopped_a_new_call_still_reaches_the_queue_within_1_s(
        running_sandbox: Sandbox, softphone: SoftphoneFactory, tmp_path: Path) -> None:
    box = running_sandbox
    proc = make_daemon(box, tmp_path, live=False, record=False)
    proc.start()
    try:
        await blocking(proc.wait_ready)
    finally:
        assert proc.stop() == 0, proc.log()  # the daemon is down: its AGI port is closed
    rec = Recorder()
    caller = softphone("customer3")
    async with running(make_client(box.ami, rec), STEP_TIMEOUT_S):
        await until(lambda: len(rec.events) > 0, STEP_TIMEOUT_S)
        invite = time.monotonic()
        await blocking(caller.dial, ROUTE_EXTEN)
        await until(lambda: bool(_joins(rec, OTHER)), STEP_TIMEOUT_S)
        joined = time.monotonic()
        (routed,) = _route_events(rec, OTHER)
        await blocking(caller.hangup)
    log.info("daemon down: INVITE -> QueueCallerJoin in %.0f ms", (joined - invite) * 1e3)
    print(f"route fallback, daemon down: INVITE -> QueueCallerJoin "
          f"{(joined - invite) * 1e3:.0f} ms")
    assert routed.get("AgiStatus") == "FAILURE" and routed.get("Prio") == "0", routed
    assert joined - invite < FALLBACK_MAX_S


async def test_the_agent_of_the_last_good_call_is_offered_first(
        running_sandbox: Sandbox, softphone: SoftphoneFactory, tmp_path: Path) -> None:
    box = running_sandbox
    agents = {name: softphone(name, auto_answer=True) for name in ("agent1", "agent2")}
    caller = softphone("customer1")
    proc = make_daemon(box, tmp_path, live=False, record=False)
    proc.start()
    rec = Recorder()
    try:
        await blocking(proc.wait_ready)
        with sqlite3.connect(tmp_path / "d" / "edgeqa.db", timeout=5.0) as db:  # a past call
            db.execute("INSERT INTO caller_history (call_id, caller, ended_at, agent, queue, "
                       "dead_air_s, talk_over_s, partial, good) VALUES "
                       "('past', '5551001', ?, 'PJSIP/agent2', 'support', 0, 0, 0, 1)",
                       (time.time() - 600,))
        db.close()
        async with running(make_client(box.ami, rec), STEP_TIMEOUT_S):
            await until(lambda: len(rec.events) > 0, STEP_TIMEOUT_S)
            await blocking(caller.dial, ROUTE_EXTEN)
            await until(lambda: any(m.get("Event") == "AgentConnect" for m in rec.events),
                        STEP_TIMEOUT_S)
            connect = next(m for m in rec.events if m.get("Event") == "AgentConnect")
            (routed,) = _route_events(rec, "5551001")
            await blocking(caller.hangup)
        assert routed.get("Agent") == "PJSIP/agent2", routed
        assert "prefer" in (routed.get("Reason") or ""), routed
        assert connect.get("MemberName") == "Agent Two", connect
    finally:
        for phone in agents.values():
            await blocking(phone.hangup)
        assert proc.stop() == 0, proc.log()
