"""Thin asyncio UDP adapter: size guard, parse, hand each RTP packet on with its source and time."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from edgeqa.media.rtp import MAX_DATAGRAM_BYTES, RtpError, RtpPacket, parse_rtp

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
#: Bad packets are logged on the first one, then once per this many.
LOG_BAD_EVERY = 1000
#: The kernel receive buffer asked for: 0.5 s of 50 calls x 2 legs of slin16 at 50 packets/s.
RECEIVE_BUFFER_BYTES = 1 << 20

Address = tuple[str, int]
PacketSink = Callable[[RtpPacket, Address, float], None]


@dataclass(slots=True)
class ReceiverStats:
    """Counters (mutable, read by health reports)."""

    datagrams: int = 0
    packets: int = 0
    too_large: int = 0
    malformed: int = 0
    sink_errors: int = 0


class RtpReceiver(asyncio.DatagramProtocol):
    """Parses datagrams and calls ``sink(packet, source, now)``; never raises out of the loop."""

    def __init__(self, sink: PacketSink, clock: Callable[[], float], *,
                 max_datagram_bytes: int = MAX_DATAGRAM_BYTES,
                 log_bad_every: int = LOG_BAD_EVERY) -> None:
        self._sink = sink
        self._clock = clock
        self.max_datagram_bytes = max_datagram_bytes
        self.log_bad_every = log_bad_every
        self.stats = ReceiverStats()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport (3.11).
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        self.stats.datagrams += 1
        if len(data) > self.max_datagram_bytes:
            self.stats.too_large += 1
            self._bad("too_large", len(data), addr)
            return
        try:
            packet = parse_rtp(data, self.max_datagram_bytes)
        except RtpError as exc:
            self.stats.malformed += 1
            self._bad(exc.reason, len(data), addr)
            return
        self.stats.packets += 1
        try:
            self._sink(packet, (str(addr[0]), int(addr[1])), self._clock())
        except Exception:
            self.stats.sink_errors += 1
            if self.stats.sink_errors % self.log_bad_every == 1:
                log.exception("RTP sink failed (%d so far)", self.stats.sink_errors)

    def _bad(self, reason: str, size: int, addr: tuple[str | bytes, int]) -> None:
        bad = self.stats.too_large + self.stats.malformed
        if bad % self.log_bad_every == 1:
            log.warning("RTP datagram dropped (%s, %d bytes from %s:%s); %d bad so far",
                         reason, size, addr[0], addr[1], bad)

    def error_received(self, exc: Exception) -> None:
        log.warning("RTP socket error: %r", exc)

    def close(self) -> None:
        """Close the socket (idempotent)."""
        if self.transport is not None:
            self.transport.close()

    @property
    def local_address(self) -> Address:
        """The (host, port) the socket is bound to."""
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)


async def open_receiver(sink: PacketSink, port: int, *, host: str = LOOPBACK,
                        max_datagram_bytes: int = MAX_DATAGRAM_BYTES) -> RtpReceiver:
    """Bind a UDP socket on loopback ``host:port`` (0 = any free) and return its protocol."""
    if not host.startswith("127.") and host != "::1":
        raise ValueError(f"RTP receiver must bind a loopback address, not {host!r}")
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: RtpReceiver(sink, loop.time, max_datagram_bytes=max_datagram_bytes),
        local_addr=(host, port))
    protocol.transport = transport  # connection_made() runs a loop turn later
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    return protocol
