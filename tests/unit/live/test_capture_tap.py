"""The capture tap without a ring: leg resolution from ARI's answers, each leg a slot of the
real ingest engine attached to its LiveCall, re-resolution, and the fallback to the snoop tap."""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Mapping
from typing import cast

import pytest

from edgeqa.ari.resources import AriResources
from edgeqa.ari.rest import AriConnectionError, AriHttpError
from edgeqa.live.call import LiveCall
from edgeqa.live.capture_tap import (
    VAR_DIRECT,
    VAR_FORMAT,
    VAR_SECURE,
    VAR_SRC,
    CallCapture,
    CaptureService,
    LegMedia,
    NotCapturable,
    leg_media,
    parse_address,
)
from edgeqa.live.clock import CallClock
from edgeqa.live.taps import TapError
from edgeqa.media import engine
from edgeqa.metrics.reference import ULAW_TABLE
from edgeqa.store import Event as StreamEvent

RANGE = (10000, 20000)
LOOPBACK = bytes([127, 0, 0, 1])


def _values(**over: str) -> dict[str, str]:
    values = {VAR_SRC: "127.0.0.1:10002", VAR_SECURE: "0", VAR_DIRECT: "(null)",
              VAR_FORMAT: "(ulaw)"}
    values.update({{"src": VAR_SRC, "secure": VAR_SECURE, "direct": VAR_DIRECT,
                    "fmt": VAR_FORMAT}[k]: v for k, v in over.items()})
    return values


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:10002") == (LOOPBACK, 10002)
    assert parse_address("0.0.0.0:10002") == (b"", 10002)
    assert parse_address("[::1]:10004") == (bytes(15) + b"\x01", 10004)
    assert parse_address("[::]:10004") == (b"", 10004)
    for bad in ("", "(null)", "127.0.0.1", "host:10", "1.2.3.4:0", "1.2.3.4:70000"):
        with pytest.raises(NotCapturable):
            parse_address(bad)


def test_leg_media_and_every_reason_it_cannot_be_captured() -> None:
    assert leg_media(_values(), RANGE) == LegMedia(LOOPBACK, 10002, "ulaw")
    assert leg_media(_values(fmt="(alaw)"), RANGE).codec == "alaw"
    assert leg_media(_values(direct="0.0.0.0:0"), RANGE).port == 10002
    for over, reason in [({"secure": "1"}, "SRTP"),
                         ({"direct": "192.0.2.7:4000"}, "direct media to 192.0.2.7:4000"),
                         ({"fmt": "(g722)"}, "codec is 'g722'"),
                         ({"fmt": "(ulaw|alaw)"}, "codec is 'ulaw|alaw'"),
                         ({"fmt": ""}, "codec is 'unknown'"),
                         ({"src": "127.0.0.1:9000"}, "outside the captured range 10000-20000")]:
        with pytest.raises(NotCapturable, match=reason.replace("|", r"\|")):
            leg_media(_values(**over), RANGE)


class FakeAri:
    """ARI answering CHANNEL(...) reads from a table (an HTTP 500 for a missing one)."""

    def __init__(self, legs: Mapping[str, Mapping[str, str]]) -> None:
        self.legs = {k: dict(v) for k, v in legs.items()}
        self.reads = 0

    async def get_variable(self, channel_id: str, variable: str) -> str:
        self.reads += 1
        value = self.legs.get(channel_id, {}).get(variable)
        if value is None:
            raise AriHttpError(500, "Unable to read provided function", "GET", "/variable")
        return value


def _ari(customer_port: int = 10002, agent_port: int = 10004, **over: str) -> FakeAri:
    return FakeAri({"C": _values(src=f"127.0.0.1:{customer_port}", **over),
                    "A": _values(src=f"127.0.0.1:{agent_port}")})


CLOCK = CallClock(answered_at=1000.0, loop_minus_wall_s=-900.0)  # call time = loop - 100


def _call(out: list[StreamEvent]) -> LiveCall:
    return LiveCall("c1", CLOCK, out.extend, codec="ulaw")


def _service() -> CaptureService:
    service = CaptureService(RANGE, max_legs=4, depth_packets=3)
    service.engine = engine.Ingest(4, 3)  # no ring: datagrams are fed to the engine directly
    return service


def _ulaw(value: float) -> int:
    return min(range(256), key=lambda b: abs(ULAW_TABLE[b] - value))


#: 20 ms of a 400 Hz tone at about -12 dBov, and of digital silence, in µ-law.
TONE = bytes(_ulaw(8000 * math.sin(2 * math.pi * 400 * i / 8000)) for i in range(160))
SILENCE = bytes([_ulaw(0)]) * 160


def _rtp(seq: int, tone: bool) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 7) + (TONE if tone else SILENCE)


def _feed(service: CaptureService, port: int, seq: int, loop_t: float, tone: bool) -> None:
    assert service.engine is not None
    service.engine.feed(_rtp(seq, tone), LOOPBACK, port, loop_t)


async def test_a_captured_call_gets_each_legs_audio_on_the_call_timeline() -> None:
    out: list[StreamEvent] = []
    service, call = _service(), _call(out)
    tap = CallCapture(cast(AriResources, _ari()), service, call, {"customer": "C", "agent": "A"},
                      loop_time=lambda: 100.0)
    await tap.start()
    assert tap.mode == "capture" and set(tap.slots) == {"customer", "agent"}
    assert tap.media["agent"] == LegMedia(LOOPBACK, 10004, "ulaw")
    # 3 s: the customer talks, the agent is silent; packets arrive on time (call time = t).
    for n in range(150):
        _feed(service, 10002, n, 100.0 + 0.02 * (n + 1), True)
        _feed(service, 10004, n, 100.0 + 0.02 * (n + 1), False)
        if n % 12 == 11:
            call.tick(100.0 + 0.02 * (n + 1))
    await tap.close()  # detached: what the slots hold is analysed
    call.finish(3.0)
    summary = next(e for e in out if e.type == "call.summary").data["summary"]
    customer, agent = summary["legs"]["customer"], summary["legs"]["agent"]
    assert customer["samples"] == agent["samples"] == 3 * 8000  # 8 kHz, the whole 3 s
    assert customer["active_s"] >= 2.9 and abs(customer["active_level_dbov"] + 15.3) < 0.5
    assert agent["active_s"] == 0.0
    assert service.engine is not None and service.engine.stats()["legs"] == 0  # slots freed


async def test_pause_drops_the_legs_datagrams_and_unpause_reanchors() -> None:
    out: list[StreamEvent] = []
    service, call = _service(), _call(out)
    tap = CallCapture(cast(AriResources, _ari()), service, call, {"customer": "C", "agent": "A"},
                      loop_time=lambda: 100.0)
    await tap.start()
    assert service.engine is not None
    call.pause(0.5)
    call.tick(100.5)
    _feed(service, 10002, 1, 100.52, True)
    assert service.engine.stats()["paused_dropped"] == 1 and call.packets_paused == 1
    call.unpause(1.0)
    call.tick(101.0)
    assert service.engine.leg_stats(tap.slots["customer"])["paused"] == 0
    # Moved media while paused: the new slots are attached paused.
    call.pause(1.5)
    await tap._reresolve(105.0)
    assert service.engine.leg_stats(tap.slots["customer"])["paused"] == 1
    await tap.close()


async def test_not_capturable_goes_over_to_the_snoop_tap_or_fails_with_the_reason() -> None:
    class Snoop:
        def __init__(self) -> None:
            self.started = False
            self.ended = asyncio.Event()
            self.ended_at: float | None = None
            self.taps = {"customer": "tap"}

        async def start(self) -> None:
            self.started = True

        def end(self, at: float | None = None) -> None:
            self.ended.set()

        async def close(self) -> None:
            pass

    snoop = Snoop()
    service = _service()
    srtp = cast(AriResources, _ari(secure="1"))
    tap = CallCapture(srtp, service, _call([]), {"customer": "C", "agent": "A"},
                      fallback=lambda: snoop, loop_time=lambda: 100.0)
    await tap.start()
    assert tap.mode == "snoop" and snoop.started and tap.slots == {}
    assert tap.taps == {"customer": "tap"}
    tap.end(5.0)
    assert snoop.ended.is_set()
    strict = CallCapture(srtp, service, _call([]), {"customer": "C", "agent": "A"},
                         loop_time=lambda: 100.0)
    with pytest.raises(TapError, match="customer leg: its media is SRTP"):
        await strict.start()
    not_pjsip = CallCapture(cast(AriResources, FakeAri({})), service, _call([]),
                            {"customer": "C", "agent": "A"}, loop_time=lambda: 100.0)
    with pytest.raises(TapError, match=r"CHANNEL\(rtp,src\) of channel C"):
        await not_pjsip.start()


async def test_moved_media_is_found_again_and_an_unseen_one_is_a_gap() -> None:
    out: list[StreamEvent] = []
    service, call = _service(), _call(out)
    ari = _ari()
    now = [100.0]
    tap = CallCapture(cast(AriResources, ari), service, call, {"customer": "C", "agent": "A"},
                      loop_time=lambda: now[0])
    await tap.start()
    assert service.engine is not None
    reads = ari.reads
    # Packets flowing and no word from the tracker: nothing is asked again.
    for n in range(10):
        _feed(service, 10002, n, 100.0 + 0.02 * n, True)
        _feed(service, 10004, n, 100.0 + 0.02 * n, True)
    now[0] = 100.2
    assert not tap._due(now[0])
    # A re-INVITE moved the customer's media to another port: found at the next check.
    ari.legs["C"][VAR_SRC] = "127.0.0.1:10010"
    tap.media_may_have_moved()
    now[0] = 103.0
    assert tap._due(now[0])
    await tap._reresolve(now[0])
    assert ari.reads > reads and tap.media["customer"].port == 10010
    # Then to SRTP: capture cannot see it; no fallback: the call's audio is a gap from now.
    ari.legs["C"][VAR_SECURE] = "1"
    now[0] = 110.0  # the customer leg has been quiet for > STALE_S
    assert tap._due(now[0])
    task = asyncio.create_task(tap._reresolve(now[0]))
    await asyncio.sleep(0.01)
    assert call.gap == "tap_failed" and tap.slots == {}
    tap.end()
    await task
    await tap.close()


class DownAri(FakeAri):
    """ARI that cannot be reached until ``up``."""

    def __init__(self, legs: Mapping[str, Mapping[str, str]]) -> None:
        super().__init__(legs)
        self.up = False

    async def get_variable(self, channel_id: str, variable: str) -> str:
        if not self.up:
            raise AriConnectionError("connection refused")
        return await super().get_variable(channel_id, variable)


async def test_after_a_pbx_outage_audio_counts_again_once_asterisk_confirms_the_legs() -> None:
    out: list[StreamEvent] = []
    service, call = _service(), _call(out)
    ari = DownAri(_ari().legs)
    ari.up = True
    now = [100.0]
    tap = CallCapture(cast(AriResources, ari), service, call, {"customer": "C", "agent": "A"},
                      loop_time=lambda: now[0])
    await tap.start()
    ari.up = False
    call.lose_audio(0.5, "pbx_outage")
    tap.link_down()
    # The phones go on sending to the dead switch: not the call's audio.
    for n in range(50):
        _feed(service, 10002, n, 100.5 + 0.02 * n, True)
    now[0] = 103.0
    call.tick(now[0])
    assert call.gap == "pbx_outage" and call.heard_to_s == 0.0 and tap._due(now[0])
    await tap._reresolve(now[0])  # unreachable: no fallback, asked again later
    assert tap.mode == "capture" and not tap.slots and call.gap == "pbx_outage"
    ari.up = True
    now[0] = 106.0
    await tap._reresolve(now[0])
    for n in range(50, 100):
        _feed(service, 10002, n, 106.0 + 0.02 * (n - 50), True)
    now[0] = 107.0
    call.tick(now[0])
    assert call.gap is None and call.heard_to_s >= 6.9
    await tap.close()
