"""Exponential reconnect backoff with jitter, reset after a successful session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delay before attempt n is min(max, initial * 2**n) scaled by a jitter factor in [0.5, 1]."""

    initial_s: float
    max_s: float
    rng: Callable[[], float]
    attempts: int = field(default=0)

    def next_delay_s(self) -> float:
        """Return the delay before the next attempt and count the attempt."""
        base_s = min(self.max_s, self.initial_s * (2.0 ** min(self.attempts, 60)))
        self.attempts += 1
        return base_s * (0.5 + 0.5 * self.rng())

    def reset(self) -> None:
        """Forget past failures (called once a session is established)."""
        self.attempts = 0
