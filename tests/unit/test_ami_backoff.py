"""backoff_delay_s: doubling ceiling, capped, equal jitter."""

from __future__ import annotations

import pytest

from edgeqa.ami.backoff import backoff_delay_s


def test_doubles_then_caps() -> None:
    ceilings = [backoff_delay_s(n, 0.1, 1.0, 0.999999) for n in range(8)]
    assert ceilings == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0], rel=1e-5)


def test_jitter_spans_upper_half() -> None:
    assert backoff_delay_s(3, 0.1, 10.0, 0.0) == pytest.approx(0.4)
    assert backoff_delay_s(3, 0.1, 10.0, 0.5) == pytest.approx(0.6)


def test_huge_attempt_does_not_overflow() -> None:
    assert backoff_delay_s(10_000, 0.1, 10.0, 0.0) == pytest.approx(5.0)


@pytest.mark.parametrize(("initial", "maximum", "jitter"), [(0, 1, 0), (2, 1, 0), (1, 2, 1.0)])
def test_rejects_bad_arguments(initial: float, maximum: float, jitter: float) -> None:
    with pytest.raises(ValueError):
        backoff_delay_s(0, initial, maximum, jitter)
