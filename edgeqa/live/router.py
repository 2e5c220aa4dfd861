"""Sans-I/O routing of received RTP to live calls by the sender's address (one per tapped leg)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from edgeqa.live.call import LiveCall
from edgeqa.media.rtp import RtpPacket
from edgeqa.metrics.events import Leg

log = logging.getLogger(__name__)

Address = tuple[str, int]
#: Tapped legs at once: 500 calls x 2 legs.
MAX_ROUTES = 1000
#: Unrouted packets are logged on the first one, then once per this many.
LOG_UNROUTED_EVERY = 1000


@dataclass(slots=True)
class RouterStats:
    """Counters (mutable)."""

    routed: int = 0
    unrouted: int = 0
    #: Packets whose call raised (logged once per LOG_UNROUTED_EVERY); the batch goes on.
    call_errors: int = 0


class TapRouter:
    """Maps each externalMedia channel's RTP source (host, port) to a (LiveCall, leg)."""

    def __init__(self, max_routes: int = MAX_ROUTES) -> None:
        self.max_routes = max_routes
        self.stats = RouterStats()
        self._routes: dict[Address, tuple[LiveCall, Leg]] = {}

    def add(self, source: Address, call: LiveCall, leg: Leg) -> None:
        """Route RTP from ``source`` to ``call``'s ``leg``; raise if full or taken."""
        if source in self._routes:
            raise ValueError(f"RTP source {source[0]}:{source[1]} is already routed")
        if len(self._routes) >= self.max_routes:
            raise OverflowError(f"{self.max_routes} RTP routes in use")
        self._routes[source] = (call, leg)

    def remove_call(self, call: LiveCall) -> None:
        """Forget every route of ``call`` (idempotent)."""
        for source in [s for s, (c, _) in self._routes.items() if c is call]:
            del self._routes[source]

    def routes(self, call: LiveCall) -> dict[Address, Leg]:
        """Return the sources routed to ``call`` and their legs."""
        return {s: leg for s, (c, leg) in self._routes.items() if c is call}

    def on_packet(self, packet: RtpPacket, source: Address, now_s: float) -> None:
        """Receiver sink: feed the packet to its call (which publishes what it completes)."""
        route = self._routes.get(source)
        if route is None:
            self.stats.unrouted += 1
            if self.stats.unrouted % LOG_UNROUTED_EVERY == 1:
                log.warning("RTP from unknown source %s:%d dropped (%d so far)",
                             source[0], source[1], self.stats.unrouted)
            return
        self.stats.routed += 1
        call, leg = route
        call.on_packet(leg, packet, now_s)

    def on_batch(self, batch: Sequence[tuple[RtpPacket, Address]], now_s: float) -> None:
        """Receiver sink: feed each packet of a batch read at ``now_s`` to its call.

        A call that raises costs its packet only: counted, logged, the batch goes on.
        """
        routes = self._routes
        for packet, source in batch:
            route = routes.get(source)
            if route is None:
                self.on_packet(packet, source, now_s)  # counts and logs it
                continue
            self.stats.routed += 1
            try:
                route[0].on_packet(route[1], packet, now_s)
            except Exception:
                self.stats.call_errors += 1
                if self.stats.call_errors % LOG_UNROUTED_EVERY == 1:
                    log.exception("RTP from %s:%d: its call failed (%d so far)",
                                  source[0], source[1], self.stats.call_errors)
