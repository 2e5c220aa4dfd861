"""Issue 10 on the real sandbox: tokens made by `edgeqa token add` against a running daemon;
an agent's token sees its own call (snapshot and stream), another agent's does not, and a
request without a token gets 401 with no call data."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from tests.support.daemon import EVENT_TIMEOUT_S, add_token, fixture_call, is_type, make_daemon
from tests.support.hygiene import no_leaks  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]


async def test_an_agent_sees_its_own_call_and_another_agent_does_not(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    proc: DaemonProcess = make_daemon(running_sandbox, tmp_path, live=False, record=False)
    proc.start()
    try:
        await blocking(proc.wait_ready)
        # The fixture call queues at "support" and agent1 answers it.
        mine = await blocking(lambda: add_token(proc, "agent1", "agent", agent="PJSIP/agent1"))
        other = await blocking(lambda: add_token(proc, "agent2", "agent", agent="PJSIP/agent2"))
        lead = await blocking(add_token, proc, "lead", "supervisor", "queue:support")
        agent1, agent2 = collect(proc.api_url, token=mine), collect(proc.api_url, token=other)
        snaps: dict[str, object] = {}

        async def while_up(col: StreamCollector) -> None:
            for name, token in (("agent1", mine), ("agent2", other), ("lead", lead)):
                snaps[name] = await blocking(proc.get, "/v1/calls", 2.0, token)
            snaps["anonymous"] = await blocking(proc.get, "/v1/calls", 2.0, "")

        col, connected = await fixture_call(running_sandbox, proc, data_dir / "calls",
                                            tmp_path / "call", collect, while_up)
        call_id = connected["data"]["call"]["call_id"]
        await col.wait_for(is_type("call.ended"), EVENT_TIMEOUT_S)
        await agent1.wait_for(is_type("call.ended"), EVENT_TIMEOUT_S)
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    await asyncio.wait_for(agent2.closed.wait(), EVENT_TIMEOUT_S)

    def call_ids(snap: object) -> list[str]:
        assert isinstance(snap, dict) and "calls" in snap, snap
        return [c["call_id"] for c in snap["calls"]]

    assert call_ids(snaps["agent1"]) == [call_id] and call_ids(snaps["lead"]) == [call_id]
    assert call_ids(snaps["agent2"]) == []
    anonymous = snaps["anonymous"]
    assert isinstance(anonymous, dict) and anonymous["error"] == "unauthenticated"
    assert call_id not in str(anonymous)

    def calls_named(col: StreamCollector) -> set[str]:
        out = set()
        for e in col.events:
            data = e["data"]
            for holder in (data, data.get("call") or {}, data.get("channel") or {}):
                if isinstance(holder.get("call_id"), str):
                    out.add(holder["call_id"])
        return out

    assert call_id in calls_named(agent1)
    # From the first event that names agent1 on the call (its leg, as its phone rings) on.
    assert {"leg.added", "call.updated", "call.ended"} <= {e["type"] for e in agent1.events}
    # agent2, connected from before the call to the daemon's stop, got lifecycle events only.
    assert calls_named(agent2) == set() and agent2.events[-1]["type"] == "daemon.stopping"
    assert {e["type"] for e in agent2.events} <= {"daemon.started", "asterisk.connected",
                                                  "resync.completed", "daemon.stopping",
                                                  "asterisk.disconnected", "agent.updated"}
