"""The speech gates of issue 12 (tone, babble in leg_block; echo_gate across legs): what each
does, on each implementation, and the compiled kernels equal to the reference bit for bit."""

from __future__ import annotations

import math
from array import array
from types import ModuleType

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from edgeqa.metrics import reference
from edgeqa.metrics.reference import (
    FRAME_OUT_STRIDE,
    GATE_BABBLE,
    GATE_ECHO,
    GATE_NOISE,
    GATE_PASS,
    GATE_SURE,
    GATE_TONE,
    LS_BABBLE_MARGIN_CDB,
    LS_SURE_FLOOR_CDB,
    LS_SURE_TALK_CDB,
    LS_TALK_DECAY_CDB,
    LS_TONE_GAIN_X100,
    LS_TONE_HANG_FRAMES,
    LS_TONE_MIN_RUN,
)
from tests.parity.test_kernels_parity import IMPLS, C, _leg_state, leg_block_in_blocks, needs_c


def _gated_state(tone_min_run: int = 1, hang: int = 8, sure: bool = False) -> array[int]:
    st_ = _leg_state()
    if sure:
        st_[LS_SURE_FLOOR_CDB] = 2500
        st_[LS_SURE_TALK_CDB] = 1000
    st_[LS_BABBLE_MARGIN_CDB] = 2000
    st_[LS_TALK_DECAY_CDB] = 1
    st_[LS_TONE_GAIN_X100] = round(100 * 10 ** 1.9)
    st_[LS_TONE_MIN_RUN] = tone_min_run
    st_[LS_TONE_HANG_FRAMES] = hang
    return st_


def _tone(freqs: tuple[float, ...], dbov: float, n: int, rate: int = 8000,
          phase: float = 0.0) -> list[int]:
    amp = 32768 * 10 ** (dbov / 20) * math.sqrt(2) / math.sqrt(len(freqs))
    return [max(-32768, min(32767, round(sum(amp * math.sin(2 * math.pi * f * i / rate + phase)
                                             for f in freqs)))) for i in range(n)]


def _noise(dbov: float, n: int, seed: int = 1) -> list[int]:
    """Uniform noise at about ``dbov`` (an LCG: the same everywhere)."""
    amp = 32768 * 10 ** (dbov / 20) * math.sqrt(3)
    out, x = [], seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(max(-32768, min(32767, round(amp * ((x >> 8) / (1 << 23) * 2 - 1)))))
    return out


def _ulaw(samples: list[int]) -> list[int]:
    """Through G.711 µ-law and back (the quantisation a µ-law line adds)."""
    table = reference.ULAW_TABLE
    return [min(table, key=lambda v, s=s: abs(v - s)) for s in samples]


def _codes(impl: ModuleType, samples: list[int], st_: array[int],
           frame_len: int = 160) -> list[int]:
    n = len(samples) // frame_len
    out, cand = array("q", bytes(8 * FRAME_OUT_STRIDE * n)), array("q", bytes(8 * n))
    impl.leg_block(array("h", samples).tobytes(), frame_len, st_, out, cand)
    return [out[f * FRAME_OUT_STRIDE + 3] for f in range(n)]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pair", [(697, 1209), (941, 1633), (350, 440), (480, 620), (913.8,)])
def test_tones_are_not_candidates(impl: ModuleType, pair: tuple[float, ...]) -> None:
    """DTMF and call-progress tones (linear and through µ-law) are GATE_TONE, with the hang
    after them; the same level of noise is a candidate."""
    for samples in (_tone(pair, -10, 800), _ulaw(_tone(pair, -10, 800))):
        codes = _codes(impl, samples + [0] * 160 * 3, _gated_state())
        assert codes[:5] == [GATE_TONE] * 5, codes
        assert codes[5:] == [GATE_NOISE] * 3  # silence: not a candidate anyway
    assert _codes(impl, _noise(-10, 800), _gated_state()) == [GATE_PASS] * 5


@pytest.mark.parametrize("impl", IMPLS)
def test_tone_hang_covers_the_next_digit_onset(impl: ModuleType) -> None:
    """After a tone, LS_TONE_HANG_FRAMES frames are tone too, even loud non-tonal ones."""
    samples = _tone((770, 1336), -10, 480) + _noise(-10, 160 * 10)
    codes = _codes(impl, samples, _gated_state(hang=8))
    assert codes == [GATE_TONE] * 3 + [GATE_TONE] * 8 + [GATE_PASS] * 2


@pytest.mark.parametrize("impl", IMPLS)
def test_a_tone_needs_its_run(impl: ModuleType) -> None:
    samples = _tone((852, 1477), -10, 160 * 4)
    assert _codes(impl, samples, _gated_state(tone_min_run=3)) == [
        GATE_PASS, GATE_PASS, GATE_TONE, GATE_TONE]


@pytest.mark.parametrize("impl", IMPLS)
def test_babble_below_the_talker_is_not_a_candidate(impl: ModuleType) -> None:
    """A frame 20 dB or more below the talker level (a peak follower of the passing frames,
    held in silence) is babble; before any talker, and 15 dB below, it is a candidate."""
    st_ = _gated_state()
    quiet = _noise(-40, 160, seed=3)
    assert _codes(impl, quiet, st_) == [GATE_PASS]  # no talker yet
    codes = _codes(impl, _noise(-12, 160 * 12, seed=5) + quiet * 3 + _noise(-27, 160, 7), st_)
    assert codes == [GATE_PASS] * 12 + [GATE_BABBLE] * 3 + [GATE_PASS]
    # One loud frame (a click) moves the talker level a quarter of the way, not all of it.
    st_ = _gated_state()
    codes = _codes(impl, _noise(-40, 160 * 12, seed=5) + _noise(-3, 160, 9) + quiet, st_)
    assert codes == [GATE_PASS] * 14


@pytest.mark.parametrize("impl", IMPLS)
def test_sure_frames_skip_webrtcvad(impl: ModuleType) -> None:
    """Once a talker level is set, a frame 25 dB over the floor and within 10 dB of the talker
    is GATE_SURE, given to the candidates as ~f; the echo gate keeps or drops it like any."""
    st_ = _gated_state(sure=True)
    n = 4
    samples = _noise(-12, 160, 1) + _noise(-12, 160, 2) + _noise(-30, 160, 3) + _noise(-20, 160, 4)
    out, cand = array("q", bytes(8 * FRAME_OUT_STRIDE * n)), array("q", bytes(8 * n))
    n_cand = impl.leg_block(array("h", samples).tobytes(), 160, st_, out, cand)
    assert [out[f * FRAME_OUT_STRIDE + 3] for f in range(n)] == [
        GATE_PASS, GATE_SURE, GATE_PASS, GATE_SURE]  # no talker yet; -30: 18 dB under it
    assert cand[:n_cand].tolist() == [0, ~1, 2, ~3]
    other = [-12000, -12000, -12000, -400]  # frame 3 is 16 dB under the other leg
    kept = impl.echo_gate(out, _out(other), n, reference.new_echo_state(13, 1500), cand, n_cand)
    assert cand[:kept].tolist() == [0, ~1, 2]


def _out(levels: list[int]) -> array[int]:
    out = array("q", bytes(8 * FRAME_OUT_STRIDE * max(1, len(levels))))
    for f, lvl in enumerate(levels):
        out[f * FRAME_OUT_STRIDE] = lvl
        out[f * FRAME_OUT_STRIDE + 3] = GATE_PASS
    return out


@pytest.mark.parametrize("impl", IMPLS)
def test_echo_gate(impl: ModuleType) -> None:
    """A candidate 15 dB or more below the other leg's loudest frame within the window (13
    frames back, across blocks) is echo; 10 dB below, or outside the window, it is not."""
    es = reference.new_echo_state(13, 1500)
    other = [-2000] + [-12000] * 19
    mine = [-12000] * 5 + [-3600, -3000] + [-12000] * 6 + [-3600, -3600] + [-12000] * 5
    cand = array("q", [5, 6, 13, 14] + [0] * 16)
    out = _out(mine)
    kept = impl.echo_gate(out, _out(other), 20, es, cand, 4)
    assert cand[:kept].tolist() == [6, 14]  # 5 and 13: 16 dB below frame 0; 14 is 14 back
    assert [out[f * FRAME_OUT_STRIDE + 3] for f in (5, 6, 13, 14)] == [
        GATE_ECHO, GATE_PASS, GATE_ECHO, GATE_PASS]
    # The next block: the other leg's frame 19 of the last block (-2000 now) is in the window.
    es2 = reference.new_echo_state(13, 1500)
    impl.echo_gate(_out([-12000] * 20), _out([-12000] * 19 + [-2000]), 20, es2,
                   array("q", [0]), 0)
    cand = array("q", [0, 12, 13])
    kept = impl.echo_gate(_out([-3600] * 14), _out([-12000] * 14), 14, es2, cand, 3)
    assert cand[:kept].tolist() == [13]
    off = reference.new_echo_state(13, 0)  # margin 0: off
    cand = array("q", [5])
    assert impl.echo_gate(_out(mine), _out(other), 20, off, cand, 1) == 1


@pytest.mark.parametrize("impl", IMPLS)
def test_echo_gate_learns_the_line_s_own_echo_loss(impl: ModuleType) -> None:
    """After a second of the other leg talking, a frame is echo only near this leg's own echo
    loss: on a line whose echo is 22 dB down, a frame 21 dB down is echo; on a line with no
    echo (noise 40 dB under the other talker), a quiet talker 21 dB down is not. In the
    warm-up, the margin alone decides (both are echo)."""
    talker = -1500
    for line, want in ((talker - 2200, GATE_ECHO), (talker - 4000, GATE_PASS)):
        es = reference.new_echo_state(13, 1500)
        warm = _out([line] * 60)
        assert impl.echo_gate(warm, _out([talker] * 60), 60, es, array("q", [0]), 0) == 0
        assert es[reference.EG_SEEN] == reference.EG_WARMUP_FRAMES
        out, cand = _out([talker - 2100]), array("q", [0])
        impl.echo_gate(out, _out([talker]), 1, es, cand, 1)
        assert out[3] == want, (line, es[reference.EG_LOSS_CDB])
    fresh = reference.new_echo_state(13, 1500)
    out = _out([talker - 2100])
    assert impl.echo_gate(out, _out([talker]), 1, fresh, array("q", [0]), 1) == 0
    assert out[3] == GATE_ECHO


@pytest.mark.parametrize("impl", IMPLS)
def test_echo_gate_rejects_bad_input(impl: ModuleType) -> None:
    es = reference.new_echo_state(13, 1500)
    with pytest.raises(ValueError):
        impl.echo_gate(_out([0] * 2), _out([0] * 4), 4, es, array("q", [0]), 0)
    with pytest.raises(ValueError):
        impl.echo_gate(_out([0] * 4), _out([0] * 4), 4, es, array("q", [4]), 1)
    with pytest.raises(ValueError):
        impl.echo_gate(_out([0] * 4), _out([0] * 4), 4, array("q", [0] * 3), array("q"), 0)
    with pytest.raises(ValueError):
        reference.new_echo_state(51, 1500)


# -- compiled == reference on any input -------------------------------------------------------
_KIND = st.sampled_from(["tone", "tone_ulaw", "noise", "silence", "mixed"])
_FREQS = st.sampled_from([(697, 1209), (941, 1477), (440,), (350, 440), (1000,), (1776.7,),
                          (300, 3000)])


def _frame(kind: str, freqs: tuple[float, ...], dbov: float, seed: int, n: int) -> list[int]:
    if kind == "silence":
        return [0] * n
    if kind == "noise":
        return _noise(dbov, n, seed)
    rate = 16000 if n == 320 else 8000
    tone = _tone(freqs, dbov, n, rate, phase=seed % 7)
    if kind == "mixed":
        return [max(-32768, min(32767, a + b)) for a, b in zip(tone, _noise(dbov - 12, n, seed),
                                                                strict=True)]
    return _ulaw(tone) if kind == "tone_ulaw" else tone


@needs_c
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_KIND, _FREQS, st.sampled_from([-60.0, -45.0, -30.0, -10.0, -3.0]),
                          st.integers(0, 2**31 - 1)), max_size=20),
       st.sampled_from([160, 320]), st.integers(1, 4), st.integers(1, 3), st.integers(0, 10),
       st.booleans())
@example([("tone", (697, 1209), -10.0, 1)] * 6 + [("noise", (440,), -10.0, 2)] * 3, 160, 2, 1, 8,
         True)
@example([("tone_ulaw", (941, 1477), -30.0, 1)] * 4, 320, 1, 2, 0, False)
def test_leg_block_gates_equal(frames: list[tuple[str, tuple[float, ...], float, int]],
                               frame_len: int, blocks: int, run: int, hang: int,
                               sure: bool) -> None:
    assert C is not None
    samples: list[int] = []
    for kind, freqs, dbov, seed in frames:
        samples += _frame(kind, freqs, dbov, seed, frame_len)
    pcm = array("h", samples).tobytes()
    results = [leg_block_in_blocks(impl, pcm, frame_len, _gated_state(run, hang, sure),
                                   len(frames), blocks) for impl in (C, reference)]
    assert results[0] == results[1]


@needs_c
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(-12000, 0), st.integers(-12000, 0), st.booleans()),
                max_size=300),
       st.integers(0, 50), st.integers(0, 3000), st.integers(1, 5))
def test_echo_gate_equal(frames: list[tuple[int, int, bool]], window: int, margin: int,
                         blocks: int) -> None:
    assert C is not None
    results = []
    for impl in (C, reference):
        es = reference.new_echo_state(window, margin)
        per = max(1, -(-len(frames) // blocks))
        got = []
        for i in range(0, max(1, len(frames)), per):
            part = frames[i:i + per]
            out, other = _out([m for m, _, _ in part]), _out([o for _, o, _ in part])
            cand = array("q", [f if f % 3 else ~f for f, (_, _, c) in enumerate(part) if c]
                         + [0])
            n_cand = len(cand) - 1
            kept = impl.echo_gate(out, other, len(part), es, cand, n_cand)
            got.append((kept, cand[:kept].tolist(), out.tolist()))
        results.append((es.tolist(), got))
    assert results[0] == results[1]
