"""The pure disk guard: low below the threshold, ok again above it plus a margin."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edgeqa.config import parse_config
from edgeqa.recording.guard import MIB, RECOVER_MARGIN, DiskGuard

ENV = {"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}
T = 1_800_000_000.0
GIB = 1024 * MIB


def test_the_threshold_is_the_larger_of_megabytes_and_percent() -> None:
    cfg = parse_config("[recording]\nmin_free_mb = 100\nmin_free_percent = 5\n",
                       env=ENV).recording
    guard = DiskGuard.of(cfg)
    assert guard.threshold_bytes(1 * GIB) == 100 * MIB  # 5 % of 1 GiB is 51.2 MiB
    assert guard.threshold_bytes(100 * GIB) == 5 * GIB
    assert DiskGuard.of(parse_config("", env=ENV).recording).threshold_bytes(10 * GIB) == GIB


def test_low_then_ok_once_above_the_margin_each_change_once() -> None:
    guard = DiskGuard(100 * MIB, 0.0)
    assert guard.update(200 * MIB, GIB, T) is None and guard.state == "ok"
    low = guard.update(99 * MIB, GIB, T + 1)
    assert low is not None and (low.state, low.severity, low.free_bytes, low.threshold_bytes,
                                low.at) == ("low", "alert", 99 * MIB, 100 * MIB, T + 1)
    assert guard.update(50 * MIB, GIB, T + 2) is None
    assert guard.update(101 * MIB, GIB, T + 3) is None  # above, but within the margin
    assert guard.state == "low"
    ok = guard.update(105 * MIB, GIB, T + 4)
    assert ok is not None and (ok.state, ok.severity) == ("ok", "info")
    assert guard.health() == {"state": "ok", "free_bytes": 105 * MIB,
                              "threshold_bytes": 100 * MIB, "checked_at": T + 4}
    assert ok.to_dict("/rec") == {"state": "ok", "severity": "info", "free_bytes": 105 * MIB,
                                  "threshold_bytes": 100 * MIB, "path": "/rec"}


def test_no_reading_yet() -> None:
    assert DiskGuard(1, 0).health() == {"state": "ok", "free_bytes": None,
                                        "threshold_bytes": None, "checked_at": None}


@given(st.lists(st.integers(0, 300), min_size=1, max_size=50))
def test_changes_alternate_and_follow_the_readings(free_mib: list[int]) -> None:
    guard = DiskGuard(100 * MIB, 0.0)
    state = "ok"
    for n, free in enumerate(free_mib):
        change = guard.update(free * MIB, GIB, T + n)
        if state == "ok":
            want = "low" if free < 100 else None
        else:
            want = "ok" if free * MIB >= 100 * MIB * (1 + RECOVER_MARGIN) else None
        assert (change.state if change else None) == want
        state = want or state
        assert guard.state == state
