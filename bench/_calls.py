"""Benchmark audio: long stereo calls tiled from the fixture calls in tests/data/calls."""

from __future__ import annotations

from pathlib import Path

from edgeqa.analyze.offline import CallAudio, load_stereo

CALLS = Path(__file__).resolve().parent.parent / "tests" / "data" / "calls"
MIX = ("clean", "dead_air", "dead_air_noise", "talk_over", "levels", "clipping_noise")


def tiled_call(minutes: float, rate: int = 8000) -> CallAudio:
    """Return a call of ``minutes`` built by repeating the six 8 kHz fixture calls in turn."""
    parts = [load_stereo(CALLS / f"{name}.wav") for name in MIX]
    want = int(minutes * 60 * rate) * 2
    cust, agent = bytearray(), bytearray()
    i = 0
    while len(cust) < want:
        cust += parts[i % len(parts)].customer
        agent += parts[i % len(parts)].agent
        i += 1
    return CallAudio(bytes(cust[:want]), bytes(agent[:want]), rate, "pcm16")


def speech_frames(n: int, frame_bytes: int = 320) -> list[bytes]:
    """Return ``n`` 20 ms frames of real call audio (speech and pauses, both legs)."""
    call = tiled_call(max(1.0, n * 0.02 / 60 + 0.1))
    pcm = call.customer
    return [pcm[i * frame_bytes:(i + 1) * frame_bytes] for i in range(n)]
