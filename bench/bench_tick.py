"""What one live call's tick costs: the compiled path against the pure-Python reference.

N calls (two legs each, 8 kHz µ-law speech: the two channels of the fixture clean.wav, the
agent's shifted by 2 s) share one ingest engine, as captured calls do; every 20 ms each leg gets
one RTP packet, and every ``--tick-s`` (not aligned to the call's seconds) each call is ticked:
``LiveCall.tick`` takes what its legs' slots placed and analyses it. Only the ticks are timed
(thread CPU time); feeding the engine is not. Each mode runs in its own process
(``EDGEQA_NO_EXTENSIONS=1`` for the reference), on the same audio, and must give the same
events (their hash is printed).

The last line: ``tick calls=N compiled_us=C reference_us=R ratio=R/C
compiled_core_pct_at_N_calls=P`` (P: the compiled ticks' share of one core at 1 / tick_s ticks
a second per call).

    python bench/bench_tick.py --calls 60 --seconds 30
"""

from __future__ import annotations

import argparse
import audioop
import hashlib
import os
import struct
import subprocess
import sys
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "data" / "calls" / "clean.wav"
#: 20 ms of 8 kHz µ-law per packet.
PAYLOAD_BYTES = 160
PACKET_S = 0.02
#: The agent's channel is shifted so that the legs' turns do not line up with the loop.
AGENT_SHIFT_S = 2.0


def legs_audio() -> tuple[bytes, bytes]:
    """The customer and agent channels of the fixture as µ-law."""
    with wave.open(str(FIXTURE)) as w:
        pcm = w.readframes(w.getnframes())
    customer = audioop.lin2ulaw(audioop.tomono(pcm, 2, 1.0, 0.0), 2)
    agent = audioop.lin2ulaw(audioop.tomono(pcm, 2, 0.0, 1.0), 2)
    shift = int(AGENT_SHIFT_S * 8000)
    return customer, agent[shift:] + agent[:shift]


def measure(calls: int, seconds: float, tick_s: float) -> tuple[float, str, str]:
    """(µs of thread CPU per call tick, the events' hash, the kernels that ran)."""
    from edgeqa.live.call import LiveCall
    from edgeqa.live.clock import CallClock
    from edgeqa.media import engine
    from edgeqa.metrics import kernels

    audio = legs_audio()
    eng = engine.Ingest(2 * calls, 8)
    out: list[object] = []
    live: list[LiveCall] = []
    for c in range(calls):
        call = LiveCall(f"c{c}", CallClock(0.0, 0.0), out.extend, codec="ulaw")
        for i, leg in enumerate(("customer", "agent")):
            slot = eng.open_leg(b"", 1000 + 2 * c + i, "ulaw", call.clock_offset_s)
            call.attach(leg, eng, slot)  # type: ignore[arg-type]
            call.set_codec(leg, "ulaw")  # type: ignore[arg-type]
        live.append(call)
    per_tick = round(tick_s / PACKET_S)
    spent, ticks = 0.0, 0
    for step in range(int(seconds / PACKET_S)):
        now = (step + 1) * PACKET_S
        for c in range(calls):
            for i in range(2):
                data = audio[i]
                at = (step * PAYLOAD_BYTES) % (len(data) - PAYLOAD_BYTES)
                packet = struct.pack("!BBHII", 0x80, 0, step & 0xFFFF, step * PAYLOAD_BYTES,
                                     1 + i) + data[at:at + PAYLOAD_BYTES]
                eng.feed(packet, b"", 1000 + 2 * c + i, now)
        if step % per_tick == per_tick // 2:  # mid-second: a tick's audio spans two blocks
            t0 = time.thread_time()
            for call in live:
                call.tick(now + 0.001)
            spent += time.thread_time() - t0
            ticks += calls
    digest = hashlib.sha1(repr(out).encode()).hexdigest()[:16]
    return spent / max(1, ticks) * 1e6, digest, kernels.IMPLEMENTATION


def run_mode(reference: bool, args: argparse.Namespace) -> tuple[float, str, str]:
    env = dict(os.environ)
    env.pop("EDGEQA_NO_EXTENSIONS", None)
    if reference:
        env["EDGEQA_NO_EXTENSIONS"] = "1"
    got = subprocess.run(
        [sys.executable, __file__, "--calls", str(args.calls), "--seconds", str(args.seconds),
         "--tick-s", str(args.tick_s), "--one"], env=env, capture_output=True, text=True,
        check=True)
    us, digest, impl = got.stdout.split()
    return float(us), digest, impl


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--tick-s", type=float, default=0.5, help="[live] tick_s")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not 1 <= args.calls <= 1000 or not 1.0 <= args.seconds <= 600.0:
        ap.error("--calls 1..1000, --seconds 1..600")
    if args.one:
        us, digest, impl = measure(args.calls, args.seconds, args.tick_s)
        print(f"{us:.2f} {digest} {impl}")
        return 0
    c_us, c_hash, c_impl = run_mode(False, args)
    r_us, r_hash, r_impl = run_mode(True, args)
    print(f"compiled ({c_impl}): {c_us:.1f} µs per call tick, events {c_hash}")
    print(f"reference ({r_impl}): {r_us:.1f} µs per call tick, events {r_hash}")
    if c_hash != r_hash:
        print("the two paths gave different events", file=sys.stderr)
        return 1
    pct = c_us * 1e-6 * args.calls / args.tick_s * 100
    print(f"tick calls={args.calls} compiled_us={c_us:.1f} reference_us={r_us:.1f} "
          f"ratio={r_us / c_us:.1f} compiled_core_pct_at_{args.calls}_calls={pct:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
