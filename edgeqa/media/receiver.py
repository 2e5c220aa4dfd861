"""Thin asyncio UDP adapter: on each wake-up, the ingest engine drains the socket.

The loop calls ``_on_readable`` when the non-blocking socket has datagrams; the engine reads
them (recvmmsg in the compiled engine, a recvfrom_into loop in the reference), at most
MAX_DATAGRAMS_PER_WAKEUP of them (so one busy socket cannot starve the loop: the rest wait for
the next turn), with one clock reading, and routes, parses and places each in C. Nothing is
analysed here: the calls take their legs' audio at their ticks.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable

from edgeqa.media.ingest import Ingest

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
#: Engine failures (never expected: the engine counts bad input) logged once per this many.
LOG_BAD_EVERY = 1000
#: The kernel receive buffer asked for (capped at net.core.rmem_max): what rides out the
#: loop's other work. bench_ingest at 1,000 legs (50,000 packets/s) lost 0.2-0.7 % with
#: 1 MiB, in bursts, at 70 % of a core, and nothing with 4 MiB.
RECEIVE_BUFFER_BYTES = 1 << 22
#: Datagrams read per wake-up at most: 2,000 legs at 50 packets/s give 100 per ms.
MAX_DATAGRAMS_PER_WAKEUP = 256

Address = tuple[str, int]


class ReceiverStats:
    """Counters (mutable, read by health reports); the datagrams' own are the engine's."""

    __slots__ = ("datagrams", "errors", "full_wakeups", "wakeups")

    def __init__(self) -> None:
        self.datagrams = 0
        self.errors = 0
        #: Wake-ups that read anything, and those that stopped at MAX_DATAGRAMS_PER_WAKEUP.
        self.wakeups = 0
        self.full_wakeups = 0


class RtpReceiver:
    """Has ``ingest`` drain the socket at each wake-up; never raises out of the loop."""

    def __init__(self, ingest: Ingest, clock: Callable[[], float], *,
                 max_per_wakeup: int = MAX_DATAGRAMS_PER_WAKEUP,
                 log_bad_every: int = LOG_BAD_EVERY) -> None:
        self.ingest = ingest
        self._clock = clock
        self.max_per_wakeup = max_per_wakeup
        self.log_bad_every = log_bad_every
        self.stats = ReceiverStats()
        #: The (host, port) the socket is bound to (set by open_receiver).
        self.local_address: Address = ("", 0)
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        """Read ``sock`` (bound, non-blocking) on ``loop`` from now on."""
        self._sock, self._loop = sock, loop
        host, port = sock.getsockname()[:2]
        self.local_address = (str(host), int(port))
        loop.add_reader(sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            n = self.ingest.recv(sock.fileno(), self._clock(), self.max_per_wakeup)
        except Exception:
            self.stats.errors += 1
            if self.stats.errors % self.log_bad_every == 1:
                log.exception("RTP receive failed (%d so far)", self.stats.errors)
            return
        if n == 0:
            return
        self.stats.datagrams += n
        self.stats.wakeups += 1
        if n >= self.max_per_wakeup:
            self.stats.full_wakeups += 1

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        """Take one datagram (the socket-free path of the tests)."""
        host = addr[0]
        packed = host if isinstance(host, bytes) else ipaddress.ip_address(host).packed
        self.stats.datagrams += 1
        self.ingest.feed(data, packed, int(addr[1]), self._clock())

    def close(self) -> None:
        """Stop reading and close the socket (idempotent)."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
        sock.close()


async def open_receiver(ingest: Ingest, port: int, *, host: str = LOOPBACK,
                        max_per_wakeup: int = MAX_DATAGRAMS_PER_WAKEUP) -> RtpReceiver:
    """Bind a UDP socket on loopback ``host:port`` (0 = any free), drained into ``ingest``."""
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
    receiver = RtpReceiver(ingest, loop.time, max_per_wakeup=max_per_wakeup)
    receiver.attach(sock, loop)
    return receiver
