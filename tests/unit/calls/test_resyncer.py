"""Resyncer: a list that fails half-way cancels the resync, so no live call is ever swept.

The AMI and ARI clients are replaced by in-memory doubles that answer the list calls from
tables (no sockets); the tracker is the real one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

import pytest

from edgeqa.ami.client import AmiClient
from edgeqa.ami.errors import AmiDisconnectedError, AmiTimeoutError
from edgeqa.ami.message import AmiMessage
from edgeqa.ari.client import AriClient
from edgeqa.ari.rest import AriConnectionError
from edgeqa.calls import CallTracker
from edgeqa.calls.changes import CallConnected, CallEnded
from edgeqa.calls.resyncer import Resyncer
from edgeqa.store.records import Event
from tests.support.schemas import assert_valid

T0 = 1_800_000_000.0
CALLER = ("PJSIP/customer1-00000001", "1700.1")


def ami(event: str, **headers: str) -> AmiMessage:
    return AmiMessage((("Event", event), *headers.items()))


QUEUE_PARAMS = ami("QueueParams", Queue="support", Strategy="ringall", Completed="0",
                   Abandoned="0")


def core_show_channel() -> AmiMessage:
    return ami("CoreShowChannel", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid=CALLER[1],
               ChannelState="6", ChannelStateDesc="Up", CallerIDNum="5551000",
               Application="Queue", ApplicationData="support,r", Duration="00:00:05")


def ari_channel() -> dict[str, Any]:
    return {"id": CALLER[1], "name": CALLER[0], "state": "Up",
            "caller": {"name": "", "number": "5551000"},
            "creationtime": "2027-01-15T08:00:00.000+0000",
            "dialplan": {"context": "x", "exten": "600", "priority": 1, "app_name": "Queue",
                         "app_data": "support,r"}}


class FakeAmi:
    """In-memory AMI double: list actions answer from ``lists`` or raise ``fail[action]``."""

    def __init__(self) -> None:
        self.connected = True
        self.lists: dict[str, list[AmiMessage]] = {"CoreShowChannels": [core_show_channel()],
                                                   "QueueStatus": [QUEUE_PARAMS]}
        self.fail: dict[str, BaseException] = {}
        self.sent: list[str] = []

    async def send_list_action(self, action: str, *, timeout_s: float
                               ) -> tuple[AmiMessage, list[AmiMessage]]:
        self.sent.append(action)
        await asyncio.sleep(0)
        if action in self.fail:
            raise self.fail[action]
        return ami("", Response="Success", EventList="start"), list(self.lists[action])


class FakeAri:
    """In-memory ARI double: GET /channels and /bridges, or ``fail[name]``."""

    def __init__(self) -> None:
        self.connected = True
        self.channels = [ari_channel()]
        self.fail: dict[str, BaseException] = {}

    async def get_channels(self) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        if "channels" in self.fail:
            raise self.fail["channels"]
        return list(self.channels)

    async def get_bridges(self) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        if "bridges" in self.fail:
            raise self.fail["bridges"]
        return []


class Harness:
    def __init__(self) -> None:
        self.tracker = CallTracker()
        self.ami = FakeAmi()
        self.ari = FakeAri()
        self.events: list[Event] = []
        self.emitted: list[tuple[str, Mapping[str, Any]]] = []
        self.clock = T0
        self.resyncer = Resyncer(
            self.tracker, cast(AmiClient, self.ami), cast(AriClient, self.ari),
            submit=self.events.extend, emit=lambda t, d: self.emitted.append((t, d)),
            wall=lambda: self.clock, mono=lambda: self.clock, action_timeout_s=1.0)

    def live_calls(self) -> list[str]:
        return [c["call_id"] for c in self.tracker.snapshot()["calls"]]

    async def resync_ok(self) -> None:
        await self.resyncer.resync("ami")
        assert self.emitted[-1][0] == "resync.completed"


@pytest.fixture
async def live() -> Harness:
    """A tracker that knows one live call, learnt from a first, complete resync."""
    h = Harness()
    await h.resync_ok()
    assert h.live_calls() == [CALLER[1]]
    h.emitted.clear()
    return h


async def test_complete_resync_without_the_call_sweeps_it(live: Harness) -> None:
    # The control case: the same steps with complete, empty lists do end the call.
    live.ami.lists["CoreShowChannels"] = []
    live.ari.channels = []
    live.clock += 10
    await live.resync_ok()
    assert live.live_calls() == []
    assert "call.ended" in [e.type for e in live.events]


@pytest.mark.parametrize("error", [AmiTimeoutError("QueueStatus unanswered"),
                                   AmiDisconnectedError("AMI link lost")])
async def test_ami_list_failing_mid_resync_cancels_and_propagates(
        live: Harness, error: Exception) -> None:
    live.ami.lists["CoreShowChannels"] = []  # read before the failure: must not sweep
    live.ami.fail["QueueStatus"] = error
    live.clock += 10
    with pytest.raises(type(error)):
        await live.resyncer.resync("ami")
    assert live.ami.sent[-2:] == ["CoreShowChannels", "QueueStatus"]
    assert live.live_calls() == [CALLER[1]]
    assert live.emitted == []
    assert live.tracker.end_resync(live.clock) == []  # the half-read resync is gone
    assert live.resyncer.count == 1


@pytest.mark.parametrize("failing", ["channels", "bridges"])
async def test_ari_get_failing_mid_resync_cancels_without_raising(
        live: Harness, failing: str) -> None:
    live.ami.lists["CoreShowChannels"] = []
    live.ari.fail[failing] = AriConnectionError(f"ARI GET /{failing}: reset")
    live.clock += 10
    await live.resyncer.resync("ari")  # an ARI error must not kill the AMI session's hook
    assert live.live_calls() == [CALLER[1]]
    assert live.emitted == []
    assert live.tracker.end_resync(live.clock) == []
    # The next complete resync still works, and reports normally.
    live.ari.fail.clear()
    live.ami.lists["CoreShowChannels"] = [core_show_channel()]
    await live.resync_ok()
    assert live.live_calls() == [CALLER[1]]
    assert live.emitted[-1][1]["ari_channels"] == 1


async def test_cancellation_mid_resync_cancels_and_reraises(live: Harness) -> None:
    gate = asyncio.Event()

    async def stalled() -> list[dict[str, Any]]:
        await gate.wait()
        return []

    live.ari.get_channels = stalled  # type: ignore[method-assign]
    live.ami.lists["CoreShowChannels"] = []
    task = asyncio.create_task(live.resyncer.resync("ami"))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert live.live_calls() == [CALLER[1]]
    assert live.tracker.end_resync(live.clock) == []


async def test_ari_down_resyncs_from_ami_alone(live: Harness) -> None:
    live.ari.connected = False
    live.ari.fail["channels"] = AssertionError("ARI must not be asked while down")
    live.clock += 10
    await live.resync_ok()
    assert live.emitted[-1][1]["ari_channels"] is None
    assert live.live_calls() == [CALLER[1]]



AGENT = ("PJSIP/agent1-00000002", "1700.2")


def bridged(channel: tuple[str, str], app: str, app_data: str, age: str) -> AmiMessage:
    return ami("CoreShowChannel", Channel=channel[0], Uniqueid=channel[1], Linkedid=CALLER[1],
               ChannelState="6", ChannelStateDesc="Up", Application=app,
               ApplicationData=app_data, BridgeId="b1", Duration=age)


def stored_call(**extra: Any) -> dict[str, Any]:
    """A call as a previous run stored it (call.updated v1: its channels under "legs")."""
    leg = {"uniqueid": CALLER[1], "channel": CALLER[0], "endpoint": "PJSIP/customer1",
           "call_id": CALLER[1], "role": "customer", "state": "up", "caller_id_num": "5551000",
           "caller_id_name": "", "started_at": T0 - 50, "answered_at": T0 - 50,
           "ended_at": None, "queue": "support", "agent_interface": None, "on_hold": True,
           "recording": False, "bridge_id": "b1", "spying_on": None, "spy_mode": None,
           "hangup_cause": None, "hold_count": 1, "hold_s": 0.0,
           "holds": [{"start": T0 - 5, "end": None}]}
    call = {"call_id": CALLER[1], "state": "connected", "started_at": T0 - 50,
            "answered_at": T0 - 41.5, "ended_at": None, "duration_s": None, "queue": "support",
            "agent_interface": "PJSIP/agent1", "agent_name": "Agent One", "on_hold": True,
            "hold_s": 0.0, "supervisors": 0, "transfers": [], "legs": [leg]}
    return {"id": CALLER[1], "started_at": T0 - 50, "data": {"call": dict(call, **extra)},
            "last_seq": 9}


async def test_call_still_up_after_a_restart_keeps_its_stored_times() -> None:
    h = Harness()
    h.resyncer.remember_open_calls([stored_call()])
    h.ami.lists["CoreShowChannels"] = [bridged(CALLER, "Queue", "support,r", "00:00:50"),
                                       bridged(AGENT, "AppQueue", "", "00:00:44")]
    await h.resync_ok()
    (call,) = h.tracker.snapshot()["calls"]
    assert (call["started_at"], call["answered_at"]) == (T0 - 50, T0 - 41.5)
    assert [e.type for e in h.events].count("call.ended") == 0
    assert h.tracker.drain_changes()[0] == CallConnected(CALLER[1], T0, T0 - 41.5,
                                                         customer=CALLER[1], agent=AGENT[1])


async def test_call_gone_after_a_restart_ends_through_the_tracker() -> None:
    h = Harness()
    h.resyncer.remember_open_calls([stored_call()])
    h.ami.lists["CoreShowChannels"] = []
    h.ari.channels = []
    await h.resync_ok()
    (ended,) = [e for e in h.events if e.type == "call.ended"]
    assert_valid([ended])  # the stored v1 call, ended as payload v2
    call = ended.data["call"]
    assert (call["call_id"], call["ended_at"], call["duration_s"]) == (CALLER[1], T0, 50.0)
    (channel,) = call["channels"]
    assert (channel["state"], channel["ended_at"], channel["hangup_cause"]) == (
        "hungup", T0, "swept")
    assert h.tracker.drain_changes() == [CallEnded(CALLER[1], T0)]
    h.clock += 5
    await h.resync_ok()  # ended once only
    assert [e.type for e in h.events].count("call.ended") == 1


async def test_outage_ends_what_vanished_at_the_disconnect(live: Harness) -> None:
    live.tracker.drain_changes()
    live.clock += 5
    live.resyncer.note_down(live.clock)  # the AMI link drops at T0 + 5 ...
    lost_at = live.clock
    live.ami.lists["CoreShowChannels"] = []
    live.ari.channels = []
    live.clock += 25  # ... and the resync after the reconnect runs at T0 + 30
    await live.resync_ok()
    (ended,) = [e.data["call"] for e in live.events if e.type == "call.ended"]
    assert ended["ended_at"] == lost_at
    assert live.tracker.drain_changes() == [CallEnded(CALLER[1], lost_at)]
    assert live.emitted[-1][1]["outage_s"] == 25.0
