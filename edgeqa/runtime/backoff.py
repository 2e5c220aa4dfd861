"""Reconnect backoff shared by the AMI and ARI clients: exponential, jittered, reset on success.

The delay is a pure function of the attempt number; ``Backoff`` adds the state of one outage
(failed attempts, when it began) so the clients log its first failure loudly, the rest quietly,
and its end once. Time is passed in as ``now`` (the clients' monotonic clock).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff", "Recovery", "backoff_delay_s", "log_failure", "log_recovery"]

#: Past this many doublings the ceiling is max_s anyway; the cap keeps 2**n a small float.
MAX_DOUBLINGS = 64


def backoff_delay_s(attempt: int, initial_s: float, max_s: float, jitter: float) -> float:
    """Return the wait before reconnect ``attempt`` (0-based); ``jitter`` in [0, 1) draws it.

    The ceiling doubles from ``initial_s`` up to ``max_s``; the delay is drawn from the upper half
    of the ceiling ("equal jitter"), so clients spread out yet never retry in a tight loop.
    """
    if initial_s <= 0 or max_s < initial_s:
        raise ValueError(f"need 0 < initial_s <= max_s, got {initial_s}, {max_s}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    ceiling_s = max_s if attempt >= MAX_DOUBLINGS else min(max_s, initial_s * 2.0**attempt)
    return ceiling_s * (0.5 + 0.5 * jitter)


@dataclass(frozen=True, slots=True)
class Recovery:
    """An outage that just ended: ``attempts`` reconnects were tried over ``outage_s``."""

    attempts: int
    outage_s: float


@dataclass(slots=True)
class Backoff:
    """Delays for one link's reconnect loop, and the outage they belong to."""

    initial_s: float
    max_s: float
    rng: Callable[[], float] = random.random
    #: Failures since the last success; also the exponent of the next delay.
    attempts: int = field(default=0)
    #: ``now`` of the outage's first failure, None while the link is fine.
    outage_since_s: float | None = field(default=None)

    def __post_init__(self) -> None:
        backoff_delay_s(0, self.initial_s, self.max_s, 0.0)  # validates the pair

    @property
    def first_failure(self) -> bool:
        """True right after the failure that began the current outage."""
        return self.attempts == 1

    def fail(self, now: float) -> float:
        """Count a failure (a link lost or a connect refused) at ``now``; return the wait."""
        if self.outage_since_s is None:
            self.outage_since_s = now
        jitter = min(self.rng(), 0.999999)  # random.random() is < 1; a test rng may give 1.0
        delay_s = backoff_delay_s(self.attempts, self.initial_s, self.max_s, jitter)
        self.attempts += 1
        return delay_s

    def succeed(self, now: float) -> Recovery | None:
        """Reset after a session came up at ``now``; return the outage it ended, if any."""
        since, attempts = self.outage_since_s, self.attempts
        self.attempts, self.outage_since_s = 0, None
        if since is None:
            return None
        return Recovery(attempts, max(0.0, now - since))


def log_failure(log: logging.Logger, link: str, backoff: Backoff, reason: BaseException,
                delay_s: float) -> None:
    """Log a failed attempt: WARNING for an outage's first, DEBUG for the ones after it."""
    level = logging.WARNING if backoff.first_failure else logging.DEBUG
    if log.isEnabledFor(level):
        # A bare TimeoutError has no text: name its type rather than log an empty cause.
        log.log(level, "%s: %s; reconnecting in %.2f s (attempt %d)", link,
                str(reason) or type(reason).__name__, delay_s, backoff.attempts)


def log_recovery(log: logging.Logger, link: str, recovery: Recovery | None) -> None:
    """Log the end of an outage at INFO (nothing if the link had not failed)."""
    if recovery is not None:
        log.info("%s: reconnected after %d attempt%s, %.1f s", link, recovery.attempts,
                 "" if recovery.attempts == 1 else "s", recovery.outage_s)
