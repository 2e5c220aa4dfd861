"""Shared checks for the tests that compare live, offline and true metrics of real calls."""

from __future__ import annotations

from typing import Any

#: The spec's boundary tolerance (docs/metrics.md, "Tolerances" and "Live versus offline").
BOUNDARY_TOL_S = 0.5
#: Channels that the live taps create: none may outlive a call.
HELPER_PREFIXES = ("Snoop/", "UnicastRTP/")


def complete(items: list[Any], end_s: float) -> list[Any]:
    """Intervals that ended at least 1 s before the shorter recording did."""
    return [item for item in items if item[1] <= end_s - 1.0]


def assert_close(got: list[Any], want: list[Any], what: str) -> None:
    """Same count, and each (start, end) within BOUNDARY_TOL_S of its counterpart."""
    assert len(got) == len(want), (what, got, want)
    for g, w in zip(got, want, strict=True):
        assert abs(g[0] - w[0]) <= BOUNDARY_TOL_S and abs(g[1] - w[1]) <= BOUNDARY_TOL_S, \
            (what, g, w)
