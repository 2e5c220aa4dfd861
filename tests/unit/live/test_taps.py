"""Taps and routing, without sockets: routes, teardown, and what ends or fails a tap."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from edgeqa.ari.rest import AriHttpError
from edgeqa.live.call import LiveCall
from edgeqa.live.clock import CallClock
from edgeqa.live.router import TapRouter
from edgeqa.live.taps import CallTaps, TapError, rtp_source
from edgeqa.media.rtp import PT_SLIN16, RtpPacket
from edgeqa.store import Event as StreamEvent

CLOCK = CallClock(answered_at=1000.0, loop_minus_wall_s=-900.0)


def _call(call_id: str = "c", sink: list[StreamEvent] | None = None) -> LiveCall:
    out: list[StreamEvent] = [] if sink is None else sink
    return LiveCall(call_id, CLOCK, out.extend)


def _pkt(seq: int, ts: int) -> RtpPacket:
    return RtpPacket(PT_SLIN16, False, seq, ts, 7, (), None, bytes(640))


def test_router_limits_and_unknown_sources() -> None:
    router = TapRouter(max_routes=2)
    call = _call()
    assert router.add("127.0.0.1", 1, "slin16", call, "customer") == 0
    with pytest.raises(ValueError, match="already routed"):
        router.add("127.0.0.1", 1, "slin16", call, "agent")
    with pytest.raises(ValueError, match="already has an input"):
        router.add("127.0.0.1", 4, "slin16", call, "customer")
    with pytest.raises(ValueError):
        router.add("not-an-address", 4, "slin16", call, "agent")
    router.add(b"\x7f\x00\x00\x01", 2, "slin16", call, "agent")
    with pytest.raises(OverflowError):
        router.add("127.0.0.1", 3, "slin16", _call("d"), "agent")
    assert router.routes(call) == {("127.0.0.1", 1): "customer", ("127.0.0.1", 2): "agent"}
    router.on_packet(_pkt(1, 0), ("127.0.0.1", 9), 101.0)
    router.on_packet(_pkt(1, 0), ("127.0.0.2", 2), 101.0)  # the right port, not the host
    assert router.stats.unrouted == 2 and router.stats.routed == 0
    router.on_packet(_pkt(1, 0), ("127.0.0.1", 2), 101.0)
    assert router.stats.routed == 1 and call.leg_stats("agent")["packets"] == 1
    router.remove_call(call)  # what the slot held is analysed, then the slot is closed
    assert router.routes(call) == {} and call.inputs == {}
    assert call.heard_to_s == pytest.approx(1.0) and router.engine.stats()["legs"] == 0
    router.add("127.0.0.1", 1, "slin16", _call("e"), "customer")  # the key is free again


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
        self.channelvars = False  # True: externalMedia answers as a real Asterisk does

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
        if self.channelvars:
            return {"id": ident, "channelvars": {"UNICASTRTP_LOCAL_ADDRESS": "127.0.0.1",
                                                 "UNICASTRTP_LOCAL_PORT": str(20000 + self._n)}}
        return {"id": ident}

    async def get_variable(self, channel_id: str, variable: str) -> str:
        return "(ulaw)"  # CHANNEL(audionativeformat) of a µ-law phone

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.calls.append(("hangup", channel_id))
        raise AriHttpError(404, "Channel not found", "DELETE", f"/channels/{channel_id}")

    async def delete_bridge(self, bridge_id: str) -> None:
        self.calls.append(("delete_bridge", bridge_id))


async def test_a_failed_tap_tears_down_what_it_made() -> None:
    ari = FakeAri()
    call = _call("c9")
    taps = CallTaps(ari, TapRouter(), ("127.0.0.1", 16960), call,  # type: ignore[arg-type]
                    {"customer": "chan-c", "agent": "chan-a"})
    with pytest.raises(TapError, match="c9 failed: externalMedia channel id3 has no channelvars"):
        await taps.start()
    assert ari.calls == [
        ("create_bridge", "id1"), ("snoop in", "chan-c"), ("add", "id2"),
        ("external_media", "127.0.0.1:16960 slin16"),
        ("hangup", "id3"), ("hangup", "id2"), ("delete_bridge", "id1")]
    await taps.close()
    assert len(ari.calls) == 7  # idempotent: nothing torn down twice


def test_a_leg_gone_ends_the_call_and_a_helper_gone_fails_the_tap() -> None:
    taps = CallTaps(FakeAri(), TapRouter(),  # type: ignore[arg-type]
                    ("127.0.0.1", 1), _call(), {"customer": "C", "agent": "A"})
    taps.taps["agent"].snoop_id = "S"
    body: Mapping[str, Any] = {"type": "ChannelVarset", "channel": {"id": "A"}}
    taps.handle_event(body)
    taps.handle_event({"type": "ChannelDestroyed", "channel": {"id": "other"}})
    assert not taps.ended.is_set() and not taps.failed.is_set()
    taps.handle_event({"type": "StasisEnd", "channel": {"id": "S"}})
    assert taps.failed.is_set() and not taps.ended.is_set()
    taps.handle_event({"type": "ChannelDestroyed", "channel": {"id": "A"}})
    assert taps.ended.is_set()


async def test_a_failed_tap_is_a_gap_then_tapped_again() -> None:
    """The snoop goes away while the call is up: a tap_failed gap from then, and new taps."""
    ari = FakeAri()
    ari.channelvars = True
    call = _call("c1")
    taps = CallTaps(ari, TapRouter(), ("127.0.0.1", 1), call,  # type: ignore[arg-type]
                    {"customer": "C", "agent": "A"})
    await taps.start()
    old_snoop = taps.taps["customer"].snoop_id
    loop_now = 102.0  # call time 2.0 s
    runner = asyncio.create_task(taps.run(lambda: loop_now, tick_s=0.01))
    await asyncio.sleep(0.05)
    taps.handle_event({"type": "ChannelDestroyed", "channel": {"id": old_snoop}})
    for _ in range(300):  # the grace period (1 s) for the call's own end, then the re-tap
        await asyncio.sleep(0.01)
        if taps.retaps and taps.taps["agent"].media_id is not None:
            break
    assert taps.retaps == 1 and call.gap == "tap_failed"
    assert taps.taps["customer"].snoop_id not in (None, old_snoop)
    taps.end()
    await runner
    await taps.close()
    assert [c[1] for c in ari.calls if c[0] == "snoop in"] == ["C", "A", "C", "A"]
    call.finish(3.0)
    assert call.summary is not None
    assert call.summary["gaps"] == [{"start": 2.0, "end": 3.0, "reason": "tap_failed"}]


async def test_a_g711_leg_tapped_as_slin_is_judged_against_its_law() -> None:
    """The snoop gives resampled slin16, which no longer shows µ-law in its samples: the
    channel's codec sets the clip level (metrics.md, codec_max); the call's format stays."""
    ari = FakeAri()
    ari.channelvars = True
    call = _call("c1")
    taps = CallTaps(ari, TapRouter(), ("127.0.0.1", 16960), call,  # type: ignore[arg-type]
                    {"customer": "chan-c", "agent": "chan-a"})
    await taps.start()
    assert {la.codec_max for la in call.analyzer.legs.values()} == {32124}
    assert call.analyzer.codec == "pcm16"
    await taps.close()
