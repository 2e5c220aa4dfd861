"""The shared reconnect backoff: doubling ceiling, cap, equal jitter, outages and their logs."""

from __future__ import annotations

import logging

import pytest

from edgeqa.runtime.backoff import Backoff, Recovery, backoff_delay_s, log_failure, log_recovery


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


@pytest.mark.parametrize(("initial", "maximum"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_backoff_refuses_bad_pair(initial: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="initial_s"):
        Backoff(initial, maximum)


def test_backoff_grows_caps_jitters_and_resets() -> None:
    top = Backoff(0.1, 1.0, rng=lambda: 1.0)  # a test rng may return 1.0: clamped, no error
    assert [top.fail(0.0) for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert top.attempts == 6
    top.succeed(1.0)
    assert top.attempts == 0 and top.fail(2.0) == pytest.approx(0.1)
    low = Backoff(0.1, 1.0, rng=lambda: 0.0)
    assert low.fail(0.0) == pytest.approx(0.05)
    for _ in range(200):
        low.fail(0.0)
    assert low.fail(0.0) == pytest.approx(0.5)


def test_outage_spans_first_failure_to_success() -> None:
    backoff = Backoff(0.1, 1.0, rng=lambda: 0.5)
    assert backoff.succeed(5.0) is None  # first connect worked: no outage to report
    backoff.fail(10.0)
    assert backoff.first_failure and backoff.outage_since_s == 10.0
    backoff.fail(10.3)
    backoff.fail(10.9)
    assert not backoff.first_failure and backoff.outage_since_s == 10.0
    assert backoff.succeed(12.5) == Recovery(attempts=3, outage_s=2.5)
    assert backoff.outage_since_s is None and backoff.succeed(13.0) is None
    backoff.fail(20.0)
    assert backoff.first_failure  # a new outage starts loud again


def test_failures_log_loud_once_then_quiet_and_recovery_once(
        caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("edgeqa.test_backoff")
    backoff = Backoff(0.1, 1.0, rng=lambda: 0.0)
    with caplog.at_level(logging.DEBUG, logger=log.name):
        for now in (1.0, 1.1, 1.3):
            log_failure(log, "AMI 127.0.0.1:5038", backoff, ConnectionRefusedError("refused"),
                        backoff.fail(now))
        log_recovery(log, "AMI 127.0.0.1:5038", backoff.succeed(4.0))
        log_recovery(log, "AMI 127.0.0.1:5038", backoff.succeed(5.0))
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG, logging.INFO]
    assert caplog.records[0].getMessage() == (
        "AMI 127.0.0.1:5038: refused; reconnecting in 0.05 s (attempt 1)")
    assert caplog.records[3].getMessage() == (
        "AMI 127.0.0.1:5038: reconnected after 3 attempts, 3.0 s")


def test_an_error_without_text_is_named_by_its_type(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("edgeqa.test_backoff")
    backoff = Backoff(1.0, 1.0, rng=lambda: 0.0)
    with caplog.at_level(logging.WARNING, logger=log.name):
        log_failure(log, "ARI", backoff, TimeoutError(), backoff.fail(0.0))
    assert caplog.records[0].getMessage() == "ARI: TimeoutError; reconnecting in 0.50 s (attempt 1)"


def test_one_attempt_is_singular(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("edgeqa.test_backoff")
    with caplog.at_level(logging.INFO, logger=log.name):
        log_recovery(log, "ARI", Recovery(1, 0.25))
    assert caplog.records[0].getMessage() == "ARI: reconnected after 1 attempt, 0.2 s"
