"""Sans-I/O per-leg RTP stream: reorder, place on the call timeline by RTP timestamp, as LE PCM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from edgeqa.media.jitter import DEFAULT_DEPTH_PACKETS, JitterBuffer, JitterFrame, JitterStats
from edgeqa.media.rtp import PT_SLIN16, RtpPacket
from edgeqa.media.slin import be16_to_le
from edgeqa.metrics import kernels

TS_MOD = 1 << 32
FRAME_S = 0.020
#: Audio placed further ahead of the clock than this, or further behind, means the stream's
#: timeline broke (a source restart, a bogus timestamp): the stream is re-anchored to the clock.
MAX_AHEAD_S = 1.0
MAX_BEHIND_S = 2.0


#: The wire format of a leg's RTP payload: slin16 / slin (big-endian int16 at 16 / 8 kHz),
#: G.711 u-law / A-law (8 kHz). Every one comes out as int16 LE PCM.
WireCodec = Literal["slin16", "slin", "ulaw", "alaw"]
WIRE_CODECS: tuple[WireCodec, ...] = ("slin16", "slin", "ulaw", "alaw")
CODEC_RATE: dict[WireCodec, int] = {"slin16": 16000, "slin": 8000, "ulaw": 8000, "alaw": 8000}
#: Each codec's payload type (RFC 3551 static types for G.711; Asterisk's 118 for slin16).
#: None: any (Asterisk gives 8 kHz slin a dynamic type).
CODEC_PT: dict[WireCodec, int | None] = {"slin16": PT_SLIN16, "slin": None, "ulaw": 0, "alaw": 8}
_DECODE: dict[WireCodec, Callable[[bytes], bytes]] = {
    "slin16": be16_to_le, "slin": be16_to_le,
    "ulaw": kernels.ulaw_decode, "alaw": kernels.alaw_decode}
#: One released frame before its time is rounded: call time (s), int16 LE PCM, lost.
RawPlaced = tuple[float, bytes, bool]


class PlacedAudio(NamedTuple):
    """Int16 LE PCM and the call time (s) of its first sample.

    (A NamedTuple: one is built per frame, and a tuple is the cheapest to build.)
    """

    t_s: float
    pcm: bytes
    lost: bool


@dataclass(slots=True)
class StreamStats:
    """Counters (mutable)."""

    packets: int = 0
    wrong_payload_type: int = 0
    odd_payload: int = 0
    reanchors: int = 0
    ssrc_changes: int = 0
    #: Sequence jumps of RESYNC_GAP_PACKETS or more, either way, with the same SSRC.
    restarts: int = 0


class LegStream:
    """One leg's RTP: push(packet, call_time_s) returns its audio placed on the timeline.

    The payload (``codec``: slin16 by default) is decoded to int16 LE PCM as it arrives, so
    the reorder buffer holds PCM and a lost frame is PCM silence whatever the codec.

    The first packet anchors RTP timestamp to call time: its audio ended when it arrived. So
    does the first packet of a restart: a new SSRC, or the same SSRC with a sequence number
    RESYNC_GAP_PACKETS or more from the one expected, ahead or behind (``restarts``; what the
    buffer held is released first, placed on the old anchor). A restart re-anchors whatever
    its timestamp says: one consistent with the jump would place it where its arrival does,
    within the jitter; one that is not would place it anywhere. Any timestamp that breaks
    the timeline (MAX_AHEAD_S, MAX_BEHIND_S) re-anchors too (``reanchors``). The call time
    between the audio before and after is filled as the analyzer's rules say (silence on the
    ticks, or a gap if the call is in one). ``stats`` may be shared by several streams.
    """

    def __init__(self, sample_rate: int = 16000, payload_type: int | None = PT_SLIN16,
                 depth_packets: int = DEFAULT_DEPTH_PACKETS,
                 stats: StreamStats | None = None, *, codec: WireCodec = "slin16",
                 jitter_stats: JitterStats | None = None) -> None:
        self.sample_rate = sample_rate
        #: None: any payload type.
        self.payload_type = payload_type
        self.depth_packets = depth_packets
        self.codec: WireCodec = codec
        self._decode = _DECODE[codec]
        self._odd_invalid = codec in ("slin16", "slin")
        self.stats = stats if stats is not None else StreamStats()
        #: The reorder counters of every JitterBuffer this stream had (one per anchor).
        self.jitter_stats = jitter_stats if jitter_stats is not None else JitterStats()
        self.jitter = JitterBuffer(depth_packets, self.jitter_stats)
        self.ssrc: int | None = None
        self._base_t = 0.0
        self._base_ts = 0
        self._last_ts = 0  # extended timestamp of the last placed frame
        self._last_t = 0.0
        self._last_len = 0

    def push(self, packet: RtpPacket, call_t_s: float) -> list[PlacedAudio]:
        """Add one packet that arrived at call time ``call_t_s``; return the audio released."""
        return [PlacedAudio(round(t_s, 6), pcm, lost)
                for t_s, pcm, lost in self.push_raw(packet, call_t_s)]

    def flush(self) -> list[PlacedAudio]:
        """Release what the reorder buffer still holds (end of the stream)."""
        return [PlacedAudio(round(t_s, 6), pcm, lost) for t_s, pcm, lost in self.flush_raw()]

    def push_raw(self, packet: RtpPacket, call_t_s: float) -> list[RawPlaced]:
        """push(), with each frame's call time not rounded (what the ingest engine merges)."""
        self.stats.packets += 1
        if self.payload_type is not None and packet.payload_type != self.payload_type:
            self.stats.wrong_payload_type += 1
            return []
        if self._odd_invalid and len(packet.payload) % 2:
            self.stats.odd_payload += 1
            return []
        pcm = self._decode(packet.payload)
        if packet.ssrc != self.ssrc:
            if self.ssrc is not None:
                self.stats.ssrc_changes += 1
            self._anchor(packet, len(pcm), call_t_s)
        elif self.jitter.jumps(packet.sequence):
            self.stats.restarts += 1
            before = self._out(self.jitter.flush())
            self._anchor(packet, len(pcm), call_t_s)
            return before + self._out(self.jitter.push(packet.sequence, packet.timestamp, pcm))
        elif not -MAX_BEHIND_S <= self._place(packet.timestamp) - call_t_s <= MAX_AHEAD_S:
            self.stats.reanchors += 1
            self._anchor(packet, len(pcm), call_t_s)
        return self._out(self.jitter.push(packet.sequence, packet.timestamp, pcm))

    def flush_raw(self) -> list[RawPlaced]:
        """flush(), with each frame's call time not rounded."""
        return self._out(self.jitter.flush())

    def _anchor(self, packet: RtpPacket, pcm_bytes: int, call_t_s: float) -> None:
        # What the old stream still held belongs to its broken timeline: dropped.
        self.jitter = JitterBuffer(self.depth_packets, self.jitter_stats)
        self.ssrc = packet.ssrc
        start = call_t_s - pcm_bytes / 2 / self.sample_rate
        self._base_t = max(0.0, round(start / FRAME_S) * FRAME_S)
        self._base_ts = packet.timestamp
        self._last_ts = packet.timestamp
        self._last_t = self._base_t
        self._last_len = 0

    def _unwrap(self, timestamp: int) -> int:
        delta = (timestamp - self._last_ts) % TS_MOD
        if delta >= TS_MOD // 2:
            delta -= TS_MOD
        return self._last_ts + delta

    def _place(self, timestamp: int) -> float:
        return self._base_t + (self._unwrap(timestamp) - self._base_ts) / self.sample_rate

    def _out(self, frames: list[JitterFrame]) -> list[RawPlaced]:
        placed: list[RawPlaced] = []
        for frame in frames:
            if frame.timestamp is None:
                t_s = self._last_t + self._last_len / 2 / self.sample_rate
            else:
                ext = self._unwrap(frame.timestamp)
                t_s = self._base_t + (ext - self._base_ts) / self.sample_rate
                self._last_ts = ext
            self._last_t, self._last_len = t_s, len(frame.payload)
            placed.append((t_s, frame.payload, frame.lost))
        return placed
