"""Pure summary gate: each recorded call gets exactly one final metric event, the live one
when it is complete, else one from its recorded legs.

Inputs (time ``now`` passed in): the live service's final event of a call (``live``), the
recorder's closed rows (``rows_closed``), the end of an analysis (``analysed``), and ``tick``
for the timeouts. Outputs: actions, ``Publish`` an event or ``Analyse`` a call's legs.

- A complete live ``call.summary`` passes straight through; the recording is not analysed.
- A partial live summary, or ``call.metrics_unavailable``, of a recorded call is held until the
  call's rows are closed; then its legs are analysed, and the one ``call.summary`` published
  has ``source: "recording"``. If the recording is unusable (a leg missing or corrupt, the
  analysis failed), the held live event is published instead: nothing is lost.
- Rows closed with no live outcome yet wait for it LIVE_WAIT_S (none is awaited when there is
  no live analysis: [live] disabled, or a call that ended before this run started).
- Anything that comes for a call after its final event went out is dropped (and counted).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgeqa.live.events import summary_event, unavailable
from edgeqa.recording.events import Recording
from edgeqa.recording.model import COMPLETE, LEGS
from edgeqa.store import Event as StreamEvent
from edgeqa.store.db import FINAL_METRIC_TYPES

log = logging.getLogger(__name__)

#: The live service's final events of a call (what the gate decides on).
FINAL_TYPES = FINAL_METRIC_TYPES
#: Rows closed, no live outcome yet: how long to wait for it before analysing the recording.
LIVE_WAIT_S = 60.0
#: A held live outcome whose call the recorder let go of without closing rows (its close
#: failed) is published after this.
ROWS_GRACE_S = 5.0
#: A held live outcome is published after this at the latest, rows closed or not.
MAX_HOLD_S = 24 * 3600.0
#: Calls held or waiting at once, at most; beyond, a live outcome passes through.
MAX_PENDING_CALLS = 10_000
#: Calls whose final event went out, remembered to drop what comes later; oldest forgotten.
MAX_DONE_CALLS = 10_000


@dataclass(frozen=True, slots=True)
class Publish:
    """Put ``event`` on the stream: the call's one final event."""

    event: StreamEvent


@dataclass(frozen=True, slots=True)
class Analyse:
    """Analyse the complete legs ``rows`` of ``call_id``; report with SummaryGate.analysed."""

    call_id: str
    rows: tuple[Recording, ...]


Action = Publish | Analyse


@dataclass(slots=True)
class _Pending:
    """One recorded call the gate is deciding on."""

    held: StreamEvent | None = None
    held_at: float = 0.0
    live_seen: bool = False
    rows: tuple[Recording, ...] | None = None
    rows_at: float = 0.0
    analysing: bool = False
    lost_at: float | None = None


@dataclass(slots=True)
class GateStats:
    """Counters (read by health)."""

    passed: int = 0
    from_recording: int = 0
    fallbacks: int = 0
    dropped: int = 0


def unusable(rows: Sequence[Recording]) -> str | None:
    """Why ``rows`` cannot be analysed (None: both legs complete)."""
    by_leg = {r.leg: r for r in rows}
    for leg in LEGS:
        row = by_leg.get(leg)
        if row is None:
            return f"no {leg} recording"
        if row.state != COMPLETE:
            why = f" ({row.reason})" if row.reason else ""
            return f"the {leg} recording is {row.state}{why}"
    return None


def recording_spans(wall_spans: Sequence[tuple[float, float]],
                    rows: Sequence[Recording]) -> list[tuple[float, float]]:
    """Paused spans given in wall time as seconds of the recording (its time 0 is the rows'
    start); a span cut by that start or by the rows' end is cut there, one outside dropped
    (a pause still open when the call ended ends with the recording: ``end`` may be inf)."""
    start = min(r.started_at for r in rows)
    ends = [r.ended_at for r in rows if r.ended_at is not None]
    stop = max(ends) if ends else float("inf")
    return [(max(0.0, s - start), min(e, stop) - start) for s, e in wall_spans
            if e > start and s < stop]


def recording_summary(call_id: str, rows: Sequence[Recording], summary: Mapping[str, Any],
                      now: float) -> StreamEvent:
    """The call.summary of ``rows`` analysed: time 0 is the recording's start, its time the
    call's end (the rows' end)."""
    started_at = min(r.started_at for r in rows)
    ends = [r.ended_at for r in rows if r.ended_at is not None]
    return summary_event(call_id, max(ends) if ends else now, started_at, summary, "recording")


class SummaryGate:
    """Holds back partial or missing live outcomes of recorded calls (see the module doc)."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._done: dict[str, None] = {}
        self.stats = GateStats()

    @property
    def pending(self) -> int:
        """Calls held or waiting."""
        return len(self._pending)

    def live(self, event: StreamEvent, now: float, recorded: bool) -> list[Action]:
        """The live service's final ``event`` of a call; ``recorded``: the recorder holds it."""
        call_id = str(event.data["call_id"])
        if call_id in self._done:
            self.stats.dropped += 1
            log.info("call %s: late %s dropped (its final event went out)", call_id, event.type)
            return []
        entry = self._pending.get(call_id)
        complete = event.type == "call.summary" and not event.data.get("partial")
        if complete or (entry is None and (not recorded or
                                           len(self._pending) >= MAX_PENDING_CALLS)):
            self._pending.pop(call_id, None)  # an analysis under way is dropped when it ends
            self.stats.passed += 1
            return self._final(call_id, event)
        if entry is None:
            entry = self._pending[call_id] = _Pending()
        entry.held, entry.held_at, entry.live_seen = event, now, True
        if entry.rows is not None and not entry.analysing:
            return self._analyse(call_id, entry, now)
        return []

    def rows_closed(self, call_id: str, rows: Sequence[Recording], now: float, *,
                    live_expected: bool) -> list[Action]:
        """The recorder closed ``call_id``'s rows; ``live_expected``: a live outcome may come."""
        if call_id in self._done:
            return []
        entry = self._pending.get(call_id)
        if entry is None:
            if len(self._pending) >= MAX_PENDING_CALLS:
                log.warning("call %s: %d calls pending; its recording is not analysed",
                            call_id, MAX_PENDING_CALLS)
                return []
            entry = self._pending[call_id] = _Pending()
        entry.rows, entry.rows_at = tuple(rows), now
        if entry.live_seen or not live_expected:
            return self._analyse(call_id, entry, now)
        return []

    def analysed(self, call_id: str, summary: Mapping[str, Any] | None, error: str | None,
                 now: float) -> list[Action]:
        """The analysis of ``call_id``'s legs ended: its ``summary``, or the ``error``."""
        entry = self._pending.get(call_id)
        if entry is None or not entry.analysing or entry.rows is None:
            return []  # a complete live summary went out meanwhile
        if summary is None:
            return self._fallback(call_id, entry, f"the recording could not be analysed: "
                                  f"{error}", now)
        del self._pending[call_id]
        self.stats.from_recording += 1
        return self._final(call_id, recording_summary(call_id, entry.rows, summary, now))

    def tick(self, now: float, recording: Callable[[str], bool]) -> list[Action]:
        """Apply the timeouts at ``now``; ``recording(call_id)``: the recorder still holds it."""
        out: list[Action] = []
        for call_id, entry in list(self._pending.items()):
            if entry.analysing:
                continue
            if entry.rows is not None:
                if now - entry.rows_at >= LIVE_WAIT_S:
                    log.info("call %s: no live outcome after %g s; analysing its recording",
                             call_id, LIVE_WAIT_S)
                    out += self._analyse(call_id, entry, now)
            elif now - entry.held_at >= MAX_HOLD_S:
                out += self._fallback(call_id, entry, "its recording did not close", now)
            elif recording(call_id):
                entry.lost_at = None
            elif entry.lost_at is None:
                entry.lost_at = now
            elif now - entry.lost_at >= ROWS_GRACE_S:
                out += self._fallback(call_id, entry, "its recording was not closed", now)
        return out

    def forget(self) -> int:
        """Drop what is held (the daemon stops; the next run starts over from the store)."""
        held = len(self._pending)
        self._pending.clear()
        return held

    def mark_done(self, call_id: str) -> None:
        """``call_id`` already has its final event (a previous run published it)."""
        self._pending.pop(call_id, None)
        self._remember(call_id)

    def _analyse(self, call_id: str, entry: _Pending, now: float) -> list[Action]:
        assert entry.rows is not None
        why = unusable(entry.rows)
        if why is not None:
            return self._fallback(call_id, entry, why, now)
        entry.analysing = True
        return [Analyse(call_id, entry.rows)]

    def _fallback(self, call_id: str, entry: _Pending, why: str, now: float) -> list[Action]:
        """No summary from the recording: the held live event, else the reason why not."""
        del self._pending[call_id]
        self.stats.fallbacks += 1
        log.warning("call %s: no summary from its recording: %s", call_id, why)
        if entry.held is not None:
            return self._final(call_id, entry.held)
        return self._final(call_id, unavailable(call_id, now, f"no live metrics, and {why}"))

    def _final(self, call_id: str, event: StreamEvent) -> list[Action]:
        self._remember(call_id)
        return [Publish(event)]

    def _remember(self, call_id: str) -> None:
        self._done[call_id] = None
        if len(self._done) > MAX_DONE_CALLS:
            del self._done[next(iter(self._done))]
