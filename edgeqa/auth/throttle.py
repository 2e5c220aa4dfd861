"""Pure: failed logins per client address in a sliding window, so that a client guessing
tokens is slowed down and cannot grow the (never pruned) audit trail without bound."""

from __future__ import annotations

from collections import OrderedDict, deque

#: Failed logins one address may make per window before it is refused (429) for the rest.
LOGIN_FAILURES_MAX = 10
LOGIN_WINDOW_S = 60.0
#: Addresses remembered at most (the least recently failed go first).
ADDRESSES_MAX = 1024


class LoginThrottle:
    """Counts failed logins per address; ``allows`` says whether another try is let in."""

    def __init__(self, max_failures: int = LOGIN_FAILURES_MAX,
                 window_s: float = LOGIN_WINDOW_S, max_addresses: int = ADDRESSES_MAX) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_addresses = max_addresses
        self.refused = 0
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def allows(self, address: str, now: float) -> bool:
        """Whether ``address`` may try to log in at ``now`` (counts a refusal if not)."""
        times = self._failures.get(address)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if times is not None and len(times) >= self.max_failures:
            self.refused += 1
            return False
        return True

    def failed(self, address: str, now: float) -> None:
        """Note a failed login of ``address`` at ``now``."""
        times = self._failures.pop(address, None) or deque(maxlen=self.max_failures)
        times.append(now)
        self._failures[address] = times
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)
