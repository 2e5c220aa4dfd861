"""Thin asyncio UDP adapter: drain the socket per wake-up, size guard, parse, hand on a batch.

The loop calls ``_on_readable`` when the non-blocking socket has datagrams; it reads them with
``recvfrom_into`` into one preallocated buffer, at most MAX_DATAGRAMS_PER_WAKEUP of them (so
one busy socket cannot starve the loop: the rest wait for the next turn), parses each, and
hands the whole batch on in one call with one clock reading.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence

from edgeqa.media.rtp import MAX_DATAGRAM_BYTES, RtpError, RtpPacket, parse_rtp

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
#: Bad packets are logged on the first one, then once per this many.
LOG_BAD_EVERY = 1000
#: The kernel receive buffer asked for (capped at net.core.rmem_max): what rides out the
#: loop's other work. bench_ingest at 1,000 legs (50,000 packets/s) lost 0.2-0.7 % with
#: 1 MiB, in bursts, at 70 % of a core, and nothing with 4 MiB.
RECEIVE_BUFFER_BYTES = 1 << 22
#: Datagrams read per wake-up at most: 2,000 legs at 50 packets/s give 100 per ms.
MAX_DATAGRAMS_PER_WAKEUP = 256

Address = tuple[str, int]
#: (packet, its source) in arrival order, and the loop time they were read at.
Batch = Sequence[tuple[RtpPacket, Address]]
BatchSink = Callable[[Batch, float], None]


class ReceiverStats:
    """Counters (mutable, read by health reports)."""

    __slots__ = (
        "datagrams",
        "full_wakeups",
        "malformed",
        "packets",
        "sink_errors",
        "too_large",
        "wakeups",
    )

    def __init__(self) -> None:
        self.datagrams = 0
        self.packets = 0
        self.too_large = 0
        self.malformed = 0
        self.sink_errors = 0
        #: Wake-ups that read anything, and those that stopped at MAX_DATAGRAMS_PER_WAKEUP.
        self.wakeups = 0
        self.full_wakeups = 0


class RtpReceiver:
    """Parses datagrams and calls ``sink(batch, now)``; never raises out of the loop."""

    def __init__(self, sink: BatchSink, clock: Callable[[], float], *,
                 max_datagram_bytes: int = MAX_DATAGRAM_BYTES,
                 log_bad_every: int = LOG_BAD_EVERY,
                 max_per_wakeup: int = MAX_DATAGRAMS_PER_WAKEUP) -> None:
        self._sink = sink
        self._clock = clock
        self.max_datagram_bytes = max_datagram_bytes
        self.log_bad_every = log_bad_every
        self.max_per_wakeup = max_per_wakeup
        self.stats = ReceiverStats()
        #: The (host, port) the socket is bound to (set by open_receiver).
        self.local_address: Address = ("", 0)
        self._sock: socket.socket | None = None
        self._v6 = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # One byte more than accepted: a datagram that fills it was too large (truncated).
        self._buf = bytearray(max_datagram_bytes + 1)
        self._view = memoryview(self._buf)

    def attach(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        """Read ``sock`` (bound, non-blocking) on ``loop`` from now on."""
        self._sock, self._loop = sock, loop
        self._v6 = sock.family == socket.AF_INET6
        host, port = sock.getsockname()[:2]
        self.local_address = (str(host), int(port))
        loop.add_reader(sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        recv, view = sock.recvfrom_into, self._view
        batch: list[tuple[RtpPacket, Address]] = []
        n = 0
        try:
            while n < self.max_per_wakeup:
                size, addr = recv(self._buf)
                n += 1
                if self._v6:  # (host, port, flowinfo, scope_id)
                    addr = addr[:2]
                self._parse(view[:size], addr, batch)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:  # e.g. ICMP errors reported on the socket
            self.error_received(exc)
        if n == 0:
            return
        self.stats.wakeups += 1
        if n >= self.max_per_wakeup:
            self.stats.full_wakeups += 1
        self._hand_on(batch)

    def _parse(self, data: bytes | memoryview, addr: Address,
               batch: list[tuple[RtpPacket, Address]]) -> None:
        self.stats.datagrams += 1
        size = len(data)
        if size > self.max_datagram_bytes:
            self.stats.too_large += 1
            self._bad("too_large", size, addr)
            return
        try:
            packet = parse_rtp(data, self.max_datagram_bytes)
        except RtpError as exc:
            self.stats.malformed += 1
            self._bad(exc.reason, size, addr)
            return
        self.stats.packets += 1
        batch.append((packet, addr))

    def _hand_on(self, batch: list[tuple[RtpPacket, Address]]) -> None:
        if not batch:
            return
        try:
            self._sink(batch, self._clock())
        except Exception:
            self.stats.sink_errors += 1
            if self.stats.sink_errors % self.log_bad_every == 1:
                log.exception("RTP sink failed (%d so far)", self.stats.sink_errors)

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        """Take one datagram as a batch of one (the socket-free path of the tests)."""
        batch: list[tuple[RtpPacket, Address]] = []
        self._parse(data, (str(addr[0]), int(addr[1])), batch)
        self._hand_on(batch)

    def _bad(self, reason: str, size: int, addr: Address) -> None:
        bad = self.stats.too_large + self.stats.malformed
        if bad % self.log_bad_every == 1:
            log.warning("RTP datagram dropped (%s, %d bytes from %s:%s); %d bad so far",
                        reason, size, addr[0], addr[1], bad)

    def error_received(self, exc: Exception) -> None:
        log.warning("RTP socket error: %r", exc)

    def close(self) -> None:
        """Stop reading and close the socket (idempotent)."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
        sock.close()


async def open_receiver(sink: BatchSink, port: int, *, host: str = LOOPBACK,
                        max_datagram_bytes: int = MAX_DATAGRAM_BYTES,
                        max_per_wakeup: int = MAX_DATAGRAMS_PER_WAKEUP) -> RtpReceiver:
    """Bind a UDP socket on loopback ``host:port`` (0 = any free) and read it on this loop."""
    if not host.startswith("127.") and host != "::1":
        raise ValueError(f"RTP receiver must bind a loopback address, not {host!r}")
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    receiver = RtpReceiver(sink, loop.time, max_datagram_bytes=max_datagram_bytes,
                           max_per_wakeup=max_per_wakeup)
    receiver.attach(sock, loop)
    return receiver
