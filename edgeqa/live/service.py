"""Live-metrics service: taps each connected call's legs and publishes their metric events.

Calls come in as the tracker's typed changes (edgeqa.calls.changes); times are arguments (wall
time for tracker changes and stops, loop time for packets and ticks), converted once by each
call's CallClock. A call a previous daemon run left up resumes from that run's checkpoint:
the call.metrics_suspended it published when it stopped, or the periodic one it kept in the
store (checkpoints table) if it was killed, whichever accounts for more of the call.

PCI pauses (pause/resume, from edgeqa.pci) are kept per call id until the call's taps are up,
so that a pause (or a pause and its end) that comes first applies when they come up; a call
checkpointed while paused resumes paused (its summary's ``paused_at_end``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgeqa.ari.resources import AriResources
from edgeqa.ari.rest import AriError, AriHttpError
from edgeqa.calls.changes import CallChange, CallConnected, CallEnded, HoldChanged
from edgeqa.live.call import ANALYZER_CODEC, LiveCall
from edgeqa.live.capture_tap import CAPTURE_CODEC, CallCapture, CaptureService
from edgeqa.live.clock import CallClock
from edgeqa.live.config import MAX_SNOOP_CALLS, LiveConfig
from edgeqa.live.events import GAP_DAEMON_RESTART, GAP_PBX_OUTAGE, unavailable
from edgeqa.live.router import TapRouter
from edgeqa.live.taps import CallTaps, TapError
from edgeqa.media.receiver import RtpReceiver, open_receiver
from edgeqa.media.timeline import CODEC_RATE, WireCodec
from edgeqa.metrics.events import Leg
from edgeqa.store import Checkpoint, EventLike
from edgeqa.store import Event as StreamEvent

log = logging.getLogger(__name__)

#: A checkpoint summary's (sample_rate, codec) -> the wire codec its call resumes with.
RESUME_CODEC: dict[tuple[int, str], WireCodec] = {
    (16000, "pcm16"): "slin16", (8000, "pcm16"): "slin", (8000, "ulaw"): "ulaw",
    (8000, "alaw"): "alaw"}
#: CallTaps names its bridges edgeqa-tap-<call>-<leg>.
TAP_BRIDGE_PREFIX = "edgeqa-tap-"
#: Calls already tapped (or refused) are remembered to never tap twice; oldest forgotten first.
MAX_SEEN_CALLS = 10_000
#: Calls with pause state kept (paused, or waiting for taps); oldest forgotten first.
MAX_PAUSED_CALLS = 10_000
#: Pauses kept for one call until its taps are up; oldest forgotten first.
MAX_PENDING_PAUSES = 16
#: A pause: the wall times it began and ended (None: still on).
PauseSpan = tuple[float, float | None]
#: The stream event a stopping daemon leaves for each call still up (see LiveCall.checkpoint).
CHECKPOINT_TYPE = "call.metrics_suspended"
#: Why a call a previous run had tapped, which ended while no daemon ran, has no summary.
NO_CHECKPOINT = ("the call ended while edgeqa was down, and the run that tapped it left no "
                 "checkpoint (killed before its first)")
#: The one timer of all calls ticks them in this many slices per tick (each call once per
#: tick_s), so that no wake-up stalls the loop for long: the socket's buffer holds some 30 ms
#: of 2,000 legs' RTP, and ticking 1,000 calls at once takes longer (bench_ingest).
TICK_SLICES = 20
#: ... but a wake-up takes whole slices until it has about this many calls: a few calls need
#: no slicing, and each wake-up of the timer costs the loop (bench_switch --profile).
CALLS_PER_WAKEUP = 50
#: The slice counts a wake-up may take (the divisors of TICK_SLICES: every round is whole).
_WAKEUP_SLICES = tuple(n for n in range(1, TICK_SLICES + 1) if TICK_SLICES % n == 0)
#: A call whose dead-air alert is due before its next tick is ticked at the alert's mark
#: (LiveCall.alert_due) and then this often until it fired, so that the alert does not wait
#: for the tick round ...
ALERT_TICK_S = 0.03
#: The first of those ticks comes this long after the mark: the packet that ends at the mark
#: leaves the phone then, and the capture ring hands a block over up to RING_RETIRE_MS (20 ms)
#: after its first packet. Ticked at the mark itself, a loaded daemon often found the audio
#: missing and ticked again (bench_switch --audio echo: 19 ticks a second beyond the rounds'
#: 120; with this, the daemon 2.4-2.8 % of a core instead of 2.9). The alert comes 25 ms later
#: for it (test_live_outages: 0.069 s after its mark, 0.045 s before).
ALERT_AUDIO_S = 0.025
#: ... for at most this long after the mark (then the silence has ended, or the audio is
#: missing and a tick fills it in MAX_LEG_LAG_S: the round's ticks take over).
ALERT_WAIT_S = 0.3
#: While calls are ticked, their one timer reads the capture ring (CaptureService.hold: the
#: ring wakes no one, some 50 times a second less) before each wake-up's ticks, and at least
#: this often: the ring holds 330 ms of 2,000 legs' RTP (edgeqa.media.capture RING_BLOCKS).
CAPTURE_DRAIN_S = 0.1
#: Stream events that wait for the end of the tick round, so that the per-second samples of
#: every call reach the store in one transaction; any other event (an alert, a summary) sends
#: them on at once, in order, so it is never held.
HELD_TYPES = frozenset({"leg.sample"})
#: ... and for at least this long since the held ones last went on (a round is tick_s): one
#: transaction a second for every call's samples, which are one a second per leg anyway. Each
#: transaction is an fsync and wakes the loop twice (bench_switch --profile).
HOLD_SAMPLES_S = 1.0
#: Events held at most; beyond it they go on at once.
MAX_HELD_EVENTS = 10_000
#: Keeps checkpoints durably, in one transaction (Store.put_checkpoints); whether each was.
SaveCheckpoints = Callable[[Sequence[Checkpoint]], Awaitable[Sequence[bool]]]
#: The calls' checkpoints are written together, at most this often (one transaction for all
#: that came due meanwhile, instead of one per call): a killed daemon loses at most
#: checkpoint_every_s (checkpoint_interval_s, longer beyond 4 x that many calls) plus this.
CHECKPOINT_WRITE_EVERY_S = 1.0
#: Checkpoints waiting for that write (the latest per call); beyond it new calls' are skipped.
MAX_PENDING_CHECKPOINTS = 10_000
#: Checkpoints taken a second at most, whatever the number of calls: under load each call's
#: interval stretches from checkpoint_interval_s to active calls / this (60 calls: 15 s). A
#: checkpoint snapshots the call's whole analysis (LiveCall.summary_so_far: ~10 % of the
#: daemon's CPU at 12 a second, bench_switch --profile); with recording on, a killed daemon's
#: calls get their summary from the recordings anyway (edgeqa.recording.summaries).
MAX_CHECKPOINTS_PER_S = 4.0


@dataclass(slots=True)
class LiveStats:
    """Counters (mutable, read by health)."""

    tapped: int = 0
    unavailable: int = 0
    summaries: int = 0
    checkpoints: int = 0
    resumed: int = 0
    checkpoints_saved: int = 0
    checkpoints_skipped: int = 0


@dataclass(frozen=True, slots=True)
class LeftOpen:
    """A connected call a previous run left open in the store, and its latest checkpoint."""

    answered_at: float
    checkpoint: Mapping[str, Any] | None


class LiveMetrics:
    """Owns the RTP receiver, the router and one CallTaps task per connected call."""

    def __init__(self, cfg: LiveConfig, ari: AriResources,
                 submit: Callable[[Iterable[EventLike]], None],
                 save_checkpoints: SaveCheckpoints | None = None) -> None:
        self.cfg = cfg
        self._ari = ari
        self._submit = submit
        self._save_checkpoints = save_checkpoints
        #: Checkpoints not written yet, the latest per call, and the task that writes them.
        self._pending: dict[str, Checkpoint] = {}
        self._saver: asyncio.Task[None] | None = None
        self.router = TapRouter(depth_packets=cfg.jitter_depth_packets)
        self.receiver: RtpReceiver | None = None
        self.active: dict[str, CallTaps | CallCapture] = {}
        #: The host's capture ring (None: [live] tap = "snoop"); opened by open().
        self.capture = CaptureService((cfg.capture_port_start, cfg.capture_port_end),
                                      2 * cfg.max_calls, cfg.jitter_depth_packets) \
            if cfg.tap != "snoop" else None
        self.stats = LiveStats()
        self._seen: dict[str, None] = {}
        self._left_open: dict[str, LeftOpen] = {}
        #: Per call id: its open pause, and (until its taps are up) the pauses before it.
        self._pauses: dict[str, list[PauseSpan]] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: The one timer of every call's ticks (runs while calls are active), each call's
        #: slice of it, and the calls whose tick raised (their task refuses them).
        self._ticker: asyncio.Task[None] | None = None
        self._slices: list[dict[str, CallTaps | CallCapture]] = [{} for _ in range(TICK_SLICES)]
        self._slice: dict[str, int] = {}
        self._next_slice = 0
        #: leg.sample events held until the end of the tick round (HELD_TYPES).
        self._held: list[StreamEvent] = []
        #: Loop time the held samples last went on.
        self._held_since = -math.inf
        #: Calls with a dead-air alert due before their next tick: (next tick, the alert's
        #: mark), loop times.
        self._alerts: dict[str, tuple[float, float]] = {}
        #: Each call's checkpoint interval now (checkpoint_every_s), set at each wake-up.
        self._checkpoint_every_s = cfg.checkpoint_interval_s
        self._broken: dict[str, Exception] = {}
        self._stopping = False

    async def open(self) -> None:
        """Bind the loopback RTP receiver (before ARI starts, so taps always have a target)."""
        self.receiver = await open_receiver(self.router.engine, self.cfg.rtp_port)
        log.info("live metrics: RTP receiver on %s:%d", *self.receiver.local_address)
        if self.capture is not None:
            self.capture.open(asyncio.get_running_loop())

    def bind(self, tg: asyncio.TaskGroup) -> None:
        """Run each call's taps as a task of ``tg`` (the daemon's one TaskGroup)."""
        self._tg = tg

    def restore(self, open_calls: Sequence[Mapping[str, Any]],
                checkpoints: Mapping[str, Mapping[str, Any]],
                saved: Mapping[str, Checkpoint] | None = None) -> None:
        """Remember the connected calls the store holds open from a previous run.

        ``open_calls`` are store.open_calls() rows; ``checkpoints`` the latest
        call.metrics_suspended payload per call; ``saved`` the store's periodic checkpoints.
        Each call takes the one of the two that accounts for more of it (the stream's on a
        tie). Such a call is resumed when the tracker hands it over again, or summed up from
        its checkpoint if it ended meanwhile.
        """
        for row in open_calls:
            data = row.get("data")
            call = data.get("call") if isinstance(data, Mapping) else None
            if not isinstance(call, Mapping):
                continue
            answered = call.get("answered_at")
            if isinstance(answered, int | float):
                call_id = str(row["id"])
                best = _latest(checkpoints.get(call_id), (saved or {}).get(call_id))
                self._left_open[call_id] = LeftOpen(float(answered), best)
                since = _paused_since(best)
                if since is not None:
                    self._pauses[call_id] = [(since, None)]
        if self._left_open:
            log.info("live metrics: %d calls left up by a previous run (%d checkpointed)",
                     len(self._left_open),
                     sum(c.checkpoint is not None for c in self._left_open.values()))

    def health(self) -> Mapping[str, Any]:
        """Counters for /v1/health."""
        rtp = self.router.engine.stats()  # every tapped leg's, open or closed, summed
        return {"active_calls": len(self.active), "tapped": self.stats.tapped,
                "unavailable": self.stats.unavailable, "summaries": self.stats.summaries,
                "checkpoints": self.stats.checkpoints, "resumed": self.stats.resumed,
                "checkpoints_saved": self.stats.checkpoints_saved,
                "rtp_packets": rtp["packets"],
                "rtp_malformed": rtp["malformed"],
                "unrouted": rtp["unrouted"],
                "rtp_restarts": rtp["restarts"],
                "rtp_reanchors": rtp["reanchors"],
                "rtp_ssrc_changes": rtp["ssrc_changes"],
                "tap": self.cfg.tap, "snoop_calls": self._snoop_calls(),
                "capture": self.capture.health() if self.capture is not None else None}

    def _snoop_calls(self) -> int:
        return sum(isinstance(t, CallTaps) or t.snoop is not None for t in self.active.values())

    # --- PCI pause -------------------------------------------------------------------------

    def pause(self, call_id: str, at: float) -> bool:
        """Pause the call's analysis for PCI from wall time ``at`` (idempotent).

        Kept per call id: a call not tapped yet is paused from ``at`` when its taps come
        up. Returns True if the call is tapped (and now paused), else False.
        """
        spans = self._pauses.get(call_id)
        if spans is None:
            spans = self._pauses[call_id] = []
            if len(self._pauses) > MAX_PAUSED_CALLS:
                del self._pauses[next(iter(self._pauses))]
        if not spans or spans[-1][1] is not None:
            spans.append((at, None))
            del spans[:-MAX_PENDING_PAUSES]
        taps = self.active.get(call_id)
        if taps is None:
            return False
        taps.call.pause(taps.call.clock.from_wall(spans[-1][0]))
        return True

    def resume(self, call_id: str, at: float) -> bool:
        """End the call's pause at wall time ``at`` (idempotent); True if it is tapped.

        A call not tapped yet keeps the ended pause, applied when its taps come up.
        """
        taps = self.active.get(call_id)
        spans = self._pauses.get(call_id)
        if taps is not None or not spans:
            self._pauses.pop(call_id, None)
        elif spans[-1][1] is None:
            spans[-1] = (spans[-1][0], at)
        if taps is None:
            return False
        taps.call.unpause(taps.call.clock.from_wall(at))
        return True

    def paused_since(self, call_id: str) -> float | None:
        """The wall time the call's open pause began (kept across restarts), or None."""
        spans = self._pauses.get(call_id)
        return spans[-1][0] if spans and spans[-1][1] is None else None

    def _apply_pauses(self, live: LiveCall) -> None:
        """Apply the pauses that came before the call's taps; keep only the open one."""
        spans = self._pauses.pop(live.call_id, [])
        for start, end in spans:
            live.pause(live.clock.from_wall(start))
            if end is not None:
                live.unpause(live.clock.from_wall(end))
        if spans and spans[-1][1] is None:
            self._pauses[live.call_id] = spans[-1:]

    # --- intake ----------------------------------------------------------------------------

    def on_changes(self, changes: Sequence[CallChange], now: float) -> None:
        """Apply the tracker's changes (drained at wall time ``now``), each at its own time."""
        for change in changes:
            taps = self.active.get(change.call_id)
            if isinstance(change, CallConnected):
                if taps is None and change.call_id not in self._seen:
                    self._start(change, now)
                elif isinstance(taps, CallCapture):  # a transfer: the media moved
                    taps.channels_changed({"customer": change.customer, "agent": change.agent})
            elif isinstance(change, HoldChanged):
                if taps is not None:
                    taps.call.set_hold(change.on_hold, change.at)
                    if isinstance(taps, CallCapture):  # a re-INVITE may move the media
                        taps.media_may_have_moved()
            elif isinstance(change, CallEnded):
                if taps is not None:
                    taps.end(change.at)
                elif change.call_id in self._left_open:
                    self._ended_unseen(change.call_id, change.at)
                self._pauses.pop(change.call_id, None)

    def on_link_down(self, now: float) -> None:
        """A link to Asterisk dropped, noticed at wall time ``now``: every call's audio is a
        gap, from the end of the last audio received (LiveCall.lose_audio)."""
        for taps in self.active.values():
            taps.call.lose_audio(taps.call.clock.from_wall(now), GAP_PBX_OUTAGE)
            if isinstance(taps, CallCapture):
                taps.link_down()

    def on_ari_event(self, body: Mapping[str, Any]) -> None:
        """Fan one ARI event to every active call's taps."""
        for taps in list(self.active.values()):
            taps.handle_event(body)

    async def sweep_orphans(self) -> int:
        """Remove tap bridges (and their helper channels) a previous run left; return how many.

        Bridges outlive their channels and an externalMedia channel outlives a killed daemon
        (docs/asterisk.md, "Leftover bridges"), so each ARI session starts by deleting
        ``edgeqa-tap-*`` bridges not in use.
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

    def _start(self, change: CallConnected, now: float) -> None:
        call_id = change.call_id
        self._seen[call_id] = None
        if len(self._seen) > MAX_SEEN_CALLS:
            del self._seen[next(iter(self._seen))]
        if self._tg is None or self._stopping or self.receiver is None:
            return
        if len(self.active) >= self.cfg.max_calls:
            self._refuse(call_id, f"{self.cfg.max_calls} calls already tapped ([live] max_calls)",
                         now)
            return
        capture = self.capture if self.capture is not None and \
            self.capture.engine is not None else None
        if capture is None and self.cfg.tap == "capture":
            reason = self.capture.unavailable if self.capture is not None else None
            self._refuse(call_id, f"host RTP capture is off ([live] tap = \"capture\"): "
                         f"{reason}", now)
            return
        live = self._live_call(call_id, change.answered_at, now,
                               CAPTURE_CODEC if capture is not None else self._snoop_codec,
                               rate_of_checkpoint=capture is None)
        if live.before is not None or live.gap is not None:
            self.stats.resumed += 1
        self._apply_pauses(live)
        channels: dict[Leg, str] = {"customer": change.customer, "agent": change.agent}
        receiver = self.receiver.local_address

        def snoop() -> CallTaps:
            if self._snoop_calls() >= MAX_SNOOP_CALLS:
                raise TapError(f"{MAX_SNOOP_CALLS} calls already on the snoop tap "
                               f"(MAX_SNOOP_CALLS)")
            return CallTaps(self._ari, self.router, receiver, live, channels,
                            stasis_timeout_s=self.cfg.stasis_timeout_s)

        taps: CallTaps | CallCapture
        if capture is not None:
            taps = CallCapture(self._ari, capture, live, channels,
                               fallback=snoop if self.cfg.tap == "auto" else None)
        else:
            try:
                taps = snoop()
            except TapError as exc:
                self._refuse(call_id, str(exc), now)
                return
        self.active[call_id] = taps
        self._slice[call_id] = self._next_slice
        self._slices[self._next_slice][call_id] = taps
        self._next_slice = (self._next_slice + 1) % TICK_SLICES
        self._tasks[call_id] = self._tg.create_task(self._run(taps), name=f"live-{call_id}")
        if self._ticker is None or self._ticker.done():
            self._ticker = self._tg.create_task(self._tick_calls(), name="live-ticks")

    async def _tick_calls(self) -> None:
        """The one timer of all calls: each call is ticked once per tick_s, a slice of the
        calls per wake-up (TICK_SLICES; whole slices up to CALLS_PER_WAKEUP calls); a call
        whose dead-air alert is due before its next tick also at the alert's mark (see
        ALERT_TICK_S). Each wake-up reads the capture ring first (at least every
        CAPTURE_DRAIN_S). It stops when no call is active. The held samples go on at the end
        of the first round HOLD_SAMPLES_S after they last went."""
        loop = asyncio.get_running_loop()
        k = 0
        step = wakeup_slices(len(self.active))
        next_slice = loop.time() + self.cfg.tick_s * step / TICK_SLICES
        capture = self.capture if self.capture is not None and \
            self.capture.reader is not None else None
        drained = loop.time()
        if capture is not None:
            capture.hold()
        try:
            while self.active:
                wake = min([next_slice, *(due for due, _ in self._alerts.values())])
                if capture is not None:
                    wake = min(wake, drained + CAPTURE_DRAIN_S)
                await asyncio.sleep(max(0.0, wake - loop.time()))
                if capture is not None:
                    capture.drain()
                now = drained = loop.time()
                self._checkpoint_every_s = checkpoint_every_s(self.cfg.checkpoint_interval_s,
                                                              len(self.active))
                for call_id, (due, mark) in list(self._alerts.items()):
                    if due <= now:
                        self._tick(call_id, self.active.get(call_id), now, mark)
                if now < next_slice:
                    continue
                for j in range(k, k + step):
                    for call_id, taps in list(self._slices[j % TICK_SLICES].items()):
                        self._tick(call_id, taps, now)
                if k + step >= TICK_SLICES and now - self._held_since >= HOLD_SAMPLES_S:
                    self._send_held()  # a round ends, HOLD_SAMPLES_S after the last
                k = (k + step) % TICK_SLICES
                step = wakeup_slices(len(self.active))
                next_slice = max(next_slice + self.cfg.tick_s * step / TICK_SLICES, now)
        finally:
            if capture is not None:
                capture.release()
            self._alerts.clear()
            self._send_held()

    def _tick(self, call_id: str, taps: CallTaps | CallCapture | None, now: float,
              mark: float | None = None) -> None:
        """Tick one call at loop time ``now``; note when its dead-air alert is due, if that
        is before its next tick (``mark``: the alert mark it is being ticked for)."""
        self._alerts.pop(call_id, None)
        if isinstance(taps, CallCapture):
            taps.poll(now)
        if taps is None or not taps.running or taps.ended.is_set() or taps.failed.is_set():
            return
        call = taps.call
        call.checkpoint_every_s = self._checkpoint_every_s
        try:
            call.tick(now)
        except Exception as exc:  # the call's task refuses it; the others go on
            self._broken[call_id] = exc
            taps.end()
            return
        due = call.alert_due()
        if due is None or due >= now + self.cfg.tick_s:
            return
        if due > now:  # ahead: once its audio can be in
            self._alerts[call_id] = (due + ALERT_AUDIO_S, due)
        elif now - (mark if mark is not None else due) < ALERT_WAIT_S:  # its audio is late
            self._alerts[call_id] = (now + ALERT_TICK_S, mark if mark is not None else due)

    def _live_call(self, call_id: str, answered_at: float, now: float,
                   wire: WireCodec | None = None, rate_of_checkpoint: bool = True) -> LiveCall:
        """The call's LiveCall on its one clock; resumed from a previous run's checkpoint,
        at the checkpoint's rate and codec (``rate_of_checkpoint``), else at ``wire``'s (None:
        the snoop's, [live] snoop_format) with
        the checkpoint taken over (summary_at_rate): a call a snoop run checkpointed at
        16 kHz moves to the capture tap."""
        left = self._left_open.pop(call_id, None)
        before = left.checkpoint if left is not None else None
        if before is not None and isinstance(before.get("started_at"), int | float):
            answered_at = float(before["started_at"])  # the clock its t_s were measured on
        answered_at = min(answered_at, now)
        clock = CallClock.start(answered_at, wall_now=now,
                                loop_now=asyncio.get_running_loop().time())
        codec: WireCodec = self._snoop_codec if wire is None else wire
        summary = before.get("summary") if before is not None else None
        if isinstance(summary, Mapping):  # one rate and codec per call: its summaries merge
            key = (summary.get("sample_rate"), summary.get("codec"))
            if rate_of_checkpoint:
                codec = next((c for k, c in RESUME_CODEC.items() if k == key), codec)
            elif key != (CODEC_RATE[codec], ANALYZER_CODEC[codec]):
                summary = summary_at_rate(summary, CODEC_RATE[codec], ANALYZER_CODEC[codec])

        def keep(covered_to_s: float, so_far: dict[str, Any]) -> None:
            self._keep(Checkpoint(call_id, clock.answered_at, covered_to_s, so_far,
                                  clock.wall(covered_to_s)))

        return LiveCall(call_id, clock, self._publish, first_seen_s=now - answered_at,
                        codec=codec,
                        before=summary if isinstance(summary, Mapping) else None,
                        depth_packets=self.cfg.jitter_depth_packets,
                        on_checkpoint=keep if self._save_checkpoints is not None else None,
                        checkpoint_every_s=self.cfg.checkpoint_interval_s)

    @property
    def _snoop_codec(self) -> WireCodec:
        """The snoop tap's wire codec ([live] snoop_format)."""
        return "slin16" if self.cfg.snoop_format == "slin16" else "slin"

    def _keep(self, checkpoint: Checkpoint) -> None:
        """Queue a call's periodic checkpoint for the store (the latest per call is kept)."""
        pending = self._pending
        if self._tg is None or (checkpoint.call_id not in pending
                                and len(pending) >= MAX_PENDING_CHECKPOINTS):
            self.stats.checkpoints_skipped += 1
            return
        if pending.pop(checkpoint.call_id, None) is not None:
            self.stats.checkpoints_skipped += 1  # its newer one replaces it
        pending[checkpoint.call_id] = checkpoint
        if self._saver is None or self._saver.done():
            self._saver = self._tg.create_task(self._save(), name="live-checkpoints")

    async def _save(self) -> None:
        """Write the queued checkpoints in one transaction, then wait CHECKPOINT_WRITE_EVERY_S
        (or the checkpoint interval, if shorter) for more; stop when none came."""
        assert self._save_checkpoints is not None
        every_s = min(CHECKPOINT_WRITE_EVERY_S, self.cfg.checkpoint_interval_s)
        while self._pending:
            batch = list(self._pending.values())
            self._pending.clear()
            try:
                written = await self._save_checkpoints(batch)
                self.stats.checkpoints_saved += sum(written)
            except Exception as exc:  # a lost checkpoint costs at most one interval, later
                log.warning("%d checkpoints not kept: %s", len(batch), exc)
            await asyncio.sleep(every_s)

    def _ended_unseen(self, call_id: str, at: float) -> None:
        """A previous run's call ended while no daemon ran: sum up its checkpoint, or say why."""
        left = self._left_open[call_id]
        self._seen[call_id] = None
        if left.checkpoint is None:
            self._left_open.pop(call_id)
            self._refuse(call_id, NO_CHECKPOINT, at)
            return
        live = self._live_call(call_id, left.answered_at, at)
        self._apply_pauses(live)
        live.finish(live.clock.from_wall(at))

    async def _run(self, taps: CallTaps | CallCapture) -> None:
        call, call_id = taps.call, taps.call.call_id
        loop = asyncio.get_running_loop()
        try:
            try:
                await taps.start()
            except TapError as exc:
                self._refuse(call_id, str(exc.__cause__ or exc), call.clock.wall(
                    call.clock.from_loop(loop.time())))
                return
            self.stats.tapped += 1
            await taps.run(loop.time, tick_s=None)  # ticked by _tick_calls
            if call_id in self._broken:
                raise self._broken.pop(call_id)
            end_s = call.clock.from_wall(taps.ended_at) if taps.ended_at is not None \
                else call.clock.from_loop(loop.time())
            await taps.close()
            if taps.ended_at is not None or not self._stopping:
                call.finish(end_s)  # a stopping daemon sums up only the calls that ended
        except asyncio.CancelledError:
            await taps.close()  # no helper channel or bridge outlives the daemon's TaskGroup
            raise
        except Exception as exc:  # a bug here must not stop call tracking
            log.exception("live metrics of call %s failed", call_id)
            await taps.close()
            self._refuse(call_id, f"internal error: {exc!r}",
                         call.clock.wall(call.clock.from_loop(loop.time())))
        finally:
            self.active.pop(call_id, None)
            self._tasks.pop(call_id, None)
            k = self._slice.pop(call_id, None)
            if k is not None:
                self._slices[k].pop(call_id, None)

    def _refuse(self, call_id: str, reason: str, now: float) -> None:
        self.stats.unavailable += 1
        log.warning("no live metrics for call %s: %s", call_id, reason)
        self._submit([unavailable(call_id, now, reason)])

    def _publish(self, events: list[StreamEvent]) -> None:
        """The one route of every call's metric events to the stream."""
        held = True
        for event in events:
            if event.type == "call.summary":
                self.stats.summaries += 1
            elif event.type == CHECKPOINT_TYPE:
                self.stats.checkpoints += 1
            held = held and event.type in HELD_TYPES
        if held and self._ticker is not None and not self._ticker.done() and \
                len(self._held) + len(events) <= MAX_HELD_EVENTS:
            self._held += events
            return
        if self._held:
            events, self._held = self._held + events, []
            self._held_since = asyncio.get_running_loop().time()
        self._submit(events)

    def _send_held(self) -> None:
        """Submit the held samples (the end of a tick round, or the timer stops)."""
        if self._held:
            events, self._held = self._held, []
            self._held_since = asyncio.get_running_loop().time()
            self._submit(events)

    # --- shutdown --------------------------------------------------------------------------

    def stop_intake(self) -> None:
        """Tap no new calls and stop reading RTP (first step of the ordered shutdown)."""
        self._stopping = True
        if self.receiver is not None:
            self.receiver.close()
        if self.capture is not None:
            self.capture.close()

    async def close(self, now: float, timeout_s: float | None = None) -> None:
        """The daemon stops at wall time ``now``: checkpoint every call still up, remove taps.

        A call still up gets no summary from this run: its call.metrics_suspended holds what
        was heard (none if its taps were still coming up), and the next run (or its resync,
        if the call ended meanwhile) sums it up.
        A call still starting finishes its start first (then tears down), so nothing leaks.
        """
        self.stop_intake()
        if self._saver is not None:  # what it holds is in the calls' metrics_suspended
            self._saver.cancel()
        for taps in self.active.values():
            if taps.running and taps.ended_at is None:  # (not heard yet: no checkpoint)
                taps.call.checkpoint(taps.call.clock.from_wall(now), GAP_DAEMON_RESTART)
            taps.end()
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
        log.info("live metrics closed: %d calls checkpointed", len(tasks) - len(pending))


def checkpoint_every_s(interval_s: float, active: int) -> float:
    """Call time between a call's checkpoints with ``active`` calls: ``interval_s`` ([live]
    checkpoint_interval_s), or longer so that all calls take MAX_CHECKPOINTS_PER_S a second."""
    return max(interval_s, active / MAX_CHECKPOINTS_PER_S)


def summary_at_rate(summary: Mapping[str, Any], sample_rate: int,
                    codec: str) -> dict[str, Any]:
    """A summary taken at another rate or codec, as one at ``sample_rate`` and ``codec``, so
    that it merges with the rest of its call (merge_summaries takes one rate and codec): each
    leg's ``samples`` and ``clipped`` are scaled by the rates (its clip_ratio stays); times,
    segments and levels (dBov) do not depend on the rate and stay. The clipped count stays what
    the other codec's clip level counted."""
    ratio = sample_rate / float(summary["sample_rate"])
    legs = {leg: {**values, "samples": round(values["samples"] * ratio),
                  "clipped": round(values["clipped"] * ratio)}
            for leg, values in summary["legs"].items()}
    return {**summary, "sample_rate": sample_rate, "codec": codec, "legs": legs}


def wakeup_slices(active: int) -> int:
    """How many of the TICK_SLICES slices one wake-up of the timer ticks, with ``active``
    calls: the fewest (a divisor of TICK_SLICES) that make about CALLS_PER_WAKEUP calls."""
    want = CALLS_PER_WAKEUP * TICK_SLICES / max(1, active)
    return next((n for n in _WAKEUP_SLICES if n >= want), TICK_SLICES)


def _latest(event: Mapping[str, Any] | None,
            saved: Checkpoint | None) -> Mapping[str, Any] | None:
    """Of a call.metrics_suspended payload and a stored checkpoint, the one that accounts for
    more of the call (as a payload: started_at, t_s, summary)."""
    if saved is None:
        return event
    t_s = event.get("t_s") if event is not None else None
    if isinstance(t_s, int | float) and t_s >= saved.covered_to_s:
        return event
    return {"call_id": saved.call_id, "t_s": saved.covered_to_s,
            "started_at": saved.started_at, "summary": saved.summary}


def _paused_since(checkpoint: Mapping[str, Any] | None) -> float | None:
    """The wall time of the pause a checkpoint (payload) left open, or None."""
    if checkpoint is None:
        return None
    summary = checkpoint.get("summary")
    if not isinstance(summary, Mapping) or summary.get("paused_at_end") is not True:
        return None
    started_at, paused = checkpoint.get("started_at"), summary.get("paused")
    if not isinstance(started_at, int | float) or not isinstance(paused, list) or not paused:
        return None
    start = paused[-1].get("start") if isinstance(paused[-1], Mapping) else None
    return started_at + start if isinstance(start, int | float) else None


async def _quietly(action: Awaitable[None]) -> None:
    """Run one teardown call; a 404 (already gone) is success."""
    try:
        await action
    except AriHttpError as exc:
        if exc.status != 404:
            raise
