"""Feeding a recorded call through a CallAnalyzer with gaps, pauses and hold on a schedule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edgeqa.analyze.offline import CallAudio
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.config import MetricsConfig
from edgeqa.metrics.events import LEGS, MetricEvent
from edgeqa.metrics.result import CallResult
from tests.support.paths import CALLS

RATE = 8000


def speech(leg: str, start_s: float, end_s: float) -> bytes:
    """Real speech cut from a fixture leg (clean.*.wav is speech inside its truth segments)."""
    pcm = (CALLS / f"clean.{leg}.wav").read_bytes()[44:]
    return pcm[2 * int(start_s * RATE):2 * int(end_s * RATE)]


#: One utterance of each leg in clean.wav: 3.8 s of agent, 4.6 s of customer.
AGENT_3S8 = ("agent", 0.5, 4.3)
CUSTOMER_4S6 = ("customer", 6.2, 10.8)


def silence(seconds: float, rate: int = RATE) -> bytes:
    """Digital silence, int16 LE."""
    return bytes(2 * int(seconds * rate))


@dataclass(frozen=True)
class Action:
    """At call time ``t_s``: "suspend" (with ``reason``), "resume", "pause", "unpause",
    "tick" (a live tick at ``t_s``), "hold_on" or "hold_off"."""

    t_s: float
    kind: str
    reason: str = "pbx_outage"


def run_schedule(audio: CallAudio, actions: Sequence[Action] = (), *, start_s: float = 0.0,
                 stop_s: float | None = None, end_s: float | None = None, block_s: float = 1.0,
                 analyzer: CallAnalyzer | None = None,
                 config: MetricsConfig | None = None,
                 on_block: Callable[[CallAnalyzer, float], None] | None = None,
                 ) -> tuple[list[MetricEvent], CallResult]:
    """Feed both legs' audio in [start_s, stop_s) in blocks, acting at each action's time.

    Audio inside gaps is fed too (the analyzer must drop it). ``on_block(analyzer, t_s)`` runs
    after each block, ``t_s`` the end of the audio fed. Returns every event and the result of
    ``finish(end_s)``.
    """
    call = analyzer or CallAnalyzer(audio.sample_rate, audio.codec, config)
    bps = 2 * audio.sample_rate
    frame_bytes = bps // 50
    total = len(audio.customer) // frame_bytes
    first = round(start_s * 50)
    last = total if stop_s is None else min(total, round(stop_s * 50))
    todo = sorted(actions, key=lambda a: a.t_s)
    events: list[MetricEvent] = []
    frame = first
    step = max(1, round(block_s * 50))
    while frame < last or todo:
        while todo and round(todo[0].t_s * 50) <= frame:
            events += _act(call, todo.pop(0))
        if frame >= last:
            if todo:
                events += _act(call, todo.pop(0))
            continue
        upto = min(last, frame + step)
        if todo:
            upto = min(upto, max(frame + 1, round(todo[0].t_s * 50)))
        t_s = frame / 50
        for leg in LEGS:
            pcm = audio.customer if leg == "customer" else audio.agent
            events += call.feed(leg, pcm[frame * frame_bytes:upto * frame_bytes], t_s)
        frame = upto
        if on_block is not None:
            on_block(call, frame / 50)
    result = call.finish(end_s)
    return events + result.events, result


def _act(call: CallAnalyzer, action: Action) -> list[MetricEvent]:
    if action.kind == "suspend":
        return call.suspend(action.t_s, action.reason)
    if action.kind == "resume":
        return call.resume(action.t_s)
    if action.kind == "pause":
        return call.pause(action.t_s)
    if action.kind == "unpause":
        return call.unpause(action.t_s)
    if action.kind == "tick":
        return call.tick(action.t_s)
    call.set_hold(action.kind == "hold_on", action.t_s)
    return []


def _spans(items: Sequence[Any]) -> list[tuple[float, float]]:
    return [(i[0], i[1]) if isinstance(i, list) else (i["start"], i["end"]) for i in items]


def assert_same_outside(got: Sequence[Any], want: Sequence[Any], start_s: float, end_s: float,
                        margin_s: float = 1.0) -> None:
    """Summary intervals (segments, dead air, talk-over) agree outside [start_s, end_s].

    Those ending before it (less ``margin_s``) are identical. After it the analysis started
    afresh (noise floor, webrtcvad): the same intervals within the spec's 0.5 s boundary
    tolerance (docs/metrics.md). Intervals within ``margin_s`` of it may be cut by it.
    """
    g, w = _spans(got), _spans(want)
    assert [i for i in g if i[1] < start_s - margin_s] == \
        [i for i in w if i[1] < start_s - margin_s]
    g_after = [i for i in g if i[0] > end_s + margin_s]
    w_after = [i for i in w if i[0] > end_s + margin_s]
    assert len(g_after) == len(w_after), (g_after, w_after)
    for a, b in zip(g_after, w_after, strict=True):
        assert abs(a[0] - b[0]) <= 0.5 and abs(a[1] - b[1]) <= 0.5, (a, b)
