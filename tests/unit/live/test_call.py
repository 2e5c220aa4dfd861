"""Live taps, pure parts: slin byte order, LegStream timeline, LiveCall == offline, routing."""

from __future__ import annotations

import itertools
import random
import sys
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from edgeqa.analyze.offline import CallAudio, load_pair, run_call
from edgeqa.ari.rest import AriHttpError
from edgeqa.live.call import LiveCall
from edgeqa.live.router import TapRouter
from edgeqa.live.taps import CallTaps, TapError, rtp_source
from edgeqa.media.rtp import PT_SLIN16, RtpPacket
from edgeqa.media.slin import be16_to_le
from edgeqa.media.timeline import MAX_AHEAD_S, LegStream
from edgeqa.metrics.events import CallSummary, MetricEvent, TalkOver

FRAME_BYTES = 640  # 20 ms of slin16


def _le_to_be(pcm: bytes) -> bytes:
    samples = array("h", pcm)
    if sys.byteorder == "little":
        samples.byteswap()
    return samples.tobytes()


def _pkt(seq: int, ts: int, payload: bytes = bytes(FRAME_BYTES), ssrc: int = 7,
         pt: int = PT_SLIN16) -> RtpPacket:
    return RtpPacket(pt, False, seq % 65536, ts % (1 << 32), ssrc, (), None, payload)


def test_be16_to_le() -> None:
    assert be16_to_le(b"\x01\x02\xff\xfe") == b"\x02\x01\xfe\xff"
    with pytest.raises(ValueError, match="3 bytes"):
        be16_to_le(b"abc")


def test_stream_anchors_on_arrival_and_follows_rtp_time() -> None:
    stream = LegStream()
    first = stream.push(_pkt(100, 320, b"\x00\x01" * 320), 1.03)
    assert [(a.t_s, a.pcm[:2], a.lost) for a in first] == [(1.0, b"\x01\x00", False)]
    # Later packets are placed by timestamp, whatever their arrival jitter.
    assert [a.t_s for a in stream.push(_pkt(101, 640), 1.09)] == [1.02]
    assert stream.push(_pkt(103, 1280), 1.10) == []  # 102 missing: held
    assert [a.t_s for a in stream.push(_pkt(102, 960), 1.11)] == [1.04, 1.06]


def test_stream_wraps_timestamp_and_sequence() -> None:
    stream = LegStream()
    ts0 = (1 << 32) - 640
    times = [a.t_s for i in range(4) for a in stream.push(_pkt(65534 + i, ts0 + 320 * i), 0.5)]
    assert times == [0.48, 0.5, 0.52, 0.54]


def test_stream_loss_is_placed_silence() -> None:
    stream = LegStream(depth_packets=2)
    out = [a for i in (0, 2, 3, 4) for a in stream.push(_pkt(i, 320 * i, b"\x01" * 640), 0.1)]
    assert [(a.t_s, a.lost) for a in out] == [(0.08, False), (0.1, True), (0.12, False),
                                               (0.14, False), (0.16, False)]
    assert out[1].pcm == bytes(FRAME_BYTES)


def test_stream_drops_foreign_payloads_and_reanchors() -> None:
    stream = LegStream()
    assert stream.push(_pkt(1, 0, pt=0), 1.0) == [] and stream.stats.wrong_payload_type == 1
    assert stream.push(_pkt(1, 0, b"abc"), 1.0) == [] and stream.stats.odd_payload == 1
    stream.push(_pkt(1, 0), 1.0)
    jump = int((MAX_AHEAD_S + 5) * 16000)
    assert [a.t_s for a in stream.push(_pkt(2, jump), 1.1)] == [1.08]
    assert stream.stats.reanchors == 1
    assert [a.t_s for a in stream.push(_pkt(9, 0, ssrc=8), 3.0)] == [2.98]
    assert stream.stats.ssrc_changes == 1


@pytest.fixture(scope="module")
def talk_over_16k(data_dir: Path) -> CallAudio:
    """The talk_over fixture raised to 16 kHz by sample repetition (what slin16 carries)."""
    calls = data_dir / "calls"
    audio = load_pair(calls / "talk_over.customer.wav", calls / "talk_over.agent.wav")

    def up(pcm: bytes) -> bytes:
        src = array("h", pcm)
        out = array("h", bytes(4 * len(src)))
        out[0::2] = src
        out[1::2] = src
        return out.tobytes()

    return CallAudio(up(audio.customer), up(audio.agent), 16000, "pcm16")


def test_live_call_equals_offline_under_reorder(talk_over_16k: CallAudio) -> None:
    offline = run_call(talk_over_16k)
    t0 = 1000.0
    events: list[MetricEvent] = []
    router = TapRouter(lambda call, evs: events.extend(evs))
    call = LiveCall("c1", t0)
    router.add(("127.0.0.1", 5000), call, "customer")
    router.add(("127.0.0.1", 5002), call, "agent")
    rng = random.Random(3)
    arrivals: list[tuple[float, tuple[str, int], RtpPacket]] = []
    for port, pcm, ssrc, seq0 in ((5000, talk_over_16k.customer, 11, 65000),
                                  (5002, talk_over_16k.agent, 22, 10)):
        for i in range(len(pcm) // FRAME_BYTES):
            payload = _le_to_be(pcm[i * FRAME_BYTES:(i + 1) * FRAME_BYTES])
            # The first packet anchors the timeline (its latency shifts it, rounded to 20 ms);
            # the jitter of the rest reorders some and must not move anything.
            sent = t0 + (i + 1) * 0.02 + (0.005 if i == 0 else rng.uniform(0.01, 0.05))
            arrivals.append((sent, ("127.0.0.1", port), _pkt(seq0 + i, 320 * i, payload, ssrc)))
    arrivals.sort(key=lambda item: item[0])
    late = sum(1 for a, b in itertools.pairwise(arrivals)
               if a[1] == b[1] and (b[2].sequence - a[2].sequence) % 65536 > 32768)
    assert late > 100  # the jitter really reordered packets
    for now, source, packet in arrivals:
        router.on_packet(packet, source, now)
    end = t0 + len(talk_over_16k.customer) / 32000
    published_live = [e for e in events if isinstance(e, TalkOver)]
    events += call.finish(end + 0.2)
    live = events[-1]
    assert isinstance(live, CallSummary)
    assert sum(s.jitter.stats.lost for s in call.streams.values()) == 0
    assert live.data["talk_over"] == offline["talk_over"]
    assert len(live.data["talk_over"]) == 3
    for leg in ("customer", "agent"):
        assert live.data["legs"][leg]["speech_segments"] == \
            offline["legs"][leg]["speech_segments"]
        assert live.data["legs"][leg]["active_level_dbov"] == pytest.approx(
            offline["legs"][leg]["active_level_dbov"], abs=0.01)
    # Every talk-over was published while the audio streamed in, not at finish().
    assert [(e.start_s, e.end_s) for e in published_live] == [
        (e["start"], e["end"]) for e in offline["talk_over"]]
    assert call.finish(end + 5) == [] and call.tick(end + 5) == []


def test_router_limits_and_unknown_sources() -> None:
    router = TapRouter(lambda call, evs: None, max_routes=2)
    call = LiveCall("c", 0.0)
    router.add(("127.0.0.1", 1), call, "customer")
    with pytest.raises(ValueError, match="already routed"):
        router.add(("127.0.0.1", 1), call, "agent")
    router.add(("127.0.0.1", 2), call, "agent")
    with pytest.raises(OverflowError):
        router.add(("127.0.0.1", 3), LiveCall("d", 0.0), "agent")
    router.on_packet(_pkt(1, 0), ("127.0.0.1", 9), 1.0)
    assert router.stats.unrouted == 1 and router.stats.routed == 0
    router.on_packet(_pkt(1, 0), ("127.0.0.1", 2), 1.0)
    assert router.stats.routed == 1 and call.streams["agent"].stats.packets == 1
    router.remove_call(call)
    assert router.routes(call) == {}


def test_rtp_source_from_channelvars() -> None:
    media = {"id": "m1", "channelvars": {"UNICASTRTP_LOCAL_ADDRESS": "127.0.0.1",
                                         "UNICASTRTP_LOCAL_PORT": "16140"}}
    assert rtp_source(media) == ("127.0.0.1", 16140)
    with pytest.raises(TapError, match="no channelvars"):
        rtp_source({"id": "m1"})
    with pytest.raises(TapError, match="local RTP address"):
        rtp_source({"id": "m1", "channelvars": {"UNICASTRTP_LOCAL_ADDRESS": "127.0.0.1"}})


class FakeAri:
    """A hand-written fake ARI (not a real Asterisk): it answers externalMedia without
    channelvars and 404s a hangup, two answers a real Asterisk cannot be made to give."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._n = 0

    def _id(self) -> str:
        self._n += 1
        return f"id{self._n}"

    async def create_bridge(self, bridge_type: str = "mixing", *, bridge_id: str | None = None,
                            name: str | None = None) -> dict[str, Any]:
        ident = self._id()
        self.calls.append(("create_bridge", ident))
        return {"id": ident}

    async def snoop(self, channel_id: str, *, spy: str = "in") -> dict[str, Any]:
        ident = self._id()
        self.calls.append((f"snoop {spy}", channel_id))
        return {"id": ident}

    async def add_channel_when_ready(self, bridge_id: str, channel_id: str,
                                     timeout_s: float) -> None:
        self.calls.append(("add", channel_id))

    async def external_media(self, external_host: str, *,
                             audio_format: str = "slin16") -> dict[str, Any]:
        ident = self._id()
        self.calls.append(("external_media", f"{external_host} {audio_format}"))
        return {"id": ident}

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.calls.append(("hangup", channel_id))
        raise AriHttpError(404, "Channel not found", "DELETE", f"/channels/{channel_id}")

    async def delete_bridge(self, bridge_id: str) -> None:
        self.calls.append(("delete_bridge", bridge_id))


async def test_a_failed_tap_tears_down_what_it_made() -> None:
    ari = FakeAri()
    router = TapRouter(lambda call, evs: None)
    call = LiveCall("c9", 0.0)
    taps = CallTaps(ari, router, ("127.0.0.1", 16960), call,  # type: ignore[arg-type]
                    {"customer": "chan-c", "agent": "chan-a"})
    with pytest.raises(TapError, match="c9 failed: externalMedia channel id3 has no channelvars"):
        await taps.start()
    assert ari.calls == [
        ("create_bridge", "id1"), ("snoop in", "chan-c"), ("add", "id2"),
        ("external_media", "127.0.0.1:16960 slin16"),
        ("hangup", "id3"), ("hangup", "id2"), ("delete_bridge", "id1")]
    assert await taps.close(5.0) != [] and call.finished
    assert len(ari.calls) == 7  # idempotent: nothing torn down twice


def test_end_of_call_is_seen_in_ari_events() -> None:
    taps = CallTaps(FakeAri(), TapRouter(lambda c, e: None),  # type: ignore[arg-type]
                    ("127.0.0.1", 1), LiveCall("c", 0.0), {"customer": "C", "agent": "A"})
    body: Mapping[str, Any] = {"type": "ChannelVarset", "channel": {"id": "A"}}
    taps.handle_event(body)
    taps.handle_event({"type": "ChannelDestroyed", "channel": {"id": "other"}})
    assert not taps.ended.is_set()
    taps.handle_event({"type": "ChannelDestroyed", "channel": {"id": "A"}})
    assert taps.ended.is_set()
