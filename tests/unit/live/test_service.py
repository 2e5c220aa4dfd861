"""The live-metrics service: which calls get taps, what reaches the stream, nothing leaks.

ARI is an in-process stand-in recording each REST call (no sockets); the receiver is never bound.
Calls come in as the tracker's typed changes.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import pytest

from edgeqa.ari.resources import AriResources
from edgeqa.ari.rest import AriHttpError
from edgeqa.calls.changes import CallConnected, CallEnded, HoldChanged
from edgeqa.config import default_live
from edgeqa.live.service import (
    ALERT_AUDIO_S,
    ALERT_TICK_S,
    HOLD_SAMPLES_S,
    MAX_CHECKPOINTS_PER_S,
    TICK_SLICES,
    LiveMetrics,
    SaveCheckpoints,
    checkpoint_every_s,
    wakeup_slices,
)
from edgeqa.media.receiver import RtpReceiver
from edgeqa.media.rtp import PT_SLIN16, RtpPacket
from edgeqa.metrics.call import MAX_LEG_LAG_S
from edgeqa.store import Checkpoint, EventLike
from edgeqa.store import Event as StreamEvent


def _now() -> float:
    return time.time()


def _connected(call_id: str = "c1", answered_at: float | None = None) -> CallConnected:
    now = _now()
    return CallConnected(call_id, now, now if answered_at is None else answered_at,
                         "u-cust", "u-agent")


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
        self.media_formats: list[str] = []

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

    async def external_media(self, host: str, **options: Any) -> dict[str, Any]:
        self.media_formats.append(str(options.get("audio_format")))
        media = self._id("media")
        self.channels.add(media)
        return {"id": media, "channelvars": {"UNICASTRTP_LOCAL_ADDRESS": "127.0.0.1",
                                             "UNICASTRTP_LOCAL_PORT": str(20000 + self._n)}}

    async def get_variable(self, channel_id: str, variable: str) -> str:
        return "(ulaw)"  # CHANNEL(audionativeformat) of a µ-law phone

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.channels.discard(channel_id)

    async def delete_bridge(self, bridge_id: str) -> None:
        self.bridges.discard(bridge_id)

    async def get_bridges(self) -> list[dict[str, Any]]:
        return [{"id": b, "name": self.names.get(b, ""), "channels": self.members.get(b, [])}
                for b in sorted(self.bridges)]


def _service(ari: FakeAri, save: SaveCheckpoints | None = None,
             **overrides: Any) -> tuple[LiveMetrics, list[EventLike]]:
    from dataclasses import replace
    submitted: list[EventLike] = []
    cfg = replace(default_live(), **{"tick_s": 0.02, **overrides})
    live = LiveMetrics(cfg, cast(AriResources, ari), submitted.extend, save_checkpoints=save)
    receiver = RtpReceiver(live.router.engine, lambda: 0.0)
    receiver.local_address = ("127.0.0.1", 4000)
    live.receiver = receiver
    return live, submitted


async def _until(cond: Any, timeout_s: float = 2.0) -> None:
    """Poll a plain condition on the fakes, every 5 ms, for ``timeout_s`` at most."""
    for _ in range(int(timeout_s / 0.005)):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise TimeoutError("condition not met")


async def _tap(live: LiveMetrics, ari: FakeAri, connected: CallConnected) -> None:
    """Connect ``connected`` and wait until its two taps are up (four helper channels)."""
    live.on_changes([connected], _now())
    await _until(lambda: len(ari.channels) == 4)


async def test_connected_call_is_tapped_until_it_ends_then_summarised() -> None:
    ari = FakeAri()
    live, submitted = _service(ari)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        connected = _connected()
        live.on_changes([connected], _now())
        live.on_changes([_connected()], _now())  # the same call: one tap
        await _until(lambda: len(ari.channels) == 4)
        assert len(live.active) == 1 and len(ari.bridges) == 2
        # Hold applies at the tracker events' own times, not when they were handed over.
        t0 = connected.answered_at
        live.on_changes([HoldChanged("c1", t0 + 0.1, True), HoldChanged("c1", t0 + 0.6, False)],
                        _now())
        await asyncio.sleep(1.2)
        live.on_changes([CallEnded("c1", _now())], _now())
        await _until(lambda: not live.active)
    assert ari.channels == set() and ari.bridges == set()
    types = [e.type for e in submitted]
    assert types[-1] == "call.summary", types
    assert submitted[-1].data["call_id"] == "c1" and submitted[-1].data["partial"] is False
    (hold,) = submitted[-1].data["summary"]["hold"]  # the tracker's hold reached the analyzer
    assert (hold["start"], hold["end"]) == (0.1, 0.6), hold
    assert live.stats.tapped == 1 and live.stats.summaries == 1
    live.on_changes([_connected()], _now())  # never tapped twice
    assert live.active == {}


async def test_refused_taps_publish_metrics_unavailable_and_leave_nothing() -> None:
    ari = FakeAri(refuse_snoop=True)
    live, submitted = _service(ari)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([_connected()], _now())
        await _until(lambda: not live.active)
    assert [e.type for e in submitted] == ["call.metrics_unavailable"]
    assert "404" in submitted[0].data["reason"]
    assert ari.channels == set() and ari.bridges == set()


async def _connect_until_snoop(live: LiveMetrics, ari: FakeAri) -> None:
    """Connect call c1 with the snoop held (``ari.snoop_gate`` clear): its taps start, then wait."""
    ari.snoop_gate.clear()
    live.on_changes([_connected()], _now())
    await _until(lambda: len(ari.bridges) == 1)


async def test_call_ending_while_taps_start_leaks_nothing() -> None:
    ari = FakeAri()
    live, submitted = _service(ari)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        await _connect_until_snoop(live, ari)
        live.on_changes([CallEnded("c1", _now())], _now())
        ari.snoop_gate.set()
        await _until(lambda: not live.active)
    assert ari.channels == set() and ari.bridges == set()
    assert [e.type for e in submitted][-1] == "call.summary"


async def test_shutdown_checkpoints_active_calls_instead_of_summing_them_up() -> None:
    ari = FakeAri()
    live, submitted = _service(ari)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        await _tap(live, ari, _connected(answered_at=_now() - 0.5))
        await asyncio.sleep(0.3)
        stop = _now()
        await live.close(stop)
        live.on_changes([_connected(call_id="c2")], _now())  # intake stopped
    assert live.active == {} and ari.channels == set() and ari.bridges == set()
    types = [e.type for e in submitted]
    assert "call.summary" not in types and types[-1] == "call.metrics_suspended", types
    checkpoint = submitted[-1].data
    assert checkpoint["reason"] == "daemon_restart" and checkpoint["summary"]["partial"] is False
    assert abs(checkpoint["t_s"] - (stop - checkpoint["started_at"])) < 0.01
    assert live.stats.checkpoints == 1


async def test_a_link_drop_suspends_every_call() -> None:
    ari = FakeAri()
    live, submitted = _service(ari)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        connected = _connected()
        await _tap(live, ari, connected)
        await asyncio.sleep(0.3)
        down = _now()
        live.on_link_down(down)
        await asyncio.sleep(0.5)
        live.on_changes([CallEnded("c1", down)], _now())  # swept: ended when the link dropped
        await _until(lambda: not live.active)
    summary = submitted[-1].data["summary"]
    down_s = down - connected.answered_at
    assert summary["duration_s"] == pytest.approx(down_s, abs=0.02)
    # No audio was received: the gap starts where the ticks had taken the missing audio for
    # silence (MAX_LEG_LAG_S behind the last tick), not at the drop's detection.
    (gap,) = summary["gaps"]
    assert gap["reason"] == "pbx_outage" and gap["end"] == summary["duration_s"]
    assert down_s - MAX_LEG_LAG_S - 0.05 <= gap["start"] <= down_s - MAX_LEG_LAG_S + 0.02
    assert summary["dead_air"] == []


async def test_calls_left_by_a_previous_run_are_resumed_or_summed_up() -> None:
    ari = FakeAri()
    live, submitted = _service(ari)
    answered = _now() - 20.0
    checkpoint_summary = _checkpoint_summary(8.0)
    live.restore(
        [{"id": c, "data": {"call": {"call_id": c, "answered_at": answered}}}
         for c in ("resumed", "ended-checkpointed", "ended-killed")]
        + [{"id": "ringing", "data": {"call": {"call_id": "ringing", "answered_at": None}}}],
        {c: {"call_id": c, "t_s": 8.0, "started_at": answered, "summary": checkpoint_summary}
         for c in ("resumed", "ended-checkpointed")})
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([CallEnded("ended-checkpointed", answered + 15.0),
                         CallEnded("ended-killed", answered + 15.0),
                         CallEnded("ringing", answered + 15.0)], _now())
        live.on_changes([CallConnected("resumed", _now(), answered, "u-cust", "u-agent")],
                        _now())
        await _until(lambda: len(ari.channels) == 4)
        assert live.active["resumed"].call.before == checkpoint_summary
        live.on_changes([CallEnded("resumed", _now())], _now())
        await _until(lambda: not live.active)
    final = {e.data["call_id"]: e for e in submitted}
    assert final["ended-killed"].type == "call.metrics_unavailable"
    assert "edgeqa was down" in final["ended-killed"].data["reason"]
    done = final["ended-checkpointed"]
    assert done.type == "call.summary" and done.data["partial"] is True
    assert done.data["summary"]["gaps"] == [
        {"start": 8.0, "end": 15.0, "reason": "daemon_restart"}]
    assert "ringing" not in final
    resumed = final["resumed"].data["summary"]
    assert resumed["coverage"][0] == [0.0, 8.0] and resumed["gaps"][0]["start"] == 8.0
    assert live.stats.resumed == 1


def _checkpoint_summary(t_s: float) -> dict[str, Any]:
    """A checkpoint's summary: what a LiveCall stopped at ``t_s`` publishes."""
    from edgeqa.live.call import LiveCall
    from edgeqa.live.clock import CallClock
    out: list[Any] = []
    call = LiveCall("x", CallClock(0.0, 0.0), out.extend)
    call.checkpoint(t_s, "daemon_restart")
    summary: dict[str, Any] = out[-1].data["summary"]
    return summary


async def test_one_timer_ticks_every_call_and_a_failing_tick_costs_its_call_only() -> None:
    ari = FakeAri()
    live, submitted = _service(ari)
    ticks: dict[str, int] = {"c1": 0, "c2": 0}
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([_connected(), _connected(call_id="c2")], _now())
        await _until(lambda: len(ari.channels) == 8 and all(
            t.running for t in live.active.values()))
        assert live._ticker is not None and not live._tasks["c1"].done()
        for call_id, taps in live.active.items():
            tick = taps.call.tick

            def counted(now: float, call_id: str = call_id, tick: Any = tick) -> None:
                ticks[call_id] += 1
                if call_id == "c2" and ticks[call_id] == 3:
                    raise RuntimeError("boom")
                tick(now)

            taps.call.tick = counted  # type: ignore[method-assign]
        await asyncio.sleep(0.3)  # tick_s 0.02: some 15 ticks each
        assert "c2" not in live.active and "c1" in live.active
        assert ticks["c2"] == 3 and ticks["c1"] >= 8
        live.on_changes([CallEnded("c1", _now())], _now())
        await _until(lambda: not live.active)
        await _until(live._ticker.done, 0.5)  # no call: no timer (after its last sleep)
    (refused,) = [e for e in submitted if e.type == "call.metrics_unavailable"]
    assert refused.data["call_id"] == "c2" and "boom" in refused.data["reason"]
    assert [e.data["call_id"] for e in submitted if e.type == "call.summary"] == ["c1"]
    assert ari.channels == set() and ari.bridges == set()


async def test_calls_past_max_calls_are_refused() -> None:
    ari = FakeAri()
    live, submitted = _service(ari, max_calls=1)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([_connected(), _connected(call_id="c2")], _now())
        assert list(live.active) == ["c1"]
        await _until(lambda: len(ari.channels) == 4)
        await live.close(_now())
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
        live.on_changes([_connected()], _now())
        await _until(lambda: len(ari.channels) == 7)
        for taps in live.active.values():  # the active call's own bridges are kept
            for tap in taps.taps.values():
                assert tap.bridge_id is not None
                ari.names[tap.bridge_id] = "edgeqa-tap-c1-x"
        assert await live.sweep_orphans() == 1
        assert ari.bridges - {"theirs"} and "old" not in ari.bridges
        assert ari.channels & {"old-snoop", "old-media"} == set()
        assert len(ari.channels) == 5
        await live.close(_now())
    assert ari.bridges == {"theirs"} and ari.channels == {"their-chan"}


async def test_shutdown_while_taps_start_claims_nothing_heard() -> None:
    """Stopped before its taps were up: no checkpoint (nothing was heard), no summary."""
    ari = FakeAri()
    live, submitted = _service(ari)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        await _connect_until_snoop(live, ari)
        closing = tg.create_task(live.close(_now()))
        await asyncio.sleep(0.05)
        ari.snoop_gate.set()
        await closing
    assert submitted == [] and ari.channels == set() and ari.bridges == set()


async def test_each_tapped_call_keeps_a_checkpoint_in_the_store_periodically() -> None:
    ari = FakeAri()
    saved: list[Checkpoint] = []
    writes: list[list[str]] = []

    async def save(checkpoints: Sequence[Checkpoint]) -> list[bool]:
        writes.append([c.call_id for c in checkpoints])
        saved.extend(c for c in checkpoints if c.call_id == "c1")
        return [True] * len(checkpoints)

    live, submitted = _service(ari, save, checkpoint_interval_s=0.2)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        connected = _connected(answered_at=_now() - 0.5)
        live.on_changes([connected, _connected("c2", connected.answered_at)], _now())
        await _until(lambda: len(saved) >= 3)
        live.on_changes([CallEnded("c1", _now()), CallEnded("c2", _now())], _now())
        await _until(lambda: not live.active)
    # The calls' checkpoints due together are written together (one transaction).
    assert any(sorted(w) == ["c1", "c2"] for w in writes), writes
    assert all(c.call_id == "c1" and c.started_at == connected.answered_at for c in saved)
    covered = [c.covered_to_s for c in saved]
    assert covered == sorted(covered) and covered[1] - covered[0] >= 0.2 - 0.05, covered
    for c in saved:
        assert c.summary["duration_s"] == c.covered_to_s
        assert c.summary["coverage"] == [[0.0, c.covered_to_s]]
        assert c.at == pytest.approx(connected.answered_at + c.covered_to_s)
    assert live.stats.checkpoints_saved == sum(len(w) for w in writes)
    assert [e.type for e in submitted].count("call.metrics_suspended") == 0  # not streamed


async def test_a_restart_takes_the_checkpoint_that_accounts_for_more() -> None:
    ari = FakeAri()
    live, submitted = _service(ari)
    answered = _now() - 30.0
    calls = ("killed", "stopped", "killed-ended")
    live.restore(
        [{"id": c, "data": {"call": {"call_id": c, "answered_at": answered}}} for c in calls],
        # The stream's call.metrics_suspended: "killed" was stopped once, at 8 s.
        {c: {"call_id": c, "t_s": 8.0, "started_at": answered,
             "summary": _checkpoint_summary(8.0)} for c in ("killed", "stopped")},
        # The store's periodic checkpoints: "killed" went on to 12 s in its next run.
        {"killed": Checkpoint("killed", answered, 12.0, _checkpoint_summary(12.0), answered + 12),
         "stopped": Checkpoint("stopped", answered, 6.0, _checkpoint_summary(6.0), answered + 6),
         "killed-ended": Checkpoint("killed-ended", answered, 9.0, _checkpoint_summary(9.0),
                                    answered + 9)})
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([CallEnded(c, answered + 20.0) for c in calls], _now())
    final = {e.data["call_id"]: e for e in submitted}
    assert {e.type for e in final.values()} == {"call.summary"}
    for call_id, covered in (("killed", 12.0), ("stopped", 8.0), ("killed-ended", 9.0)):
        s = final[call_id].data["summary"]
        assert final[call_id].data["partial"] is True
        assert s["coverage"] == [[0.0, covered]], call_id
        assert s["gaps"] == [{"start": covered, "end": 20.0, "reason": "daemon_restart"}]


def _paused_checkpoint_summary(paused_s: float, t_s: float) -> dict[str, Any]:
    """What a LiveCall paused at ``paused_s`` and stopped at ``t_s`` publishes."""
    from edgeqa.live.call import LiveCall
    from edgeqa.live.clock import CallClock
    out: list[Any] = []
    call = LiveCall("x", CallClock(0.0, 0.0), out.extend)
    call.pause(paused_s)
    call.checkpoint(t_s, "daemon_restart")
    summary: dict[str, Any] = out[-1].data["summary"]
    return summary


async def test_a_pause_before_the_taps_applies_when_they_come_up() -> None:
    ari = FakeAri()
    live, submitted = _service(ari)
    connected = _connected(answered_at=_now() - 1.0)
    t0 = connected.answered_at
    assert live.pause("c1", t0 + 0.5) is False  # not tapped yet: kept for when it is
    assert live.pause("c1", t0 + 0.7) is False and live.paused_since("c1") == t0 + 0.5
    assert live.resume("other", t0) is False
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        await _tap(live, ari, connected)
        call = live.active["c1"].call
        assert call.paused
        await asyncio.sleep(0.3)
        # (Times ahead of the clock, so that no tick can overtake them on a slow machine.)
        assert live.resume("c1", t0 + 3.5) is True and not call.paused
        assert live.paused_since("c1") is None
        assert live.pause("c1", t0 + 3.8) is True and call.paused
        live.on_changes([CallEnded("c1", t0 + 4.5)], _now())
        await _until(lambda: not live.active)
    assert live.paused_since("c1") is None  # forgotten with the call
    (summary,) = [e for e in submitted if e.type == "call.summary"]
    s = summary.data["summary"]
    assert s["paused"] == [{"start": 0.5, "end": 3.5}, {"start": 3.8, "end": 4.5}]
    assert summary.data["partial"] is False and s["paused_at_end"] is True
    samples = [e.data for e in submitted if e.type == "leg.sample"]
    paused_agent = [d["t_s"] for d in samples if d["paused"] and d["leg"] == "agent"]
    assert paused_agent == [0.5, 1.0, 2.0, 3.0, 3.8, 4.0]
    assert live.resume("c1", _now()) is False and live.pause("c1", _now()) is False


async def test_a_call_checkpointed_while_paused_resumes_paused() -> None:
    ari = FakeAri()
    live, submitted = _service(ari)
    answered = _now() - 20.0
    paused = _paused_checkpoint_summary(5.0, 8.0)
    live.restore(
        [{"id": c, "data": {"call": {"call_id": c, "answered_at": answered}}}
         for c in ("resumed", "ended")],
        {c: {"call_id": c, "t_s": 8.0, "started_at": answered, "summary": paused}
         for c in ("resumed", "ended")})
    assert live.paused_since("resumed") == answered + 5.0
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([CallEnded("ended", answered + 15.0)], _now())
        live.on_changes([CallConnected("resumed", _now(), answered, "u-cust", "u-agent")],
                        _now())
        await _until(lambda: len(ari.channels) == 4)
        assert live.active["resumed"].call.paused
        assert live.resume("resumed", answered + 21.0)
        live.on_changes([CallEnded("resumed", _now())], _now())
        await _until(lambda: not live.active)
    final = {e.data["call_id"]: e.data for e in submitted if e.type == "call.summary"}
    ended = final["ended"]  # ended paused while no daemon ran: paused to its end, no gap
    assert ended["partial"] is False and ended["summary"]["gaps"] == []
    assert ended["summary"]["paused"] == [{"start": 5.0, "end": 15.0}]
    resumed = final["resumed"]["summary"]
    assert resumed["paused"] == [{"start": 5.0, "end": 21.0}]
    assert resumed["coverage"][0] == [0.0, 5.0] and resumed["gaps"] == []


async def test_a_resume_before_the_retap_ends_the_restored_pause() -> None:
    """Restarted during a pause; the pause ends before the call is tapped again, or ends."""
    ari = FakeAri()
    live, submitted = _service(ari)
    answered = _now() - 20.0
    paused = _paused_checkpoint_summary(5.0, 8.0)
    live.restore(
        [{"id": c, "data": {"call": {"call_id": c, "answered_at": answered}}}
         for c in ("retapped", "ended")],
        {c: {"call_id": c, "t_s": 8.0, "started_at": answered, "summary": paused}
         for c in ("retapped", "ended")})
    assert live.resume("retapped", answered + 12.0) is False
    assert live.resume("ended", answered + 13.0) is False
    assert live.paused_since("retapped") is None
    assert live.pause("ended", answered + 14.0) is False  # paused again before its end
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([CallEnded("ended", answered + 16.0)], _now())
        live.on_changes([CallConnected("retapped", _now(), answered, "u-cust", "u-agent")],
                        _now())
        await _until(lambda: len(ari.channels) == 4)
        assert not live.active["retapped"].call.paused
        live.on_changes([CallEnded("retapped", _now())], _now())
        await _until(lambda: not live.active)
    final = {e.data["call_id"]: e.data for e in submitted if e.type == "call.summary"}
    ended = final["ended"]["summary"]
    assert ended["paused"] == [{"start": 5.0, "end": 13.0}, {"start": 14.0, "end": 16.0}]
    assert [(g["start"], g["end"]) for g in ended["gaps"]] == [(13.0, 14.0)]
    retapped = final["retapped"]["summary"]
    assert retapped["paused"] == [{"start": 5.0, "end": 12.0}]
    assert retapped["gaps"][0]["start"] == 12.0


async def test_a_sequence_restart_is_counted_in_health() -> None:
    ari = FakeAri()
    live, _ = _service(ari)
    loop = asyncio.get_running_loop()
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([_connected()], _now())
        await _until(lambda: len(ari.channels) == 4)
        call = live.active["c1"].call
        await _until(lambda: len(live.router.routes(call)) == 2)
        source = next(iter(live.router.routes(call)))
        assert live.health()["rtp_restarts"] == 0
        for seq in [*range(10_000, 10_010), *range(5_000, 5_010)]:
            packet = RtpPacket(PT_SLIN16, False, seq, seq * 320, 7, (), None, bytes(640))
            live.router.on_batch([(packet, source)], loop.time())
        assert live.health()["rtp_restarts"] == 1
        live.on_changes([CallEnded("c1", _now())], _now())
        await _until(lambda: not live.active)
    assert live.health()["rtp_restarts"] == 1  # kept when the call is gone


def test_a_wakeup_takes_whole_slices_up_to_calls_per_wakeup() -> None:
    # A few calls: one wake-up per round; many: one slice per wake-up; always whole rounds.
    assert [wakeup_slices(n) for n in (0, 1, 50, 60, 100, 200, 250, 1000, 5000)] == \
        [20, 20, 20, 20, 10, 5, 4, 1, 1]
    assert all(TICK_SLICES % wakeup_slices(n) == 0 for n in range(3000))


async def test_samples_wait_for_the_round_and_any_other_event_takes_them_along() -> None:
    ari = FakeAri()
    batches: list[list[str]] = []
    live, _ = _service(ari, tick_s=0.2)
    live._submit = lambda events: batches.append([e.type for e in events])
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        await _tap(live, ari, _connected())
        await _until(lambda: all(t.running for t in live.active.values()))
        batches.clear()
        sample = StreamEvent("leg.sample", _now(), {"call_id": "c1"})
        alert = StreamEvent("call.dead_air", _now(), {"call_id": "c1"})
        live._publish([sample])
        live._publish([sample])
        assert batches == []  # held until the round ends
        live._publish([alert])  # an alert is never held, and keeps the order
        assert batches == [["leg.sample", "leg.sample", "call.dead_air"]]
        sent_at = asyncio.get_running_loop().time()
        live._publish([sample])
        await _until(lambda: len(batches) == 2, 2.0)  # at the end of a round, HOLD_SAMPLES_S
        assert set(batches[1]) == {"leg.sample"}      # after the last ones went
        assert asyncio.get_running_loop().time() - sent_at >= HOLD_SAMPLES_S
        live.on_changes([CallEnded("c1", _now())], _now())
        await _until(lambda: not live.active)
    assert batches[-1][-1] == "call.summary"
    assert live._held == []


async def test_a_call_is_ticked_at_its_dead_air_alerts_mark_not_at_the_round() -> None:
    ari = FakeAri()
    live, _ = _service(ari, tick_s=1.0)  # the longest tick: rounds are 1 s apart
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        await _tap(live, ari, _connected())
        taps = live.active["c1"]
        await _until(lambda: taps.running)
        ticks: list[float] = []
        marks: list[float] = []  # 0.3 s after its first tick, the audio 0.07 s late

        def tick(now: float) -> None:
            ticks.append(now)
            if not marks:
                marks.append(now + 0.3)

        def alert_due() -> float | None:
            return marks[0] if ticks[-1] < marks[0] + 0.07 else None

        taps.call.tick = tick  # type: ignore[method-assign]
        taps.call.alert_due = alert_due  # type: ignore[method-assign]
        await _until(lambda: bool(ticks), 1.5)  # its round's tick finds the alert due soon
        await asyncio.sleep(0.5)
        live.on_changes([CallEnded("c1", _now())], _now())
        await _until(lambda: not live.active)
    mark, fires_at = marks[0], marks[0] + 0.07
    assert ticks[0] < mark - 0.2
    at_mark = [t for t in ticks if mark <= t < mark + 0.5]
    # at the mark (once its audio can be in), not at the round
    assert at_mark and ALERT_AUDIO_S <= at_mark[0] - mark < ALERT_AUDIO_S + 0.02, (ticks, mark)
    assert len(at_mark) >= 3 and at_mark[-1] >= fires_at  # then every ALERT_TICK_S until due
    assert at_mark[-1] - fires_at < ALERT_TICK_S + 0.02
    assert all(b - a >= ALERT_TICK_S - 0.005 for a, b in itertools.pairwise(at_mark))


def test_checkpoints_stretch_under_load_to_a_bounded_rate() -> None:
    assert checkpoint_every_s(5.0, 1) == checkpoint_every_s(5.0, 20) == 5.0
    assert checkpoint_every_s(5.0, 60) == 60 / MAX_CHECKPOINTS_PER_S == 15.0
    assert checkpoint_every_s(30.0, 60) == 30.0
    for active in (1, 10, 60, 500):  # all calls' checkpoints a second, at most
        assert active / checkpoint_every_s(5.0, active) <= MAX_CHECKPOINTS_PER_S


async def test_a_ticked_call_takes_the_stretched_checkpoint_interval() -> None:
    ari = FakeAri()
    saved: list[Checkpoint] = []

    async def save(batch: Sequence[Checkpoint]) -> list[bool]:
        saved.extend(batch)
        return [True] * len(batch)

    live, _ = _service(ari, save, checkpoint_interval_s=0.3)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        await _tap(live, ari, _connected())
        taps = live.active["c1"]
        await _until(lambda: bool(saved))
        assert taps.call.checkpoint_every_s == 0.3
        live.cfg = replace(live.cfg, checkpoint_interval_s=0.0001)  # 1 call: 1/4 s
        await _until(lambda: taps.call.checkpoint_every_s == 1 / MAX_CHECKPOINTS_PER_S)
        live.on_changes([CallEnded("c1", _now())], _now())
        await _until(lambda: not live.active)
