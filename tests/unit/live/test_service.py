"""The live-metrics service: which calls get taps, what reaches the stream, nothing leaks.

ARI is an in-process stand-in recording each REST call (no sockets); the receiver is never bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

from edgeqa.ari.resources import AriResources
from edgeqa.ari.rest import AriHttpError
from edgeqa.config import default_live
from edgeqa.live.events import (
    METRIC_EVENT_TYPES,
    connected_legs,
    metric_event,
    metric_events,
    unavailable,
)
from edgeqa.live.service import LiveMetrics
from edgeqa.media.receiver import RtpReceiver
from edgeqa.metrics.events import Alert, CallSummary, DeadAir, LegSample, SegmentStarted, TalkOver
from edgeqa.store import EventLike, schema_name
from edgeqa.store.records import Event
from tests.support.schemas import check_flat, load

T0 = 1_700_000_000.0


def _call(state: str = "connected", *, ended: bool = False, on_hold: bool = False,
          call_id: str = "c1") -> dict[str, Any]:
    legs = [{"uniqueid": "u-cust", "role": "customer", "ended_at": 5.0 if ended else None},
            {"uniqueid": "u-agent", "role": "agent", "ended_at": 5.0 if ended else None}]
    return {"call_id": call_id, "state": state, "legs": legs, "on_hold": on_hold,
            "answered_at": None}


def _ev(type_: str, call: Mapping[str, Any]) -> Event:
    return Event(type_, T0, {"call": call})


class FakeAri:
    """Stand-in for AriClient's REST resources: records what was created and removed."""

    def __init__(self, *, refuse_snoop: bool = False) -> None:
        self.refuse_snoop = refuse_snoop
        self.channels: set[str] = set()
        self.bridges: set[str] = set()
        self.snoop_gate = asyncio.Event()
        self.snoop_gate.set()
        self._n = 0
        self.names: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}

    def _id(self, kind: str) -> str:
        self._n += 1
        return f"{kind}-{self._n}"

    async def create_bridge(self, bridge_type: str = "mixing", **_: Any) -> dict[str, Any]:
        bridge = self._id("bridge")
        self.bridges.add(bridge)
        return {"id": bridge}

    async def snoop(self, channel_id: str, **_: Any) -> dict[str, Any]:
        await self.snoop_gate.wait()
        if self.refuse_snoop:
            raise AriHttpError(404, "Channel not found", "POST", f"/channels/{channel_id}/snoop")
        snoop = self._id("snoop")
        self.channels.add(snoop)
        return {"id": snoop}

    async def add_channel_when_ready(self, bridge_id: str, channel_id: str, _t: float) -> None:
        assert bridge_id in self.bridges and channel_id in self.channels

    async def external_media(self, host: str, **_: Any) -> dict[str, Any]:
        media = self._id("media")
        self.channels.add(media)
        return {"id": media, "channelvars": {"UNICASTRTP_LOCAL_ADDRESS": "127.0.0.1",
                                             "UNICASTRTP_LOCAL_PORT": str(20000 + self._n)}}

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.channels.discard(channel_id)

    async def delete_bridge(self, bridge_id: str) -> None:
        self.bridges.discard(bridge_id)

    async def get_bridges(self) -> list[dict[str, Any]]:
        return [{"id": b, "name": self.names.get(b, ""), "channels": self.members.get(b, [])}
                for b in sorted(self.bridges)]


class _Transport:
    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 4000) if name == "sockname" else None

    def close(self) -> None:
        pass


def _service(ari: FakeAri, **overrides: Any) -> tuple[LiveMetrics, list[EventLike]]:
    from dataclasses import replace
    submitted: list[EventLike] = []
    cfg = replace(default_live(), tick_s=0.02, **overrides)
    live = LiveMetrics(cfg, cast(AriResources, ari), submitted.extend, wall=lambda: T0 + 1.0)
    receiver = RtpReceiver(lambda *_: None, lambda: 0.0)
    receiver.transport = cast(asyncio.DatagramTransport, _Transport())
    live.receiver = receiver
    return live, submitted


async def _until(cond: Any, timeout_s: float = 2.0) -> None:
    """Poll a plain condition on the fakes, every 5 ms, for ``timeout_s`` at most."""
    for _ in range(int(timeout_s / 0.005)):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise TimeoutError("condition not met")


def test_connected_legs_needs_both_live_roles() -> None:
    assert connected_legs(_call()) == {"customer": "u-cust", "agent": "u-agent"}
    assert connected_legs(_call("queued")) is None
    assert connected_legs(_call(ended=True)) is None
    one = _call()
    one["legs"] = one["legs"][:1]
    assert connected_legs(one) is None


def test_every_metric_event_fits_its_schema() -> None:
    events = [
        LegSample("agent", 3.0, -30.5, 0.4, -26.0, 0, False, 1.2, None),
        TalkOver(15.4, 16.2, 0.8, "customer"),
        DeadAir(2.0, 8.0, 6.0),
        Alert("dead_air", "warn", 12.0, None, 10.0),
        Alert("clipping", "warn", 4.0, "customer", 0.002),
        Alert("talk_over", "warn", 9.0, None, 3.0),
        CallSummary({"schema": "edgeqa.call_summary/1", "duration_s": 27.5}),
    ]
    out = metric_events("c1", T0, [SegmentStarted("agent", 1.0), *events])
    assert len(out) == len(events)  # segment events stay internal
    for event in [*out, unavailable("c1", T0, "ARI refused")]:
        assert event.type in METRIC_EVENT_TYPES
        check_flat(load(schema_name(event.type)), dict(event.data))
        assert event.data["call_id"] == "c1" and "leg" in event.data
    over = out[1]
    assert (over.type, over.at, over.data["interrupter"], over.data["leg"]) == \
        ("call.talk_over", T0 + 16.2, "customer", "customer")
    alert = metric_event("c1", T0, events[3])
    assert alert is not None and alert.data["start_s"] == 2.0 and alert.data["level"] == "warn"
    assert out[-1].data["summary"]["duration_s"] == 27.5 and out[-1].at == T0 + 27.5


async def test_connected_call_is_tapped_until_it_ends_then_summarised() -> None:
    ari = FakeAri()
    live, submitted = _service(ari)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_tracker_events([_ev("call.updated", _call("queued"))])
        assert live.active == {}
        live.on_tracker_events([_ev("call.updated", _call())])
        live.on_tracker_events([_ev("call.updated", _call())])  # the same call: one tap
        await _until(lambda: len(ari.channels) == 4)
        assert len(live.active) == 1 and len(ari.bridges) == 2
        await asyncio.sleep(0.1)
        live.on_tracker_events([_ev("call.updated", _call(on_hold=True))])
        await asyncio.sleep(0.6)
        live.on_tracker_events([_ev("call.updated", _call(on_hold=False))])
        await asyncio.sleep(0.4)
        live.on_tracker_events([_ev("call.ended", _call("ended", ended=True))])
        await _until(lambda: not live.active)
    assert ari.channels == set() and ari.bridges == set()
    types = [e.type for e in submitted]
    assert types[-1] == "call.summary", types
    assert submitted[-1].data["call_id"] == "c1"
    (hold,) = submitted[-1].data["summary"]["hold"]  # the tracker's hold reached the analyzer
    assert 0.4 <= hold["duration_s"] <= 0.8, hold
    assert live.stats.tapped == 1 and live.stats.summaries == 1
    live.on_tracker_events([_ev("call.updated", _call())])  # never tapped twice
    assert live.active == {}


async def test_refused_taps_publish_metrics_unavailable_and_leave_nothing() -> None:
    ari = FakeAri(refuse_snoop=True)
    live, submitted = _service(ari)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_tracker_events([_ev("call.updated", _call())])
        await _until(lambda: not live.active)
    assert [e.type for e in submitted] == ["call.metrics_unavailable"]
    assert "404" in submitted[0].data["reason"]
    assert ari.channels == set() and ari.bridges == set()


async def test_call_ending_while_taps_start_leaks_nothing() -> None:
    ari = FakeAri()
    ari.snoop_gate.clear()
    live, submitted = _service(ari)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_tracker_events([_ev("call.updated", _call())])
        await _until(lambda: len(ari.bridges) == 1)
        live.on_tracker_events([_ev("call.ended", _call("ended", ended=True))])
        ari.snoop_gate.set()
        await _until(lambda: not live.active)
    assert ari.channels == set() and ari.bridges == set()
    assert [e.type for e in submitted][-1] == "call.summary"


async def test_shutdown_flushes_the_summary_of_active_calls() -> None:
    ari = FakeAri()
    live, submitted = _service(ari)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_tracker_events([_ev("call.updated", _call())])
        await _until(lambda: len(ari.channels) == 4)
        await live.close()
        live.on_tracker_events([_ev("call.updated", _call(call_id="c2"))])  # intake stopped
    assert live.active == {} and ari.channels == set() and ari.bridges == set()
    assert [e.type for e in submitted][-1] == "call.summary"


async def test_calls_past_max_calls_are_refused() -> None:
    ari = FakeAri()
    live, submitted = _service(ari, max_calls=1)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_tracker_events([_ev("call.updated", _call())])
        live.on_tracker_events([_ev("call.updated", _call(call_id="c2"))])
        assert list(live.active) == ["c1"]
        await _until(lambda: len(ari.channels) == 4)
        await live.close()
    assert submitted[0].type == "call.metrics_unavailable"
    assert submitted[0].data["call_id"] == "c2" and "max_calls" in submitted[0].data["reason"]


async def test_leftover_tap_bridges_are_swept_and_others_kept() -> None:
    ari = FakeAri()
    ari.bridges |= {"old", "theirs"}
    ari.channels |= {"old-snoop", "old-media", "their-chan"}
    ari.names.update(old="edgeqa-tap-1700.1-agent", theirs="conference")
    ari.members.update(old=["old-snoop", "old-media"], theirs=["their-chan"])
    live, _ = _service(ari)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_tracker_events([_ev("call.updated", _call())])
        await _until(lambda: len(ari.channels) == 7)
        for taps in live.active.values():  # the active call's own bridges are kept
            for tap in taps.taps.values():
                assert tap.bridge_id is not None
                ari.names[tap.bridge_id] = "edgeqa-tap-c1-x"
        assert await live.sweep_orphans() == 1
        assert ari.bridges - {"theirs"} and "old" not in ari.bridges
        assert ari.channels & {"old-snoop", "old-media"} == set()
        assert len(ari.channels) == 5
        await live.close()
    assert ari.bridges == {"theirs"} and ari.channels == {"their-chan"}
