"""Compiled kernels equal the pure-Python reference, bit for bit (STYLE rule 15)."""

from __future__ import annotations

import importlib
import math
import os
from array import array
from types import ModuleType

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from edgeqa.metrics import kernels, reference
from edgeqa.metrics.level import envelope_k_q20
from edgeqa.metrics.reference import (
    FRAME_OUT_STRIDE,
    LS_CLIP_LEVEL,
    LS_ENV_K,
    LS_ENV_SHIFT,
    LS_FLOOR_INIT_CDB,
    LS_FLOOR_RISE_CDB,
    LS_GATE_ABS_CDB,
    LS_GATE_MARGIN_CDB,
    LS_HANG_SAMPLES,
    LS_HIST_ALL,
    LS_SUMSQ,
    P56_LEVELS,
    SS_BRIDGE_FRAMES,
    SS_MIN_FRAMES,
    SS_PAD_FRAMES,
)

NO_EXT = bool(os.environ.get("EDGEQA_NO_EXTENSIONS"))


def _load_c() -> ModuleType | None:
    if NO_EXT:
        return None
    try:
        return importlib.import_module("edgeqa.metrics._kernels_c")
    except ImportError:
        return None


C = _load_c()
needs_c = pytest.mark.skipif(C is None, reason="EDGEQA_NO_EXTENSIONS=1: compiled kernels off"
                             if NO_EXT else "compiled kernels not built")
IMPLS = [pytest.param(reference, id="python"),
         pytest.param(C, id="c", marks=needs_c)]


def test_compiled_kernels_loaded_when_wanted() -> None:
    """The guard: without EDGEQA_NO_EXTENSIONS the dispatcher must have loaded the C kernels."""
    if NO_EXT:
        assert kernels.IMPLEMENTATION == "python"
        assert not kernels.EXTENSIONS_WANTED
    else:
        assert kernels.EXTENSIONS_WANTED
        assert kernels.IMPLEMENTATION == "c", "edgeqa.metrics._kernels_c did not load"
        assert kernels.leg_block is not reference.leg_block


def _leg_state(clip_level: int = 32440) -> array[int]:
    st = reference.new_leg_state()
    st[LS_CLIP_LEVEL] = clip_level
    st[LS_ENV_K] = envelope_k_q20(8000, 0.03, 4)
    st[LS_ENV_SHIFT] = 2
    st[LS_HANG_SAMPLES] = 1600
    st[LS_GATE_MARGIN_CDB] = 800
    st[LS_GATE_ABS_CDB] = -5500
    st[LS_FLOOR_RISE_CDB] = 2
    st[LS_FLOOR_INIT_CDB] = -5000
    return st


def _pcm(samples: list[int]) -> bytes:
    return array("h", samples).tobytes()


# -- each kernel on each implementation ------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_g711_every_byte_and_pair(impl: ModuleType) -> None:
    """Every byte, alone and in every position of a byte pair, decodes as in G.711's tables."""
    every_pair = bytes(b for v in range(65536) for b in (v & 0xFF, v >> 8))
    for decode, table in ((impl.ulaw_decode, reference.ULAW_TABLE),
                          (impl.alaw_decode, reference.ALAW_TABLE)):
        assert array("h", decode(every_pair)).tolist() == [table[b] for b in every_pair]
        for n in range(4):  # odd and even lengths: the pairwise loop and its tail
            assert array("h", decode(bytes(range(n)))).tolist() == list(table[:n])


@pytest.mark.parametrize("impl", IMPLS)
def test_g711_known_values(impl: ModuleType) -> None:
    pcm = array("h", impl.ulaw_decode(bytes([0x00, 0x80, 0xFF, 0x7F, 0x7E])))
    assert pcm.tolist() == [-32124, 32124, 0, 0, -8]
    pcm = array("h", impl.alaw_decode(bytes([0xAA, 0x2A, 0xD5, 0x55])))
    assert pcm.tolist() == [32256, -32256, 8, -8]
    assert impl.ulaw_decode(b"") == b""


@pytest.mark.parametrize("impl", IMPLS)
def test_frame_stats(impl: ModuleType) -> None:
    assert impl.frame_stats(bytes(320), 32440) == (0, 0, 0)
    assert impl.frame_stats(_pcm([3, -4, 32767, -32768]), 32440) == (
        9 + 16 + 32767**2 + 32768**2, 32768, 2)
    assert impl.frame_stats(_pcm([5, 6]) + b"\x01", 1) == (61, 6, 2)  # odd byte ignored


@pytest.mark.parametrize("impl", IMPLS)
def test_level_cdb(impl: ModuleType) -> None:
    assert impl.level_cdb(0, 160) == -12000
    assert impl.level_cdb(160 * 32768 * 32768, 160) == 0
    assert impl.level_cdb(160 * 3276 * 3276, 160) == -2001  # floor of -20.0026 dB


@pytest.mark.parametrize("impl", IMPLS)
def test_leg_block_clip_runs_cross_frames(impl: ModuleType) -> None:
    st = _leg_state()
    out, cand = array("q", bytes(8 * 4 * 2)), array("q", bytes(16))
    frame = [0] * 158 + [32767, -32767]  # two clipped at the end of frame 1 ...
    frame2 = [32700] + [0] * 159  # ... and one at the start of frame 2: one run of 3
    impl.leg_block(_pcm(frame + frame2), 160, st, out, cand)
    assert out[2] == 2 and out[FRAME_OUT_STRIDE + 2] == 1
    assert st[reference.LS_CLIP_EVENTS] == 1
    assert st[reference.LS_CLIPPED] == 3


@pytest.mark.parametrize("impl", IMPLS)
def test_leg_block_gate(impl: ModuleType) -> None:
    st = _leg_state()
    quiet = [(-1) ** i * 30 for i in range(160)]  # -61 dBov: below the absolute gate
    loud = [(-1) ** i * 3000 for i in range(160)]  # -20.8 dBov, far above the floor
    out, cand = array("q", bytes(8 * 4 * 3)), array("q", bytes(24))
    n = impl.leg_block(_pcm(quiet + loud + quiet), 160, st, out, cand)
    assert n == 1 and cand[0] == 1
    assert [out[i * FRAME_OUT_STRIDE + 3] for i in range(3)] == [0, 1, 0]
    assert out[0] == math.floor(1000 * math.log10(900 / 2**30))


def _hist(st_: array[int], base: int) -> list[int]:
    return st_[base:base + P56_LEVELS + 1].tolist()


@pytest.mark.parametrize("impl", IMPLS)
def test_leg_block_p56_counts_every_frame(impl: ModuleType) -> None:
    """LS_HIST_ALL and LS_SUMSQ take every frame, gated or not (P.56 as sv-p56: spec v1.1)."""
    st_ = _leg_state()
    noise = [(-1) ** i * 40 for i in range(160)]  # -58 dBov: under the absolute gate
    loud = [(-1) ** i * 3000 for i in range(160)]
    frames = [noise, loud, noise, noise, noise, noise]
    out, cand = array("q", bytes(8 * 4 * 6)), array("q", bytes(48))
    assert impl.leg_block(_pcm([x for f in frames for x in f]), 160, st_, out, cand) == 1
    assert st_[LS_SUMSQ] == sum(x * x for f in frames for x in f)
    assert sum(_hist(st_, LS_HIST_ALL)) == 160 * len(frames)


@pytest.mark.parametrize("impl", IMPLS)
def test_leg_block_rejects_short_buffers(impl: ModuleType) -> None:
    with pytest.raises(ValueError):
        impl.leg_block(bytes(640), 160, _leg_state(), array("q", [0] * 4), array("q", [0] * 2))
    corrupt = _leg_state()
    corrupt[reference.LS_ACTIVE_BITS] = 99
    with pytest.raises(ValueError, match="corrupt"):
        impl.leg_block(bytes(320), 160, corrupt, array("q", [0] * 4), array("q", [0]))
    with pytest.raises(ValueError):  # the frame must hold whole envelope steps
        impl.leg_block(bytes(322), 161, _leg_state(), array("q", [0] * 4), array("q", [0]))


@pytest.mark.parametrize("impl", IMPLS)
def test_segment_block(impl: ModuleType) -> None:
    st = reference.new_segment_state()
    st[SS_BRIDGE_FRAMES], st[SS_MIN_FRAMES], st[SS_PAD_FRAMES] = 20, 5, 0
    flags = bytes([0, 1, 1, 1, 1, 1] + [0] * 10 + [1] + [0] * 20 + [1, 1] + [0] * 25)
    ev = array("q", bytes(8 * 3 * len(flags)))
    n = impl.segment_block(flags, st, ev)
    assert n == 2
    assert ev[:6].tolist() == [reference.SEG_CONFIRMED, 1, 0, reference.SEG_CLOSED, 1, 17]


# -- C == Python on random input -------------------------------------------------------------
pcm_bytes = st.binary(min_size=0, max_size=2000)


@needs_c
@settings(max_examples=200, deadline=None)
@given(pcm_bytes)
@example(b"")
@example(bytes(320))
@example(b"\xff\x7f" * 160)
@example(b"\x00\x80" * 160)
@example(bytes(100) + b"\xff\x7f" + bytes(218))
@example(bytes(321))
def test_decoders_and_frame_stats_equal(data: bytes) -> None:
    assert C is not None
    assert C.ulaw_decode(data) == reference.ulaw_decode(data)
    assert C.alaw_decode(data) == reference.alaw_decode(data)
    for view in (bytearray(data), memoryview(data)[1:]):  # the buffer path; odd offsets
        assert C.ulaw_decode(view) == reference.ulaw_decode(view)
        assert C.alaw_decode(view) == reference.alaw_decode(view)
    for clip in (1, 31803, 32440):
        assert C.frame_stats(data, clip) == reference.frame_stats(data, clip)


@needs_c
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=0, max_size=1300),
       st.sampled_from([80, 160, 320]), st.integers(0, 3))
@example([0] * 960, 160, 0)
@example([32767, -32768] * 480, 160, 0)
@example([0] * 400 + [32767] + [0] * 559, 160, 1)
@example([100] * 161, 160, 2)
def test_leg_block_equal(samples: list[int], frame_len: int, splits: int) -> None:
    assert C is not None
    pcm = _pcm(samples)
    states = {}
    for name, impl in (("c", C), ("py", reference)):
        st_ = _leg_state()
        outs = []
        step = max(frame_len, (len(samples) // (splits + 1)) // frame_len * frame_len)
        for off in range(0, len(samples), step):
            chunk = pcm[2 * off:2 * (off + step)]
            out = array("q", bytes(8 * FRAME_OUT_STRIDE * (step // frame_len + 1)))
            cand = array("q", bytes(8 * (step // frame_len + 1)))
            n = impl.leg_block(chunk, frame_len, st_, out, cand)
            outs.append((n, out.tolist(), cand[:n].tolist()))
        states[name] = (st_.tolist(), outs)
    assert states["c"] == states["py"]


def _frames_pcm(frames: list[tuple[int, int]], frame_len: int) -> bytes:
    """Frames of pseudo-random samples, each scaled to its own amplitude (an LCG per seed)."""
    out = array("h")
    for amp, seed in frames:
        x = seed
        for _ in range(frame_len):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            out.append(max(-32768, min(32767, ((x >> 8) % (2 * amp + 1)) - amp)))
    return out.tobytes()


@needs_c
@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 2, 30, 60, 300, 3000, 30000, 32767]),
                          st.integers(0, 2**31 - 1)), max_size=24),
       st.sampled_from([80, 160, 320]), st.integers(1, 6))
@example([(0, 0), (3000, 1), (0, 2), (0, 3), (0, 4)], 160, 1)
@example([(60, 0), (60, 1), (3000, 2), (60, 3), (3000, 4), (60, 5)], 160, 3)
@example([(32767, 0)] * 6, 160, 2)
@example([(30, 0), (30, 1)], 80, 1)
def test_leg_block_gated_level_equal(frames: list[tuple[int, int]], frame_len: int,
                                     blocks: int) -> None:
    """C == Python on frames that open and close the gate, for any block split."""
    assert C is not None
    pcm = _frames_pcm(frames, frame_len)
    results = [leg_block_in_blocks(impl, pcm, frame_len, _leg_state(), len(frames),
                                   blocks) for impl in (C, reference)]
    assert results[0] == results[1]


def leg_block_in_blocks(impl: ModuleType, pcm: bytes, frame_len: int, st_: array[int],
                        n_frames: int, blocks: int) -> tuple[list[int], list[object]]:
    """leg_block over ``n_frames`` frames of ``pcm`` cut in ``blocks`` calls: the final state
    and each call's (candidates, outputs)."""
    per = max(1, -(-n_frames // blocks))
    outs: list[object] = []
    for i in range(0, max(1, n_frames), per):
        chunk = pcm[2 * frame_len * i:2 * frame_len * (i + per)]
        out, cand = array("q", bytes(8 * FRAME_OUT_STRIDE * per)), array("q", bytes(8 * per))
        n = impl.leg_block(chunk, frame_len, st_, out, cand)
        outs.append((n, out.tolist(), cand[:n].tolist()))
    return st_.tolist(), outs


@needs_c
@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=400), st.integers(1, 25), st.integers(1, 6),
       st.integers(0, 3))
def test_segment_block_equal(flags: list[bool], bridge: int, min_frames: int, pad: int) -> None:
    assert C is not None
    raw = bytes(flags)
    results = []
    for impl in (C, reference):
        s = reference.new_segment_state()
        s[SS_BRIDGE_FRAMES], s[SS_MIN_FRAMES], s[SS_PAD_FRAMES] = bridge, min_frames, pad
        ev = array("q", bytes(8 * 3 * max(1, len(raw))))
        n = impl.segment_block(raw, s, ev)
        results.append((n, ev[:3 * n].tolist(), s.tolist()))
    assert results[0] == results[1]


def _odd_sum(handle: object, rate: int, frame: bytes | memoryview, n: int) -> bool:
    """A deterministic stand-in for webrtcvad's process(): sum of the frame's bytes is odd."""
    assert handle == "h" and rate == 8000 and len(frame) == 2 * n
    return sum(bytes(frame)) % 2 == 1


@pytest.mark.parametrize("impl", IMPLS)
def test_vad_frames(impl: ModuleType) -> None:
    pcm = bytes([1]) + bytes(319) + bytes(320) + bytes([3]) + bytes(319)
    cand = array("q", [0, 1, 2, 0])
    speech = bytearray(3)
    assert impl.vad_frames(_odd_sum, "h", 8000, pcm, 160, cand, 3, speech) == 2
    assert speech == bytearray([1, 0, 1])
    with pytest.raises(ValueError):
        impl.vad_frames(_odd_sum, "h", 8000, pcm[:320], 160, cand, 2, bytearray(3))
    with pytest.raises(ValueError):  # a flag outside ``speech``
        impl.vad_frames(_odd_sum, "h", 8000, pcm, 160, cand, 3, bytearray(2))
    with pytest.raises(ValueError):  # ~3: frame 3, sure, but outside the block
        impl.vad_frames(_odd_sum, "h", 8000, pcm, 160, array("q", [~3]), 1, bytearray(3))
    speech = bytearray(3)  # ~1: frame 1 is speech without asking (GATE_SURE)
    assert impl.vad_frames(_odd_sum, "h", 8000, pcm, 160, array("q", [~1, 2]), 2, speech) == 2
    assert speech == bytearray([0, 1, 1])


@needs_c
@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3200), st.lists(st.integers(0, 9), max_size=10, unique=True))
def test_vad_frames_equal(pcm: bytes, picks: list[int]) -> None:
    assert C is not None
    n_frames = len(pcm) // 320
    idx = sorted(i for i in picks if i < n_frames)
    results = []
    for impl in (C, reference):
        speech = bytearray(max(1, n_frames))
        n = impl.vad_frames(_odd_sum, "h", 8000, pcm, 160, array("q", idx or [0]), len(idx),
                            speech)
        results.append((n, bytes(speech)))
    assert results[0] == results[1]
