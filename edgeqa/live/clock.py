"""One clock per call: its time origin (the answer, wall time) and the loop clock's offset."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallClock:
    """Converts wall and loop time to call time (seconds since the answer), once, at the edge.

    ``loop_minus_wall_s`` is read once when the call is first seen, so loop time (monotonic,
    for packet arrival) and wall time (for tracker events) land on the same call timeline.
    """

    answered_at: float
    loop_minus_wall_s: float

    @classmethod
    def start(cls, answered_at: float, *, wall_now: float, loop_now: float) -> CallClock:
        """The clock of a call answered at wall time ``answered_at``, read at one instant."""
        return cls(answered_at, loop_now - wall_now)

    def from_wall(self, at: float) -> float:
        """Call time of the wall instant ``at``."""
        return at - self.answered_at

    def from_loop(self, loop_now: float) -> float:
        """Call time of the loop instant ``loop_now``."""
        return loop_now - self.loop_minus_wall_s - self.answered_at

    def wall(self, t_s: float) -> float:
        """Wall time of call time ``t_s``."""
        return self.answered_at + t_s
