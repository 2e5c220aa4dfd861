"""LoginThrottle: failures per address in a sliding window, bounded in addresses."""

from __future__ import annotations

from edgeqa.auth.throttle import LoginThrottle


def test_an_address_is_refused_after_its_failures_until_the_window_passes() -> None:
    t = LoginThrottle(max_failures=3, window_s=60.0, max_addresses=2)
    for i in range(3):
        assert t.allows("a", 100.0 + i)
        t.failed("a", 100.0 + i)
    assert not t.allows("a", 110.0) and t.refused == 1
    assert t.allows("b", 110.0)  # another address is not affected
    assert not t.allows("a", 159.0)  # all three still inside the window
    assert t.allows("a", 160.5)  # the first one has left it


def test_only_the_latest_addresses_are_remembered() -> None:
    t = LoginThrottle(max_failures=1, window_s=60.0, max_addresses=2)
    for address in ("a", "b", "c"):
        t.failed(address, 1.0)
    assert t.allows("a", 2.0) and not t.allows("b", 2.0) and not t.allows("c", 2.0)
