"""Sans-I/O reorder buffer keyed by RTP sequence number (16-bit wrap), loss filled with silence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

SEQ_MOD = 1 << 16
_HALF = SEQ_MOD // 2
#: Packets held while waiting for a missing one: 5 x 20 ms = 100 ms of added latency at most.
DEFAULT_DEPTH_PACKETS = 5
MAX_DEPTH_PACKETS = 512
#: A sequence this far from the one expected, ahead or behind (20 s of 20 ms packets), is a
#: new stream (a source restart with the same SSRC), not loss or a late packet: the buffer
#: re-anchors on it (JitterStats.resyncs). No late packet is this late: one is dropped as late
#: once it is more than the depth behind.
RESYNC_GAP_PACKETS = 1000


class JitterFrame(NamedTuple):
    """One released frame: the extended sequence, its RTP timestamp (None if lost), the payload.

    (A NamedTuple: one is built per frame, and a tuple is the cheapest to build.)
    """

    seq: int
    timestamp: int | None
    payload: bytes
    lost: bool


@dataclass(slots=True)
class JitterStats:
    """Counters (mutable, read by health reports)."""

    received: int = 0
    released: int = 0
    lost: int = 0
    late: int = 0
    duplicate: int = 0
    resyncs: int = 0


class JitterBuffer:
    """Releases payloads in sequence order; a gap still open when the buffer is full is loss.

    Lost packets come out as ``silence`` of the last payload's size, so the timeline holds.
    """

    def __init__(self, depth_packets: int = DEFAULT_DEPTH_PACKETS,
                 stats: JitterStats | None = None) -> None:
        if not 1 <= depth_packets <= MAX_DEPTH_PACKETS:
            raise ValueError(f"depth_packets {depth_packets} outside 1..{MAX_DEPTH_PACKETS}")
        self.depth_packets = depth_packets
        #: May be shared (a LegStream's buffers, one per anchor, count into one).
        self.stats = stats if stats is not None else JitterStats()
        self._next: int | None = None  # extended sequence expected next
        self._held: dict[int, tuple[int, bytes]] = {}
        self._frame_bytes = 0

    def _extend(self, seq: int) -> int:
        """Map a 16-bit sequence to the extended one nearest to the next expected."""
        assert self._next is not None
        delta = (seq - self._next) % SEQ_MOD
        if delta >= _HALF:
            delta -= SEQ_MOD
        return self._next + delta

    def jumps(self, seq: int) -> bool:
        """True if ``seq`` is RESYNC_GAP_PACKETS or more from the next expected, either way."""
        if self._next is None:
            return False
        return abs(self._extend(seq) - self._next) >= RESYNC_GAP_PACKETS

    def push(self, seq: int, timestamp: int, payload: bytes) -> list[JitterFrame]:
        """Add one packet; return the frames now released, in order."""
        if not 0 <= seq < SEQ_MOD:
            raise ValueError(f"sequence {seq} is not 16-bit")
        self.stats.received += 1
        if self._next is None:
            self._next = seq
        ext = self._extend(seq)
        if ext == self._next and not self._held:  # in order, nothing waiting: the common case
            self._next = ext + 1
            self._frame_bytes = len(payload)
            self.stats.released += 1
            return [JitterFrame(ext, timestamp, payload, False)]
        out: list[JitterFrame] = []
        if abs(ext - self._next) >= RESYNC_GAP_PACKETS:
            # A restart: what is held is released as is (no loss is made up across the jump).
            self.stats.resyncs += 1
            self._drain(out, fill=False)
            self._next = ext
        elif ext < self._next:
            self.stats.late += 1
            return out
        elif ext in self._held:
            self.stats.duplicate += 1
            return out
        self._held[ext] = (timestamp, payload)
        self._release(out)
        while len(self._held) > self.depth_packets:
            self._skip(out)
            self._release(out)
        return out

    def flush(self) -> list[JitterFrame]:
        """Release everything held, filling the gaps between (end of stream)."""
        out: list[JitterFrame] = []
        self._drain(out, fill=True)
        return out

    def _release(self, out: list[JitterFrame]) -> None:
        assert self._next is not None
        while self._next in self._held:
            timestamp, payload = self._held.pop(self._next)
            self._frame_bytes = len(payload)
            out.append(JitterFrame(self._next, timestamp, payload, False))
            self.stats.released += 1
            self._next += 1

    def _skip(self, out: list[JitterFrame]) -> None:
        """Give up on the missing packet at the head: emit silence in its place."""
        assert self._next is not None
        out.append(JitterFrame(self._next, None, bytes(self._frame_bytes), True))
        self.stats.lost += 1
        self._next += 1

    def _drain(self, out: list[JitterFrame], fill: bool) -> None:
        while self._held:
            if fill:
                self._release(out)
                if self._held:
                    self._skip(out)
            else:
                first = min(self._held)
                self._next = first
                self._release(out)
