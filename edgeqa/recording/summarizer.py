"""Summaries from recordings: the asyncio adapter of the SummaryGate, and the analysis of a
call's recorded legs (blocking, run in a thread, a bounded number at a time).

The live service's final events go through ``submit_live`` (app.py wraps the submit it hands
LiveMetrics); the recorder reports closed rows to ``on_closed``. What the gate holds is in
memory: a daemon that stops while holding starts over from the store (``restore``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from edgeqa.analyze.offline import CallAudio, run_call
from edgeqa.recording.events import Recording
from edgeqa.recording.model import CLOSED_STATES
from edgeqa.recording.stereo import ExportError, check_rows, leg_pcm, offsets
from edgeqa.recording.summaries import (
    FINAL_TYPES,
    Action,
    Analyse,
    Publish,
    SummaryGate,
    recording_spans,
)
from edgeqa.store import Event as StreamEvent
from edgeqa.store import EventLike

log = logging.getLogger(__name__)

#: Analyses that run at once (each takes one core: the PBX shares the host).
MAX_RUNNING_ANALYSES = 1
#: Analyses waiting to run, at most; beyond, the call falls back to its live outcome.
MAX_QUEUED_ANALYSES = 100
#: How often the gate's timeouts are checked.
TICK_S = 1.0
#: At start-up, recorded calls started this long ago at most are looked at (restore).
RESTORE_HORIZON_S = 24 * 3600.0

#: A call's PCI pause or hold spans, (start, end): wall time (the ``paused`` and ``holds``
#: callbacks), or seconds of its recording (analyse_legs).
Spans = Sequence[tuple[float, float]]


def analyse_legs(call_id: str, rows: Sequence[Recording],
                 paused: Spans = (), holds: Spans = ()) -> dict[str, Any]:
    """The edgeqa.call_summary/4 of ``call_id``'s two complete leg files, by the same
    CallAnalyzer as `edgeqa analyze`; time 0 is the earlier leg's start. Each file's sha256
    is checked against its row first. Blocking: run it in a thread. Raises ExportError."""
    legs = check_rows(call_id, [r.to_dict() for r in rows])
    pcm: dict[str, bytes] = {}
    rates: set[int] = set()
    for leg, row in legs.items():
        pcm[leg], rate = leg_pcm(call_id, row)
        rates.add(rate)
    if len(rates) != 1:
        raise ExportError("unusable", f"call {call_id}: the legs' rates differ {sorted(rates)}")
    (rate,) = rates
    starts = offsets([float(legs[leg]["started_at"]) for leg in ("customer", "agent")], rate)
    audio = CallAudio(bytes(2 * starts[0]) + pcm["customer"], bytes(2 * starts[1]) + pcm["agent"],
                      rate, "pcm16")
    return run_call(audio, paused=paused, holds=holds)


async def _no_pauses(call_id: str) -> Spans:
    return ()


class SummaryStore(Protocol):
    """The store as restore_from uses it."""

    async def recordings(self, **filters: Any) -> list[dict[str, Any]]: ...
    async def finished_calls(self, call_ids: Collection[str], since: float) -> set[str]: ...


class Summarizer:
    """Routes live final events and closed rows through the gate; runs the analyses.

    ``records(call_id)``: the recorder holds the call; ``paused(call_id)`` and
    ``holds(call_id)``: its PCI pause and hold spans in wall time (none by default), handed to
    the analysis as seconds of the recording.
    """

    def __init__(self, submit: Callable[[Iterable[EventLike]], None],
                 records: Callable[[str], bool], *, live_enabled: bool,
                 wall: Callable[[], float],
                 paused: Callable[[str], Awaitable[Spans]] | None = None,
                 holds: Callable[[str], Awaitable[Spans]] | None = None,
                 analyse: Callable[[str, Sequence[Recording], Spans, Spans],
                                   Mapping[str, Any]] = analyse_legs) -> None:
        self.gate = SummaryGate()
        self._submit = submit
        self._records = records
        self._live_enabled = live_enabled
        self._wall = wall
        self._paused = paused or _no_pauses
        self._holds = holds or _no_pauses
        self._analyse = analyse
        self._no_live: set[str] = set()
        self._queue: asyncio.Queue[Analyse] = asyncio.Queue(MAX_QUEUED_ANALYSES)
        self._tasks: list[asyncio.Task[None]] = []

    def health(self) -> Mapping[str, Any]:
        """Counters for /v1/health (under recording)."""
        s = self.gate.stats
        return {"pending": self.gate.pending, "queued": self._queue.qsize(),
                "passed": s.passed, "from_recording": s.from_recording,
                "fallbacks": s.fallbacks, "dropped": s.dropped}

    def restore(self, recording_rows: Sequence[Mapping[str, Any]], open_call_ids: Iterable[str],
                finished: Collection[str], closed_rows: Sequence[Mapping[str, Any]]) -> None:
        """Start over from the store after a (re)start.

        ``recording_rows``: rows a previous run left recording (the recorder closes them);
        ``finished``: calls that already have their final event; ``closed_rows``: recent closed
        rows (store.recordings since RESTORE_HORIZON_S). A call whose rows are closed but that
        has no final event (a run stopped while the gate held it) is analysed again; a call
        that ended before this run started gets no live outcome, so none is awaited.
        """
        still_open = set(open_call_ids)
        for call_id in finished:
            self.gate.mark_done(call_id)
        self._no_live = {str(r["call_id"]) for r in recording_rows} - still_open - set(finished)
        by_call: dict[str, list[Recording]] = {}
        for row in closed_rows:
            by_call.setdefault(str(row["call_id"]), []).append(Recording.from_row(row))
        now = self._wall()
        again = [c for c, rows in by_call.items()
                 if c not in finished and c not in still_open and c not in self._no_live
                 and all(r.state in CLOSED_STATES for r in rows)]  # not deleted
        if len(again) > MAX_QUEUED_ANALYSES:  # the newest (rows are oldest first)
            log.warning("summaries: %d recorded calls have no summary; the newest %d are "
                        "summed up", len(again), MAX_QUEUED_ANALYSES)
            again = again[-MAX_QUEUED_ANALYSES:]
        for call_id in again:
            self._do(self.gate.rows_closed(call_id, by_call[call_id], now, live_expected=False))
        if again or self._no_live:
            log.info("summaries: %d recorded calls of a previous run to sum up from their "
                     "recordings (%d still closing)", len(again), len(self._no_live))

    async def restore_from(self, store: SummaryStore, open_call_ids: Iterable[str]) -> None:
        """restore() from the store: rows left recording, and those of the recent calls."""
        left = await store.recordings(state="recording")
        recent = await store.recordings(since=self._wall() - RESTORE_HORIZON_S)
        rows = [*left, *recent]
        if not rows:
            return
        ids = {str(r["call_id"]) for r in rows}
        finished = await store.finished_calls(ids, min(float(r["started_at"]) for r in rows))
        self.restore(left, open_call_ids, finished, recent)

    def bind(self, tg: asyncio.TaskGroup) -> None:
        """Run the analyses and the timeouts as tasks of ``tg``."""
        self._tasks = [tg.create_task(self._work(), name=f"summaries-{i}")
                       for i in range(MAX_RUNNING_ANALYSES)]
        self._tasks.append(tg.create_task(self._tick(), name="summaries-tick"))

    def submit_live(self, events: Iterable[EventLike]) -> None:
        """The live service's submit: its final events go through the gate."""
        rest: list[EventLike] = []
        finals: list[StreamEvent] = []
        for event in events:
            if event.type in FINAL_TYPES and isinstance(event, StreamEvent):
                finals.append(event)
            else:
                rest.append(event)
        if rest:
            self._submit(rest)
        if finals:
            # Decided once the tracker's changes reached every capability: a call refused at
            # its connect ([live] max_calls) is refused before the recorder saw it connected.
            asyncio.get_running_loop().call_soon(self._live, finals)

    def _live(self, finals: list[StreamEvent]) -> None:
        for event in finals:
            call_id = str(event.data["call_id"])
            self._do(self.gate.live(event, self._wall(), self._records(call_id)))

    def on_closed(self, call_id: str, rows: Sequence[Recording]) -> None:
        """The recorder closed ``call_id``'s rows (Recorder on_closed)."""
        live = self._live_enabled and call_id not in self._no_live
        self._no_live.discard(call_id)
        self._do(self.gate.rows_closed(call_id, rows, self._wall(), live_expected=live))

    def _do(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Publish):
                self._submit([action.event])
                continue
            try:
                self._queue.put_nowait(action)
            except asyncio.QueueFull:
                self._do(self.gate.analysed(action.call_id, None, f"{MAX_QUEUED_ANALYSES} "
                                            "analyses already queued", self._wall()))

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                paused = recording_spans(await self._paused(job.call_id), job.rows)
                holds = recording_spans(await self._holds(job.call_id), job.rows)
                summary: Mapping[str, Any] | None = await asyncio.to_thread(
                    self._analyse, job.call_id, job.rows, paused, holds)
                error = None
            except Exception as exc:  # unreadable, changed on disk, a bug: fall back
                summary, error = None, str(exc)
            self._do(self.gate.analysed(job.call_id, summary, error, self._wall()))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self._do(self.gate.tick(self._wall(), self._records))

    async def close(self) -> None:
        """Stop: what is held is dropped (the next run starts over from the store)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        held = self.gate.forget()
        if held:
            log.info("summaries: %d calls left to the next run", held)
