"""Kernel cost per 20 ms frame (8 kHz): compiled, pure-Python reference, numpy per frame."""

from __future__ import annotations

import sys
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _calls import speech_frames

from edgeqa.metrics import reference
from edgeqa.metrics.leg import LegAnalyzer

try:
    from edgeqa.metrics import _kernels_c as compiled
except ImportError:
    compiled = None  # type: ignore[assignment]

CLIP = 32440


def numpy_frame_stats(frame: bytes, clip_level: int) -> tuple[int, int, int]:
    """The straightforward numpy version of frame_stats, one frame at a time."""
    x = np.frombuffer(frame, dtype="<i2").astype(np.int64)
    ax = np.abs(x)
    return int((x * x).sum()), int(ax.max()), int((ax >= clip_level).sum())


def numpy_g711(table: np.ndarray[Any, Any]) -> Callable[[bytes], bytes]:
    def decode(data: bytes) -> bytes:
        return bytes(table[np.frombuffer(data, dtype=np.uint8)].tobytes())
    return decode


def ns_per_call(fn: Callable[[bytes], object], frames: list[bytes], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for f in frames:
            fn(f)
        best = min(best, time.perf_counter() - t0)
    return best / len(frames) * 1e9


def leg_block_ns(impl: object, frames: list[bytes], per_call: int) -> float:
    la = LegAnalyzer("customer", 8000)
    out, cand = array("q", bytes(8 * 4 * per_call)), array("q", bytes(8 * per_call))
    blocks = [b"".join(frames[i:i + per_call]) for i in range(0, len(frames), per_call)]
    fn = impl.leg_block  # type: ignore[attr-defined]
    best = float("inf")
    for _ in range(3):
        st = array("q", la._st)
        t0 = time.perf_counter()
        for b in blocks:
            fn(b, 160, st, out, cand)
        best = min(best, time.perf_counter() - t0)
    return best / len(frames) * 1e9


def live_call_ns(frames: list[bytes]) -> float:
    """The live path per 20 ms of call: one frame to each leg of a CallAnalyzer (gates, echo
    gate, webrtcvad, segments, the call's timeline), as two taps feed it."""
    from edgeqa.metrics.call import CallAnalyzer

    best = float("inf")
    half = len(frames) // 2
    for _ in range(3):
        call = CallAnalyzer(8000)
        feed = call.feed
        t0 = time.perf_counter()
        for i in range(half):
            t_s = i * 0.02
            feed("customer", frames[i], t_s)
            feed("agent", frames[half + i], t_s)
        best = min(best, time.perf_counter() - t0)
    return best / half * 1e9


def live_batches_ns(frames: list[bytes], per_tick: int = 12) -> float:
    """The live path as the daemon feeds it: each tick (0.24 s) a leg's frames, then the
    other leg's, one 20 ms frame per feed call."""
    from edgeqa.metrics.call import CallAnalyzer

    best = float("inf")
    half = len(frames) // 2 // per_tick * per_tick
    for _ in range(3):
        call = CallAnalyzer(8000)
        feed = call.feed
        t0 = time.perf_counter()
        for tick in range(0, half, per_tick):
            for i in range(tick, tick + per_tick):
                feed("customer", frames[i], i * 0.02)
            for i in range(tick, tick + per_tick):
                feed("agent", frames[half + i], i * 0.02)
        best = min(best, time.perf_counter() - t0)
    return best / half * 1e9


def echo_gate_ns(impl: object, n_frames: int, per_call: int) -> float:
    """echo_gate per frame, every frame a candidate (its worst case)."""
    es = reference.new_echo_state(13, 1500)
    out = array("q", [-3000, 0, 0, 1] * per_call)
    other = array("q", [-2000, 0, 0, 1] * per_call)
    cand = array("q", range(per_call))
    fn = impl.echo_gate  # type: ignore[attr-defined]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n_frames // per_call):
            fn(out, other, per_call, es, cand, per_call)
        best = min(best, time.perf_counter() - t0)
    return best / n_frames * 1e9


def main() -> int:
    frames = speech_frames(5000)
    mu = [f[:160] for f in frames]
    table = np.array(reference.ULAW_TABLE, dtype="<i2")
    a_table = np.array(reference.ALAW_TABLE, dtype="<i2")
    rows: list[tuple[str, float]] = []
    print(f"kernel cost per 20 ms frame (160 samples), best of 5, {len(frames)} frames")
    py_frames = frames[:500]
    rows.append(("frame_stats  numpy per frame", ns_per_call(
        lambda f: numpy_frame_stats(f, CLIP), frames)))
    rows.append(("frame_stats  python reference", ns_per_call(
        lambda f: reference.frame_stats(f, CLIP), py_frames, 2)))
    rows.append(("ulaw_decode  numpy per frame", ns_per_call(numpy_g711(table), mu)))
    rows.append(("ulaw_decode  python reference", ns_per_call(reference.ulaw_decode, mu[:500], 2)))
    rows.append(("alaw_decode  numpy per frame", ns_per_call(numpy_g711(a_table), mu)))
    rows.append(("leg_block    python, 1 frame/call", leg_block_ns(reference, py_frames, 1)))
    if compiled is not None:
        rows.append(("frame_stats  C",
                     ns_per_call(lambda f: compiled.frame_stats(f, CLIP), frames)))
        rows.append(("ulaw_decode  C", ns_per_call(compiled.ulaw_decode, mu)))
        rows.append(("alaw_decode  C", ns_per_call(compiled.alaw_decode, mu)))
        rows.append(("leg_block    C, 1 frame/call (stats+P.56+gate)",
                     leg_block_ns(compiled, frames, 1)))
        rows.append(("leg_block    C, 50 frames/call", leg_block_ns(compiled, frames, 50)))
        if hasattr(compiled, "echo_gate"):
            rows.append(("echo_gate    C, 50 frames/call, all candidates",
                         echo_gate_ns(compiled, len(frames), 50)))
    rows.append(("live call    both legs, 1 frame each/call (per 20 ms)", live_call_ns(frames)))
    rows.append(("live call    ticks of 12 frames a leg, 1 frame/call (per 20 ms)",
                 live_batches_ns(frames)))
    for name, ns in rows:
        print(f"  {name:48} {ns:10.0f} ns")
    if compiled is None:
        print("compiled kernels not built: no ratios")
        return 0
    d = dict(rows)
    print("ratios (target: C >= 20x numpy per frame)")
    print(f"  frame_stats: C {d['frame_stats  numpy per frame'] / d['frame_stats  C']:.0f}x numpy, "
          f"{d['frame_stats  python reference'] / d['frame_stats  C']:.0f}x python")
    print(f"  ulaw_decode: C {d['ulaw_decode  numpy per frame'] / d['ulaw_decode  C']:.1f}x numpy, "
          f"{d['ulaw_decode  python reference'] / d['ulaw_decode  C']:.0f}x python")
    print(f"  alaw_decode: C {d['alaw_decode  numpy per frame'] / d['alaw_decode  C']:.1f}x numpy")
    lb = d["leg_block    C, 1 frame/call (stats+P.56+gate)"]
    print(f"  leg_block (stats+P.56+floor+gate) C {d['frame_stats  numpy per frame'] / lb:.0f}x "
          f"numpy frame_stats alone, {d['leg_block    python, 1 frame/call'] / lb:.0f}x python")
    return 0


if __name__ == "__main__":
    sys.exit(main())
