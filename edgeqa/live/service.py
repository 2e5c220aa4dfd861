"""Live-metrics service: taps each connected call's legs and publishes their metric events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgeqa.ari.resources import AriResources
from edgeqa.ari.rest import AriError, AriHttpError
from edgeqa.live.call import LiveCall
from edgeqa.live.config import LiveConfig
from edgeqa.live.events import call_of, connected_legs, metric_events, unavailable
from edgeqa.live.router import TapRouter
from edgeqa.live.taps import CallTaps, TapError
from edgeqa.media.receiver import RtpReceiver, open_receiver
from edgeqa.metrics.events import Leg, MetricEvent
from edgeqa.store import EventLike
from edgeqa.store.records import Event

log = logging.getLogger(__name__)

#: CallTaps names its bridges edgeqa-tap-<call>-<leg>.
TAP_BRIDGE_PREFIX = "edgeqa-tap-"
#: Calls already tapped (or refused) are remembered to never tap twice; oldest forgotten first.
MAX_SEEN_CALLS = 10_000


@dataclass(slots=True)
class LiveStats:
    """Counters (mutable, read by health)."""

    tapped: int = 0
    unavailable: int = 0
    summaries: int = 0


class LiveMetrics:
    """Owns the RTP receiver, the router and one CallTaps task per connected call."""

    def __init__(self, cfg: LiveConfig, ari: AriResources,
                 submit: Callable[[Iterable[EventLike]], None], *,
                 wall: Callable[[], float]) -> None:
        self.cfg = cfg
        self._ari = ari
        self._submit = submit
        self._wall = wall
        self.router = TapRouter(self._on_events)
        self.receiver: RtpReceiver | None = None
        self.active: dict[str, CallTaps] = {}
        self.stats = LiveStats()
        self._t0_at: dict[str, float] = {}
        self._seen: dict[str, None] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    async def open(self) -> None:
        """Bind the loopback RTP receiver (before ARI starts, so taps always have a target)."""
        self.receiver = await open_receiver(self.router.on_packet, self.cfg.rtp_port)
        log.info("live metrics: RTP receiver on %s:%d", *self.receiver.local_address)

    def bind(self, tg: asyncio.TaskGroup) -> None:
        """Run each call's taps as a task of ``tg`` (the daemon's one TaskGroup)."""
        self._tg = tg

    def health(self) -> Mapping[str, Any]:
        """Counters for /v1/health."""
        rx = self.receiver.stats if self.receiver is not None else None
        return {"active_calls": len(self.active), "tapped": self.stats.tapped,
                "unavailable": self.stats.unavailable, "summaries": self.stats.summaries,
                "rtp_packets": rx.packets if rx else 0,
                "rtp_malformed": rx.malformed if rx else 0,
                "unrouted": self.router.stats.unrouted}

    # --- intake ----------------------------------------------------------------------------

    def on_tracker_events(self, events: Sequence[Event]) -> None:
        """Start taps on newly connected calls; pass hold changes and ends to active ones."""
        for event in events:
            call = call_of(event)
            if call is None or not isinstance(call.get("call_id"), str):
                continue
            call_id = str(call["call_id"])
            taps = self.active.get(call_id)
            if taps is not None:
                if event.type == "call.ended" or call.get("state") == "ended":
                    taps.ended.set()
                else:
                    t_s = asyncio.get_running_loop().time() - taps.call.t0_s
                    taps.call.analyzer.set_hold(bool(call.get("on_hold")), max(0.0, t_s))
                continue
            legs = connected_legs(call)
            if legs is not None and call_id not in self._seen:
                self._start(call_id, call, legs)

    def on_ari_event(self, body: Mapping[str, Any]) -> None:
        """Fan one ARI event to every active call's taps."""
        for taps in list(self.active.values()):
            taps.handle_event(body)

    async def sweep_orphans(self) -> int:
        """Remove tap bridges (and their helper channels) a previous run left; return how many.

        Bridges outlive their channels and an externalMedia channel outlives a killed daemon
        (NOTES.md), so each ARI session starts by deleting ``edgeqa-tap-*`` bridges not in use.
        """
        mine = {t.bridge_id for taps in self.active.values() for t in taps.taps.values()}
        swept = 0
        try:
            for bridge in await self._ari.get_bridges():
                name, bridge_id = str(bridge.get("name") or ""), str(bridge.get("id"))
                if not name.startswith(TAP_BRIDGE_PREFIX) or bridge_id in mine:
                    continue
                for channel_id in bridge.get("channels") or ():
                    await _quietly(self._ari.hangup(str(channel_id)))
                await _quietly(self._ari.delete_bridge(bridge_id))
                swept += 1
        except AriError as exc:
            log.warning("live metrics: could not sweep leftover taps: %s", exc)
        if swept:
            log.info("live metrics: removed %d tap bridges left by a previous run", swept)
        return swept

    def _start(self, call_id: str, call: Mapping[str, Any], legs: dict[str, str]) -> None:
        self._seen[call_id] = None
        if len(self._seen) > MAX_SEEN_CALLS:
            del self._seen[next(iter(self._seen))]
        if self._tg is None or self._stopping or self.receiver is None:
            return
        if len(self.active) >= self.cfg.max_calls:
            self._refuse(call_id, f"{self.cfg.max_calls} calls already tapped ([live] max_calls)")
            return
        loop = asyncio.get_running_loop()
        wall = self._wall()
        answered = call.get("answered_at")
        # Call time 0 is the answer; a late-seen connect (resync) starts at now.
        lag_s = wall - answered if isinstance(answered, int | float) else 0.0
        lag_s = lag_s if 0.0 <= lag_s <= 2.0 else 0.0
        live = LiveCall(call_id, loop.time() - lag_s, depth_packets=self.cfg.jitter_depth_packets)
        self._t0_at[call_id] = wall - lag_s
        channels: dict[Leg, str] = {"customer": legs["customer"], "agent": legs["agent"]}
        taps = CallTaps(self._ari, self.router, self.receiver.local_address, live, channels,
                        stasis_timeout_s=self.cfg.stasis_timeout_s)
        self.active[call_id] = taps
        self._tasks[call_id] = self._tg.create_task(self._run(taps), name=f"live-{call_id}")

    async def _run(self, taps: CallTaps) -> None:
        call_id = taps.call.call_id
        loop = asyncio.get_running_loop()
        try:
            try:
                await taps.start()
            except TapError as exc:
                self._refuse(call_id, str(exc.__cause__ or exc))
                return
            self.stats.tapped += 1
            final = await taps.run(loop.time, self._on_events, tick_s=self.cfg.tick_s)
            self._on_events(taps.call, final)
        except asyncio.CancelledError:
            await taps.close()  # no helper channel or bridge outlives the daemon's TaskGroup
            raise
        except Exception as exc:  # a bug here must not stop call tracking
            log.exception("live metrics of call %s failed", call_id)
            await taps.close()
            self._refuse(call_id, f"internal error: {exc!r}")
        finally:
            self.active.pop(call_id, None)
            self._tasks.pop(call_id, None)
            self._t0_at.pop(call_id, None)

    def _refuse(self, call_id: str, reason: str) -> None:
        self.stats.unavailable += 1
        log.warning("no live metrics for call %s: %s", call_id, reason)
        self._submit([unavailable(call_id, self._wall(), reason)])

    def _on_events(self, call: LiveCall, events: list[MetricEvent]) -> None:
        t0_at = self._t0_at.get(call.call_id)
        if t0_at is None:
            return
        out = metric_events(call.call_id, t0_at, events)
        self.stats.summaries += sum(e.type == "call.summary" for e in out)
        if out:
            self._submit(out)

    # --- shutdown --------------------------------------------------------------------------

    def stop_intake(self) -> None:
        """Tap no new calls and stop reading RTP (first step of the ordered shutdown)."""
        self._stopping = True
        if self.receiver is not None:
            self.receiver.close()

    async def close(self, timeout_s: float | None = None) -> None:
        """End every active call's analysis (its summary is published) and remove its taps.

        A call still starting finishes its start first (then tears down), so nothing leaks.
        """
        self.stop_intake()
        for taps in self.active.values():
            taps.ended.set()
        tasks = list(self._tasks.values())
        if not tasks:
            return
        budget_s = timeout_s if timeout_s is not None else 2 * self.cfg.stasis_timeout_s + 5.0
        _, pending = await asyncio.wait(tasks, timeout=budget_s)
        for task in pending:
            log.warning("live metrics task %s did not stop in %g s; cancelled",
                        task.get_name(), budget_s)
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        log.info("live metrics closed: %d calls flushed", len(tasks) - len(pending))


async def _quietly(action: Awaitable[None]) -> None:
    """Run one teardown call; a 404 (already gone) is success."""
    try:
        await action
    except AriHttpError as exc:
        if exc.status != 404:
            raise
