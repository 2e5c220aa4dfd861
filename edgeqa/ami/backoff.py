"""Reconnect delays: exponential backoff with jitter, as a pure function of the attempt number."""

from __future__ import annotations


def backoff_delay_s(attempt: int, initial_s: float, max_s: float, jitter: float) -> float:
    """Return the wait before reconnect ``attempt`` (0-based); ``jitter`` in [0, 1) draws it.

    The ceiling doubles from ``initial_s`` up to ``max_s``; the delay is drawn from the upper half
    of the ceiling ("equal jitter"), so clients spread out yet never retry in a tight loop.
    """
    if initial_s <= 0 or max_s < initial_s:
        raise ValueError(f"need 0 < initial_s <= max_s, got {initial_s}, {max_s}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    ceiling_s = max_s if attempt >= 64 else min(max_s, initial_s * 2.0**attempt)
    return ceiling_s * (0.5 + 0.5 * jitter)
