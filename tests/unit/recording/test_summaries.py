"""The summary gate: one final event per recorded call, whatever the order things come in.

Pure: live outcomes, closed rows, analyses and time go in; Publish/Analyse actions come out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeqa.live.events import summary_event, unavailable
from edgeqa.recording.events import Recording
from edgeqa.recording.summaries import (
    LIVE_WAIT_S,
    MAX_HOLD_S,
    ROWS_GRACE_S,
    Action,
    Analyse,
    Publish,
    SummaryGate,
    recording_spans,
)
from edgeqa.store import Event as StreamEvent
from edgeqa.store import schema_name
from tests.support.schemas import errors
from tests.support.summaries import summary_of

T0 = 1733012345.0
CALL = "1733012345.1"
FROM_REC: dict[str, Any] = summary_of(19.5)


def rows(state: str = "complete", agent_state: str | None = None) -> list[Recording]:
    return [Recording(CALL, "customer", "/r/c.wav", T0 + 0.4, ended_at=T0 + 20.0, state=state,
                      reason=None if state == "complete" else "no file"),
            Recording(CALL, "agent", "/r/a.wav", T0 + 0.4, ended_at=T0 + 20.0,
                      state=agent_state or state)]


def live(kind: str) -> StreamEvent:
    if kind == "unavailable":
        return unavailable(CALL, T0 + 1, "the snoop was refused")
    summary = summary_of(20.0, partial=kind == "partial")
    return summary_event(CALL, T0 + 20, T0, summary, "live")


def published(actions: Sequence[Action]) -> list[StreamEvent]:
    out = [a.event for a in actions if isinstance(a, Publish)]
    for e in out:
        assert errors(dict(e.data), schema_name(e.type)) == [], e
    return out


def analyses(actions: Sequence[Action]) -> list[Analyse]:
    return [a for a in actions if isinstance(a, Analyse)]


def never(_call_id: str) -> bool:
    return False


def always(_call_id: str) -> bool:
    return True


def test_a_complete_live_summary_passes_straight_through_and_nothing_is_analysed() -> None:
    gate = SummaryGate()
    event = live("complete")
    assert published(gate.live(event, T0 + 20, recorded=True)) == [event]
    assert gate.rows_closed(CALL, rows(), T0 + 21, live_expected=True) == []
    assert gate.tick(T0 + 1000, never) == [] and gate.pending == 0


def test_a_partial_summary_held_until_the_rows_close_becomes_one_from_the_recording() -> None:
    gate = SummaryGate()
    assert gate.live(live("partial"), T0 + 20, recorded=True) == []
    assert gate.tick(T0 + 22, always) == []  # the recorder still closes the files
    (job,) = analyses(gate.rows_closed(CALL, rows(), T0 + 23, live_expected=True))
    assert job.call_id == CALL and [r.leg for r in job.rows] == ["customer", "agent"]
    assert gate.tick(T0 + 23 + LIVE_WAIT_S, never) == []  # analysing: no timeout
    (event,) = published(gate.analysed(CALL, FROM_REC, None, T0 + 24))
    assert event.type == "call.summary" and event.at == T0 + 20.0
    assert event.data == {"call_id": CALL, "leg": None, "started_at": T0 + 0.4,
                          "partial": False, "source": "recording", "summary": FROM_REC}
    assert gate.stats.from_recording == 1 and gate.pending == 0


def test_rows_closed_first_wait_for_the_live_outcome() -> None:
    for kind in ("partial", "unavailable"):
        gate = SummaryGate()
        assert gate.rows_closed(CALL, rows(), T0 + 20, live_expected=True) == []
        assert len(analyses(gate.live(live(kind), T0 + 21, recorded=False))) == 1
        (event,) = published(gate.analysed(CALL, FROM_REC, None, T0 + 22))
        assert event.data["source"] == "recording"
    gate = SummaryGate()
    gate.rows_closed(CALL, rows(), T0 + 20, live_expected=True)
    complete = live("complete")
    assert published(gate.live(complete, T0 + 21, recorded=False)) == [complete]


def test_no_live_analysis_means_the_recording_is_analysed_at_once() -> None:
    gate = SummaryGate()
    assert len(analyses(gate.rows_closed(CALL, rows(), T0, live_expected=False))) == 1
    assert published(gate.analysed(CALL, FROM_REC, None, T0 + 1))[0].data["source"] == \
        "recording"


def test_an_unusable_recording_publishes_the_held_live_event() -> None:
    for bad in (rows("missing"), rows("complete", agent_state="corrupt"), rows()[:1]):
        for kind in ("partial", "unavailable"):
            gate = SummaryGate()
            held = live(kind)
            gate.live(held, T0 + 20, recorded=True)
            assert published(gate.rows_closed(CALL, bad, T0 + 21, live_expected=True)) == [held]
            assert gate.stats.fallbacks == 1


def test_a_failed_analysis_publishes_the_held_event_or_says_why() -> None:
    gate = SummaryGate()
    held = live("partial")
    gate.live(held, T0 + 20, recorded=True)
    gate.rows_closed(CALL, rows(), T0 + 21, live_expected=True)
    assert published(gate.analysed(CALL, None, "sha256 differs", T0 + 22)) == [held]
    gate = SummaryGate()  # no live analysis at all
    gate.rows_closed(CALL, rows(), T0 + 21, live_expected=False)
    (event,) = published(gate.analysed(CALL, None, "sha256 differs", T0 + 22))
    assert event.type == "call.metrics_unavailable"
    assert event.data["reason"] == ("no live metrics, and the recording could not be "
                                    "analysed: sha256 differs")
    gate = SummaryGate()
    (event,) = published(gate.rows_closed(CALL, rows("missing"), T0, live_expected=False))
    assert event.data["reason"] == "no live metrics, and the customer recording is missing " \
                                   "(no file)"


def test_a_call_that_is_not_recorded_passes_through() -> None:
    for kind in ("partial", "unavailable"):
        gate = SummaryGate()
        event = live(kind)
        assert published(gate.live(event, T0, recorded=False)) == [event]
        assert gate.pending == 0


def test_no_live_outcome_in_time_analyses_the_recording_and_drops_what_comes_late() -> None:
    gate = SummaryGate()
    gate.rows_closed(CALL, rows(), T0 + 20, live_expected=True)
    assert gate.tick(T0 + 20 + LIVE_WAIT_S - 0.1, never) == []
    assert len(analyses(gate.tick(T0 + 20 + LIVE_WAIT_S, never))) == 1
    assert gate.live(live("partial"), T0 + 90, recorded=False) == []  # held, as a fallback
    assert published(gate.analysed(CALL, FROM_REC, None, T0 + 91))[0].data["source"] == \
        "recording"
    assert gate.live(live("complete"), T0 + 95, recorded=False) == []
    assert gate.stats.dropped == 1


def test_a_complete_live_summary_during_the_analysis_wins() -> None:
    gate = SummaryGate()
    gate.rows_closed(CALL, rows(), T0 + 20, live_expected=True)
    gate.tick(T0 + 20 + LIVE_WAIT_S, never)
    complete = live("complete")
    assert published(gate.live(complete, T0 + 90, recorded=False)) == [complete]
    assert gate.analysed(CALL, FROM_REC, None, T0 + 91) == []


def test_a_held_event_is_published_when_the_rows_never_close() -> None:
    gate = SummaryGate()
    held = live("unavailable")
    gate.live(held, T0, recorded=True)  # at the connect: the call lasts
    assert gate.tick(T0 + MAX_HOLD_S - 1, always) == []
    assert published(gate.tick(T0 + MAX_HOLD_S, always)) == [held]
    gate = SummaryGate()
    gate.live(held, T0, recorded=True)
    assert gate.tick(T0 + 10, never) == []  # the recorder let go without closing the rows
    assert gate.tick(T0 + 10 + ROWS_GRACE_S - 0.1, never) == []
    assert published(gate.tick(T0 + 10 + ROWS_GRACE_S, never)) == [held]


def test_a_call_published_by_a_previous_run_gets_nothing_more() -> None:
    gate = SummaryGate()
    gate.mark_done(CALL)
    assert gate.rows_closed(CALL, rows(), T0, live_expected=False) == []
    assert gate.live(live("partial"), T0, recorded=True) == []


def test_forget_drops_what_is_held() -> None:
    gate = SummaryGate()
    gate.live(live("partial"), T0, recorded=True)
    assert gate.forget() == 1 and gate.pending == 0


STEPS = ("live", "rows", "wait", "answer", "let_go")


@given(order=st.permutations(STEPS), kind=st.sampled_from(["complete", "partial",
                                                            "unavailable", "none"]),
       usable=st.booleans(), analysis_ok=st.booleans(), live_expected=st.booleans())
def test_every_ordering_publishes_exactly_one_final_event(
        order: list[str], kind: str, usable: bool, analysis_ok: bool,
        live_expected: bool) -> None:
    gate = SummaryGate()
    now = T0
    out: list[StreamEvent] = []
    jobs: list[Analyse] = []
    live_event = None if kind == "none" else live(kind)
    live_before_final = False
    let_go = False

    def run(actions: list[Action]) -> None:
        out.extend(published(actions))
        jobs.extend(analyses(actions))

    def answer() -> None:
        while jobs:
            job = jobs.pop(0)
            run(gate.analysed(job.call_id, FROM_REC if analysis_ok else None,
                              None if analysis_ok else "unreadable", now))

    for step in order:
        now += 1.0
        if step == "live" and live_event is not None:
            live_before_final = not out
            run(gate.live(live_event, now, recorded=not let_go))
        elif step == "rows":
            run(gate.rows_closed(CALL, rows() if usable else rows("corrupt"), now,
                                 live_expected=live_expected and live_event is not None))
        elif step == "wait":
            now += LIVE_WAIT_S
            run(gate.tick(now, never if let_go else always))
        elif step == "answer":
            answer()
        elif step == "let_go":
            let_go = True
    for _ in range(3):  # the end of time: every timeout runs out, every analysis ends
        now += MAX_HOLD_S
        run(gate.tick(now, never))
        answer()
    assert len(out) == 1, (out, order)
    (final,) = out
    if final.data.get("source") == "recording":
        assert usable and analysis_ok
        assert not (kind == "complete" and live_before_final)
    elif live_event is not None and live_before_final:
        assert final is live_event
    elif live_event is None:
        assert final.type == "call.metrics_unavailable"
    if kind == "complete" and live_before_final:
        assert final is live_event
    if usable and analysis_ok and kind != "complete" and "rows" in order[:order.index("let_go")]:
        # rows closed while the recorder held the call: nothing stops the analysis
        assert final.data.get("source") == "recording", (final, order)


def test_paused_spans_in_wall_time_become_seconds_of_the_recording() -> None:
    legs = rows()  # the recording starts at T0 + 0.4
    assert recording_spans([], legs) == []
    assert recording_spans([(T0, T0 + 0.3), (T0 + 0.2, T0 + 2.4), (T0 + 5.4, T0 + 7.9)],
                           legs) == [(0.0, 2.0), (5.0, 7.5)]
    # A pause still open when the call ended (inf) ends with the recording (T0 + 20); one
    # after the recording is dropped.
    got = recording_spans([(T0 + 18.4, float("inf")), (T0 + 21, T0 + 22)], legs)
    assert got == [(pytest.approx(18.0), pytest.approx(19.6))]
