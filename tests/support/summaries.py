"""Real call summaries (edgeqa.call_summary/3) for tests that pass summaries around."""

from __future__ import annotations

from typing import Any

from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.summary import build_summary


def summary_of(duration_s: float, *, partial: bool = False) -> dict[str, Any]:
    """The summary of a silent call of ``duration_s``; ``partial``: its first half is a gap
    (a daemon restart), as a live summary of a re-tapped call would say."""
    call = CallAnalyzer(8000, "pcm16")
    if partial:
        call.suspend(0.0, "daemon_restart")
        call.resume(round(duration_s / 2 / 0.02) * 0.02)
    return build_summary(call.finish(duration_s))
