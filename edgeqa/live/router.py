"""Routing of tapped legs' RTP to live calls: one ingest-engine slot per (host, port) key.

The router owns the ingest engine (edgeqa.media.engine) that the receive paths feed: the UDP
receiver (externalMedia: a datagram's KEY is its source address) and a capture tap (its KEY is
the destination, the switch's own RTP address of the leg). ``add`` opens a slot for a key and
attaches it to a (LiveCall, leg); the call takes the slot's placed audio at its ticks.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from edgeqa.live.call import LiveCall
from edgeqa.media import engine
from edgeqa.media.ingest import Ingest
from edgeqa.media.jitter import DEFAULT_DEPTH_PACKETS
from edgeqa.media.rtp import RtpPacket, build_rtp
from edgeqa.media.timeline import WireCodec
from edgeqa.metrics.events import Leg

log = logging.getLogger(__name__)

Address = tuple[str, int]
#: Tapped legs at once: 500 calls x 2 legs.
MAX_ROUTES = 1000


@dataclass(frozen=True, slots=True)
class RouterStats:
    """Counters (a snapshot of the engine's)."""

    routed: int = 0
    unrouted: int = 0


def packed_host(host: bytes | str) -> bytes:
    """An address as the engine keys it: 4 or 16 packed bytes, b"" for any ("" too)."""
    if isinstance(host, bytes):
        return host
    return ipaddress.ip_address(host).packed if host else b""


class TapRouter:
    """Maps each tapped leg's RTP key (host, port) to an engine slot and its (LiveCall, leg)."""

    def __init__(self, max_routes: int = MAX_ROUTES,
                 depth_packets: int = DEFAULT_DEPTH_PACKETS,
                 ingest: Ingest | None = None) -> None:
        self.max_routes = max_routes
        self.engine: Ingest = ingest if ingest is not None else engine.Ingest(
            max_routes, depth_packets)
        #: slot -> (call, leg, its key as an address)
        self._slots: dict[int, tuple[LiveCall, Leg, Address]] = {}

    @property
    def stats(self) -> RouterStats:
        counts = self.engine.stats()
        return RouterStats(counts["routed"], counts["unrouted"])

    def add(self, host: bytes | str, port: int, codec: WireCodec, call: LiveCall,
            leg: Leg) -> int:
        """Route RTP keyed (host, port) to ``call``'s ``leg``; return its slot.

        Raise ValueError if the key's port is taken (IngestError) or the host is not an
        address, OverflowError if max_routes legs are routed.
        """
        if len(self._slots) >= self.max_routes:
            raise OverflowError(f"{self.max_routes} RTP routes in use")
        packed = packed_host(host)
        slot = self.engine.open_leg(packed, port, codec, call.clock_offset_s)
        try:
            call.attach(leg, self.engine, slot)
        except ValueError:
            self.engine.close_leg(slot)
            raise
        name = str(ipaddress.ip_address(packed)) if packed else ""
        self._slots[slot] = (call, leg, (name, port))
        return slot

    def remove_call(self, call: LiveCall) -> None:
        """Forget every route of ``call`` (idempotent); what its slots held is analysed."""
        for slot in [s for s, (c, _, _) in self._slots.items() if c is call]:
            _, leg, _ = self._slots.pop(slot)
            call.detach(leg)
            self.engine.close_leg(slot)

    def routes(self, call: LiveCall) -> dict[Address, Leg]:
        """Return the keys routed to ``call`` and their legs."""
        return {key: leg for c, leg, key in self._slots.values() if c is call}

    def on_packet(self, packet: RtpPacket, source: Address, now_s: float) -> None:
        """Feed one parsed packet from ``source`` (read at loop time ``now_s``) to the engine
        (the calls take it at their next tick)."""
        self.engine.feed(build_rtp(packet), packed_host(source[0]), source[1], now_s)

    def on_batch(self, batch: Sequence[tuple[RtpPacket, Address]], now_s: float) -> None:
        """on_packet for each packet of a batch read at ``now_s``."""
        for packet, source in batch:
            self.on_packet(packet, source, now_s)
