"""LiveCall: live equals offline on one clock; gaps (restart, outage, stop) are not silence."""

from __future__ import annotations

import itertools
import math
import random
import sys
from array import array
from pathlib import Path
from typing import Any

import pytest

from edgeqa.analyze.offline import CallAudio, load_pair, load_stereo, run_call
from edgeqa.analyze.wavfile import read_wav
from edgeqa.live.call import LiveCall
from edgeqa.live.clock import CallClock
from edgeqa.live.router import TapRouter
from edgeqa.media.rtp import PT_SLIN16, RtpPacket
from edgeqa.store import Event as StreamEvent
from edgeqa.store import schema_name
from tests.support.schemas import errors

FRAME_BYTES = 640  # 20 ms of slin16
#: Call time 0 is wall time 1000.0; the loop clock reads wall - 900 (so call time t is loop
#: time t + 100): a mix-up of the two clocks shows as a 100 s shift.
CLOCK = CallClock(answered_at=1000.0, loop_minus_wall_s=-900.0)
LOOP_0 = 100.0


def _le_to_be(pcm: bytes) -> bytes:
    samples = array("h", pcm)
    if sys.byteorder == "little":
        samples.byteswap()
    return samples.tobytes()


def _pkt(seq: int, ts: int, payload: bytes = bytes(FRAME_BYTES), ssrc: int = 7) -> RtpPacket:
    return RtpPacket(PT_SLIN16, False, seq % 65536, ts % (1 << 32), ssrc, (), None, payload)


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


class Sink:
    """Collects what a LiveCall publishes."""

    def __init__(self) -> None:
        self.events: list[StreamEvent] = []

    def __call__(self, events: list[StreamEvent]) -> None:
        self.events += events

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.events if e.type == type_]


def _play(call: LiveCall, audio: CallAudio, from_s: float, to_s: float, *,
          jitter: random.Random | None = None) -> None:
    """Send the audio of call time [from_s, to_s) of both legs, as it would arrive."""
    arrivals: list[tuple[float, str, RtpPacket]] = []
    first, last = round(from_s / 0.02), round(to_s / 0.02)
    for leg, pcm, ssrc in (("customer", audio.customer, 11), ("agent", audio.agent, 22)):
        for i in range(first, min(last, len(pcm) // FRAME_BYTES)):
            payload = _le_to_be(pcm[i * FRAME_BYTES:(i + 1) * FRAME_BYTES])
            late = 0.005 if i == first or jitter is None else jitter.uniform(0.01, 0.05)
            arrivals.append((LOOP_0 + (i + 1) * 0.02 + late, leg, _pkt(i, 320 * i, payload, ssrc)))
    arrivals.sort(key=lambda item: item[0])
    for now, leg, packet in arrivals:
        call.on_packet(leg, packet, now)  # type: ignore[arg-type]


def test_clock_converts_wall_and_loop_once() -> None:
    clock = CallClock.start(1000.0, wall_now=1003.0, loop_now=50.0)
    assert clock.from_wall(1004.5) == 4.5 and clock.from_loop(51.5) == 4.5
    assert clock.wall(4.5) == 1004.5


def test_live_call_equals_offline_under_reorder(talk_over_16k: CallAudio) -> None:
    offline = run_call(talk_over_16k)
    sink = Sink()
    router = TapRouter()
    call = LiveCall("c1", CLOCK, sink)
    router.add("127.0.0.1", 5000, "slin16", call, "customer")
    router.add("127.0.0.1", 5002, "slin16", call, "agent")
    rng = random.Random(3)
    arrivals: list[tuple[float, tuple[str, int], RtpPacket]] = []
    for port, pcm, ssrc, seq0 in ((5000, talk_over_16k.customer, 11, 65000),
                                  (5002, talk_over_16k.agent, 22, 10)):
        for i in range(len(pcm) // FRAME_BYTES):
            payload = _le_to_be(pcm[i * FRAME_BYTES:(i + 1) * FRAME_BYTES])
            # The first packet anchors the timeline (its latency shifts it, rounded to 20 ms);
            # the jitter of the rest reorders some and must not move anything.
            sent = LOOP_0 + (i + 1) * 0.02 + (0.005 if i == 0 else rng.uniform(0.01, 0.05))
            arrivals.append((sent, ("127.0.0.1", port), _pkt(seq0 + i, 320 * i, payload, ssrc)))
    arrivals.sort(key=lambda item: item[0])
    late = sum(1 for a, b in itertools.pairwise(arrivals)
               if a[1] == b[1] and (b[2].sequence - a[2].sequence) % 65536 > 32768)
    assert late > 100  # the jitter really reordered packets
    next_tick = LOOP_0 + 0.25
    for now, source, packet in arrivals:
        if now >= next_tick:  # the calls take their audio at the ticks
            call.tick(next_tick)
            next_tick += 0.25
        router.on_packet(packet, source, now)
    streamed_over = sink.of("call.talk_over")
    end_s = len(talk_over_16k.customer) / 32000
    call.finish(end_s + 0.2)
    (event,) = [e for e in sink.events if e.type == "call.summary"]
    assert event.at == pytest.approx(CLOCK.wall(event.data["summary"]["duration_s"]))
    live = event.data["summary"]
    assert event.data["partial"] is False and live["gaps"] == []
    assert sum(call.leg_stats(leg)["lost"] for leg in ("customer", "agent")) == 0
    assert live["talk_over"] == offline["talk_over"]
    assert len(live["talk_over"]) == 3
    for leg in ("customer", "agent"):
        assert live["legs"][leg]["speech_segments"] == offline["legs"][leg]["speech_segments"]
        assert live["legs"][leg]["active_level_dbov"] == pytest.approx(
            offline["legs"][leg]["active_level_dbov"], abs=0.01)
    # Every talk-over was published while the audio streamed in, not at finish(), at the
    # wall time it ended.
    assert [(e["start_s"], e["end_s"]) for e in streamed_over] == [
        (e["start"], e["end"]) for e in offline["talk_over"]]
    samples = [e for e in sink.events if e.type == "leg.sample"]
    assert samples[0].at == pytest.approx(CLOCK.wall(samples[0].data["t_s"] + 1.0))
    count = len(sink.events)
    call.finish(end_s + 5)
    call.tick(LOOP_0 + end_s + 5)
    assert len(sink.events) == count  # finished: nothing more


@pytest.mark.parametrize(("codec", "pt"), [("ulaw", 0), ("alaw", 8), ("slin", 118)])
def test_an_8khz_call_equals_offline(data_dir: Path, codec: str, pt: int) -> None:
    """G.711 (and 8 kHz slin) legs, as host capture carries them: analysed at 8 kHz with
    the codec's clip level, through the router's engine, ticked as the service does."""
    wav = read_wav(data_dir / "calls" / f"talk_over.{'wav' if codec == 'slin' else codec + '.wav'}")
    offline = run_call(load_stereo(data_dir / "calls" / f"talk_over.{codec}.wav")
                       if codec != "slin" else load_stereo(data_dir / "calls" / "talk_over.wav"))
    sink = Sink()
    router = TapRouter()
    call = LiveCall("c8", CLOCK, sink, codec=codec)  # type: ignore[arg-type]
    assert call.sample_rate == 8000 and call.analyzer.codec == (
        "pcm16" if codec == "slin" else codec)
    router.add("10.0.0.1", 7000, codec, call, "customer")  # type: ignore[arg-type]
    router.add("10.0.0.1", 7002, codec, call, "agent")  # type: ignore[arg-type]
    frame = 160 * (2 if codec == "slin" else 1)
    legs = [(7000, wav.channel(0), 11), (7002, wav.channel(1), 22)]
    n = len(legs[0][1]) // frame
    next_tick = LOOP_0 + 0.25
    for i in range(n):
        now = LOOP_0 + (i + 1) * 0.02 + 0.005
        if now >= next_tick:
            call.tick(next_tick)
            next_tick += 0.25
        for port, data, ssrc in legs:
            payload = data[i * frame:(i + 1) * frame]
            if codec == "slin":
                payload = _le_to_be(payload)
            router.on_packet(RtpPacket(pt, False, i, 160 * i, ssrc, (), None, payload),
                             ("10.0.0.1", port), now)
    call.finish(n * 0.02 + 0.2)
    (summary,) = sink.of("call.summary")
    live = summary["summary"]
    assert live["talk_over"] == offline["talk_over"] and len(live["talk_over"]) == 3
    for leg in ("customer", "agent"):
        assert live["legs"][leg]["speech_segments"] == offline["legs"][leg]["speech_segments"]
        assert live["legs"][leg]["active_level_dbov"] == pytest.approx(
            offline["legs"][leg]["active_level_dbov"], abs=0.01)
    assert len(sink.of("leg.sample")) >= 2 * (n // 50 - 1)  # ticked live, not at the end


def test_a_call_first_seen_late_starts_with_a_gap(talk_over_16k: CallAudio) -> None:
    """A daemon (re)started mid-call: call time is the answer's, the start is a gap."""
    sink = Sink()
    call = LiveCall("c1", CLOCK, sink, first_seen_s=6.0)
    for t in (6.0, 6.5, 7.0):
        call.tick(LOOP_0 + t)
    assert sink.events == []  # no audio yet, and none is silence
    _play(call, talk_over_16k, 6.3, 12.0)
    call.finish(12.0)
    samples = sorted({(e["t_s"], e["covered_s"]) for e in sink.of("leg.sample")})
    assert samples[:2] == [(6.3, 0.7), (7.0, 1.0)], samples  # the resumed second is partial
    (summary,) = sink.of("call.summary")
    assert summary["partial"] is True
    assert summary["summary"]["gaps"] == [{"start": 0.0, "end": 6.3, "reason": "daemon_restart"}]
    assert summary["summary"]["coverage"] == [[6.3, 12.0]]
    assert summary["summary"]["duration_s"] == 12.0


def test_checkpoint_then_resume_makes_one_summary(talk_over_16k: CallAudio) -> None:
    first = Sink()
    call = LiveCall("c1", CLOCK, first)
    _play(call, talk_over_16k, 0.0, 8.0)
    call.checkpoint(8.0, "daemon_restart")
    assert first.of("call.summary") == []
    (checkpoint,) = first.of("call.metrics_suspended")
    assert (checkpoint["t_s"], checkpoint["reason"], checkpoint["started_at"]) == \
        (8.0, "daemon_restart", 1000.0)
    assert checkpoint["summary"]["coverage"] == [[0.0, 8.0]]
    second = Sink()
    again = LiveCall("c1", CLOCK, second, first_seen_s=12.0, before=checkpoint["summary"])
    _play(again, talk_over_16k, 12.5, 20.0)
    again.finish(20.0)
    (summary,) = second.of("call.summary")
    assert summary["partial"] is True and summary["started_at"] == 1000.0
    s = summary["summary"]
    assert s["gaps"] == [{"start": 8.0, "end": 12.5, "reason": "daemon_restart"}]
    assert s["coverage"] == [[0.0, 8.0], [12.5, 20.0]] and s["duration_s"] == 20.0


def test_an_outage_is_a_gap_not_silence(talk_over_16k: CallAudio) -> None:
    sink = Sink()
    call = LiveCall("c1", CLOCK, sink)
    _play(call, talk_over_16k, 0.0, 3.0)
    call.suspend(3.0, "pbx_outage")
    before = len(sink.events)
    for i in range(40):  # 10 s of ticks: no audio, no samples, no dead air
        call.tick(LOOP_0 + 3.0 + i * 0.25)
    assert len(sink.events) == before
    call.finish(3.0)  # the call ended when the PBX went away
    (summary,) = sink.of("call.summary")
    assert summary["summary"]["duration_s"] == 3.0
    assert summary["summary"]["dead_air"] == [] and sink.of("call.dead_air") == []
    assert max(e["t_s"] for e in sink.of("leg.sample")) < 3.0


def test_a_silence_cut_by_a_stop_is_truncated_not_ended() -> None:
    sink = Sink()
    call = LiveCall("c1", CLOCK, sink)
    for i in range(1, 37):  # 9 s of ticks without audio: silence, an info alert at 5 s
        call.tick(LOOP_0 + i * 0.25)
    (ongoing,) = sink.of("call.dead_air")
    assert (ongoing["state"], ongoing["severity"], ongoing["end_s"]) == ("ongoing", "info", None)
    call.checkpoint(9.0, "daemon_restart")
    dead = sink.of("call.dead_air")
    assert [d["state"] for d in dead] == ["ongoing", "truncated"]
    assert (dead[1]["severity"], dead[1]["start_s"], dead[1]["end_s"]) == ("info", 0.0, 9.0)
    (checkpoint,) = sink.of("call.metrics_suspended")
    assert checkpoint["summary"]["dead_air"][0]["truncated"] is True


def test_hold_applies_at_the_tracker_events_time() -> None:
    sink = Sink()
    call = LiveCall("c1", CLOCK, sink)
    call.tick(LOOP_0 + 1.0)
    call.set_hold(True, CLOCK.wall(1.5))
    call.set_hold(False, CLOCK.wall(4.0))
    for i in range(1, 25):
        call.tick(LOOP_0 + i * 0.25)
    call.finish(6.0)
    (summary,) = sink.of("call.summary")
    assert summary["summary"]["hold"] == [{"start": 1.5, "end": 4.0, "duration_s": 2.5}]


def test_two_restarts_chain_their_checkpoints(talk_over_16k: CallAudio) -> None:
    runs: list[tuple[float, float]] = [(0.0, 6.0), (8.0, 14.0), (17.0, 22.0)]
    before: dict[str, Any] | None = None
    for i, (heard_from, heard_to) in enumerate(runs):
        sink = Sink()
        call = LiveCall("c1", CLOCK, sink, first_seen_s=heard_from, before=before)
        _play(call, talk_over_16k, heard_from, heard_to)
        if i < len(runs) - 1:
            call.checkpoint(heard_to, "daemon_restart")
            (checkpoint,) = sink.of("call.metrics_suspended")
            before = checkpoint["summary"]
        else:
            call.finish(heard_to)
    (summary,) = sink.of("call.summary")
    s = summary["summary"]
    assert s["coverage"] == [[0.0, 6.0], [8.0, 14.0], [17.0, 22.0]]
    assert [(g["start"], g["end"], g["reason"]) for g in s["gaps"]] == [
        (6.0, 8.0, "daemon_restart"), (14.0, 17.0, "daemon_restart")]
    assert s["covered_s"] == 17.0 and s["duration_s"] == 22.0


def _play_ticking(call: LiveCall, audio: CallAudio, from_s: float, to_s: float,
                  tick_s: float = 0.25) -> None:
    """As _play, with the service's ticks every ``tick_s`` (loop time) between the packets."""
    arrivals: list[tuple[float, str | None, RtpPacket | None]] = []
    first, last = round(from_s / 0.02), round(to_s / 0.02)
    for leg, pcm, ssrc in (("customer", audio.customer, 11), ("agent", audio.agent, 22)):
        for i in range(first, min(last, len(pcm) // FRAME_BYTES)):
            payload = _le_to_be(pcm[i * FRAME_BYTES:(i + 1) * FRAME_BYTES])
            arrivals.append((LOOP_0 + (i + 1) * 0.02 + 0.005, leg,
                             _pkt(i, 320 * i, payload, ssrc)))
    k = math.ceil(from_s / tick_s)
    while k * tick_s <= to_s + 1e-9:
        arrivals.append((LOOP_0 + k * tick_s, None, None))
        k += 1
    arrivals.sort(key=lambda item: item[0])
    for now, leg, packet in arrivals:
        if packet is None:
            call.tick(now)
        else:
            call.on_packet(leg, packet, now)  # type: ignore[arg-type]


def test_periodic_checkpoints_hold_what_was_heard_and_change_nothing(
        talk_over_16k: CallAudio) -> None:
    plain_sink, sink = Sink(), Sink()
    kept: list[tuple[float, dict[str, Any]]] = []
    plain = LiveCall("c1", CLOCK, plain_sink)
    call = LiveCall("c1", CLOCK, sink, on_checkpoint=lambda t, s: kept.append((t, s)),
                    checkpoint_every_s=5.0)
    for c in (plain, call):
        _play_ticking(c, talk_over_16k, 0.0, 22.0)
        c.finish(22.0)
    assert sink.events == plain_sink.events  # the final summary, and every event, unchanged
    covered = [t for t, _ in kept]
    # Each one accounts up to the audio heard by its tick (5, 10, 15, 20 s), none made up.
    assert len(covered) == 4 and covered == sorted(covered)
    for due, (t, summary) in zip((5.0, 10.0, 15.0, 20.0), kept, strict=True):
        assert due - 0.1 <= t <= due, (due, t)
        assert summary["duration_s"] == t and summary["coverage"] == [[0.0, t]]
        assert summary["gaps"] == [] and summary["partial"] is False
    # A daemon killed at 23 s: the next run resumes from the last checkpoint, one summary.
    last_t, last = kept[-1]
    after = Sink()
    again = LiveCall("c1", CLOCK, after, first_seen_s=26.0, before=last)
    _play_ticking(again, talk_over_16k, 26.5, 32.0)
    again.finish(32.0)
    (final,) = after.of("call.summary")
    s = final["summary"]
    assert s["coverage"] == [[0.0, last_t], [26.5, 32.0]]
    assert s["gaps"] == [{"start": last_t, "end": 26.5, "reason": "daemon_restart"}]
    assert s["talk_over"][:len(last["talk_over"])] == last["talk_over"]


def test_a_lost_link_is_a_gap_from_the_last_audio_received(talk_over_16k: CallAudio) -> None:
    sink = Sink()
    call = LiveCall("c1", CLOCK, sink)
    _play_ticking(call, talk_over_16k, 0.0, 3.0)
    assert call.heard_to_s <= 3.0
    call.lose_audio(3.2, "pbx_outage")  # noticed 200 ms after the audio stopped
    assert call.heard_to_s == pytest.approx(3.0)
    for i in range(1, 9):  # nothing more: no samples, no silence
        call.tick(LOOP_0 + 3.2 + i * 0.25)
    call.finish(3.2)
    (summary,) = sink.of("call.summary")
    s = summary["summary"]
    assert s["gaps"] == [{"start": 3.0, "end": 3.2, "reason": "pbx_outage"}]
    assert s["coverage"] == [[0.0, 3.0]]
    assert max(e["t_s"] + e["covered_s"] for e in sink.of("leg.sample")) == pytest.approx(3.0)
    # Noticed before the audio ends (never later than now): the gap starts at the notice.
    early = LiveCall("c2", CLOCK, Sink())
    _play_ticking(early, talk_over_16k, 0.0, 3.0)
    early.lose_audio(2.5, "pbx_outage")  # the analysis is already at 3.0: it starts there
    assert early.analyzer.suspended


def _paused_samples(sink: Sink) -> list[dict[str, Any]]:
    return [s for s in sink.of("leg.sample") if s["paused"]]


def test_a_pause_gates_the_taps_and_ticks_give_paused_samples(talk_over_16k: CallAudio) -> None:
    sink = Sink()
    call = LiveCall("c1", CLOCK, sink)
    _play_ticking(call, talk_over_16k, 0.0, 6.0)
    call.pause(6.0)
    call.pause(7.0)  # idempotent: the first pause holds
    _play_ticking(call, talk_over_16k, 6.0, 12.0)
    assert call.packets_paused == 2 * 300  # both legs' packets of [6, 12): dropped
    call.unpause(12.0)
    call.unpause(13.0)  # no pause open: nothing
    _play_ticking(call, talk_over_16k, 12.0, 18.0)
    call.finish(18.0)
    paused = _paused_samples(sink)
    assert sorted((s["leg"], s["t_s"], s["covered_s"]) for s in paused) == sorted(
        (leg, float(t), 1.0) for leg in ("customer", "agent") for t in range(6, 12))
    for event in sink.events:
        assert errors(dict(event.data), schema_name(event.type)) == [], event
        if event.type == "leg.sample" and event.data["paused"]:
            assert event.data["rms_dbov"] is None and event.data["level_dbov_1s"] is None
            assert event.at == CLOCK.wall(event.data["t_s"] + event.data["covered_s"])
    audio = [s for s in sink.of("leg.sample") if not s["paused"]]
    assert not [s for s in audio if s["t_s"] < 12.0 and s["t_s"] + s["covered_s"] > 6.0]
    (summary,) = sink.of("call.summary")
    assert summary["source"] == "live" and summary["partial"] is False
    s = summary["summary"]
    assert s["paused"] == [{"start": 6.0, "end": 12.0}] and s["gaps"] == []
    assert s["coverage"] == [[0.0, 6.0], [12.0, 18.0]] and s["paused_at_end"] is False
    # The same as the recorded legs analysed with the paused span.
    short = CallAudio(talk_over_16k.customer[:18 * 32000], talk_over_16k.agent[:18 * 32000],
                      16000, "pcm16")
    offline = run_call(short, paused=[(6.0, 12.0)])
    for leg in ("customer", "agent"):
        assert s["legs"][leg]["speech_segments"] == offline["legs"][leg]["speech_segments"]
    assert s["talk_over"] == offline["talk_over"] and s["paused"] == offline["paused"]


def test_a_checkpoint_during_a_pause_resumes_paused(talk_over_16k: CallAudio) -> None:
    first = Sink()
    kept: list[dict[str, Any]] = []
    call = LiveCall("c1", CLOCK, first, on_checkpoint=lambda t, s: kept.append(s),
                    checkpoint_every_s=5.0)
    _play_ticking(call, talk_over_16k, 0.0, 4.0)
    call.pause(4.0)
    _play_ticking(call, talk_over_16k, 4.0, 8.0)
    (periodic,) = kept  # the pause is checkpointed at the next tick (then every 5 s)
    assert periodic["paused_at_end"] is True and periodic["paused"] == [
        {"start": 4.0, "end": 4.0}] and periodic["duration_s"] == 4.0
    call.checkpoint(8.0, "daemon_restart")
    (checkpoint,) = first.of("call.metrics_suspended")
    before = checkpoint["summary"]
    assert before["paused"] == [{"start": 4.0, "end": 8.0}] and before["paused_at_end"] is True
    assert before["gaps"] == [] and before["partial"] is False
    second = Sink()
    again = LiveCall("c1", CLOCK, second, first_seen_s=11.0, before=before)
    assert again.paused
    _play_ticking(again, talk_over_16k, 11.5, 14.0)
    assert again.packets_paused > 0 and not again.analyzer.suspended
    assert {s["t_s"] for s in _paused_samples(second)} == {11.5, 12.0}  # then [13, 13.8]
    again.unpause(14.0)
    assert {s["t_s"] for s in _paused_samples(second)} == {11.5, 12.0, 13.0}
    _play_ticking(again, talk_over_16k, 14.0, 20.0)
    again.finish(20.0)
    (summary,) = second.of("call.summary")
    s = summary["summary"]
    assert s["paused"] == [{"start": 4.0, "end": 14.0}] and s["gaps"] == []
    assert summary["partial"] is False and s["coverage"] == [[0.0, 4.0], [14.0, 20.0]]
    assert s["covered_s"] == 10.0 and s["paused_s"] == 10.0


def test_a_tap_failing_during_a_pause_stops_its_samples_not_the_pause(
        talk_over_16k: CallAudio) -> None:
    sink = Sink()
    call = LiveCall("c1", CLOCK, sink)
    _play_ticking(call, talk_over_16k, 0.0, 3.0)
    call.pause(3.0)
    _play_ticking(call, talk_over_16k, 3.0, 5.0)
    call.suspend(5.0, "tap_failed")
    for i in range(1, 13):  # no samples while nothing listens
        call.tick(LOOP_0 + 5.0 + i * 0.25)
    _play_ticking(call, talk_over_16k, 8.0, 10.0)  # re-tapped: still paused
    call.unpause(10.0)
    _play_ticking(call, talk_over_16k, 10.0, 12.0)
    call.finish(12.0)
    assert sorted({s["t_s"] for s in _paused_samples(sink)}) == [3.0, 4.0, 8.0, 9.0]
    (summary,) = sink.of("call.summary")
    s = summary["summary"]
    assert s["paused"] == [{"start": 3.0, "end": 10.0}] and s["gaps"] == []
    assert summary["partial"] is False


def test_a_call_ending_while_paused() -> None:
    sink = Sink()
    call = LiveCall("c1", CLOCK, sink)
    call.pause(-1.0)  # before the answer: from call time 0
    for i in range(1, 13):
        call.tick(LOOP_0 + i * 0.25)
    call.finish(3.5)
    call.unpause(4.0)  # finished: nothing
    (summary,) = sink.of("call.summary")
    s = summary["summary"]
    assert s["paused"] == [{"start": 0.0, "end": 3.5}] and s["paused_at_end"] is True
    assert s["coverage"] == [] and s["covered_s"] == 0.0 and s["dead_air"] == []
    assert [(x["t_s"], x["covered_s"]) for x in sink.of("leg.sample")][-2:] == [(3.0, 0.5),
                                                                              (3.0, 0.5)]


def test_a_pause_and_its_end_are_checkpointed_at_the_next_tick() -> None:
    kept: list[tuple[float, dict[str, Any]]] = []
    call = LiveCall("c1", CLOCK, Sink(), on_checkpoint=lambda t, s: kept.append((t, s)),
                    checkpoint_every_s=5.0)
    for i in range(1, 9):
        call.tick(LOOP_0 + i * 0.25)
    assert kept == []
    call.pause(2.1)
    call.tick(LOOP_0 + 2.25)
    call.tick(LOOP_0 + 2.5)  # one checkpoint, not one a tick
    call.unpause(3.0)
    call.tick(LOOP_0 + 3.25)
    assert [(t, s["paused_at_end"]) for t, s in kept] == [
        (pytest.approx(2.25, abs=0.02), True), (pytest.approx(3.05, abs=0.02), False)]
    assert kept[0][1]["paused"] == [{"start": 2.1, "end": kept[0][0]}]
    assert kept[1][1]["paused"] == [{"start": 2.1, "end": 3.0}]


def test_a_sequence_jump_back_restarts_the_leg_and_its_audio_is_analysed() -> None:
    # Issue 9: after a jump back of 5,000 with the same SSRC, the 3,000 packets that followed
    # were dropped. Now the stream restarts there, counted, and its audio is heard in place.
    sink = Sink()
    call = LiveCall("c1", CLOCK, sink)
    tone = _le_to_be(b"\x00\x10\x00\xf0" * (FRAME_BYTES // 4))
    for i in range(100):
        now = LOOP_0 + (i + 1) * 0.02 + 0.005
        call.on_packet("customer", _pkt(10_000 + i, 320 * i, tone, 11), now)
        call.on_packet("agent", _pkt(i, 320 * i, tone, 22), now)
    for i in range(100, 3_100):
        now = LOOP_0 + (i + 1) * 0.02 + 0.005
        call.on_packet("customer", _pkt(5_000 + i, 320 * i, tone, 11), now)
        call.on_packet("agent", _pkt(i, 320 * i, tone, 22), now)
        if i % 12 == 0:
            call.tick(now)
    assert call.leg_stats("customer")["restarts"] == 1
    assert call.heard_to_s == pytest.approx(3_100 * 0.02)
    assert call.analyzer.legs["customer"].frames_dropped == 0
    call.finish(3_100 * 0.02)
    (summary,) = sink.of("call.summary")
    assert summary["summary"]["legs"]["customer"] == summary["summary"]["legs"]["agent"]
