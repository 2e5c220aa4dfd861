"""Capture ingest: N legs of G.711 RTP over loopback, captured from a TPACKET_V3 ring into the
real ring -> ingest engine -> LiveCall path (the capture tap, edgeqa/live/capture_tap.py).

A load generator in a separate process plays the phones and Asterisk: per leg one UDP socket
bound on a destination port (``--port-base`` + leg, never read: as Asterisk's RTP port would
be, from the capture's point of view) and one sender connected to it, sending one RTP packet of
160 bytes (20 ms of µ-law) every 20 ms, paced evenly over each 20 ms, for ``--seconds``.
Two phases, same run, same load (needs Linux and CAP_NET_RAW):

- floor: the ring (edgeqa.media.capture.RtpCapture) drained per wake-up, each block's frame
  count read and nothing parsed (what reading the ring costs at the least);
- ingest: the ring into the ingest engine's feed_block, one CallCapture per call (two legs,
  both analysed at 8 kHz), each call ticked on the timer (``tick_s``): a tick takes what
  its legs' slots placed and analyses it.

CPU is this process's (the generator is another), over the phase. The last line is:
``ingest legs=N sent=S received=R loss_pct=L cpu_pct=C us_per_packet=U
floor_us_per_packet=F rss_mb=M`` (received: datagrams the engine routed to a leg).

    sudo python bench/bench_capture.py --legs 500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import socket
import struct
import sys
import time
from asyncio.subprocess import PIPE, Process
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ingest_report import figures, ingest_line
from bench_ingest import (
    DRAIN_S,
    MAX_LEGS,
    MAX_SECONDS,
    PACKET_S,
    SLOTS,
    TICK_S,
    _finish,
    _frames,
    _rss_mb,
)

from edgeqa.ari.resources import AriResources
from edgeqa.live.call import LiveCall
from edgeqa.live.capture_tap import CAPTURE_CODEC, CallCapture, CaptureService, LegMedia
from edgeqa.live.clock import CallClock
from edgeqa.media import engine
from edgeqa.media.capture import RtpCapture, capture_supported

PAYLOAD_BYTES = 160
PT_PCMU = 0
LOOPBACK = bytes([127, 0, 0, 1])


# --- the generator (a separate process) --------------------------------------------------------

def generate(port_base: int, legs: int, seconds: float) -> int:
    """Bind ``legs`` destination ports, send 50 packets/s to each; print the count sent.

    Prints "ready" first, then waits for a line on stdin (go).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * legs + 64)), hard))
    sinks, socks = [], []
    for leg in range(legs):
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sink.bind(("127.0.0.1", port_base + leg))
        sinks.append(sink)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.1", port_base + leg))
        socks.append(s)
    frames = _frames(min(seconds, 60.0), "ulaw")
    print("ready", flush=True)
    sys.stdin.readline()
    per_leg = round(seconds / PACKET_S)
    header = struct.Struct("!BBHII")
    sent = 0
    start = time.monotonic() + 0.2
    deadline = start + seconds * 1.5 + 1.0
    slot_legs = [range(k * legs // SLOTS, (k + 1) * legs // SLOTS) for k in range(SLOTS)]
    for i in range(per_leg):
        payload = frames[i % len(frames)]
        for k, slot in enumerate(slot_legs):
            delay = start + i * PACKET_S + k * PACKET_S / SLOTS - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for leg in slot:
                pkt = header.pack(0x80, PT_PCMU, (leg * 7919 + i) & 0xFFFF,
                                  (leg * 104729 + i * 160) & 0xFFFFFFFF, 1000 + leg) + payload
                try:
                    socks[leg].send(pkt)
                    sent += 1
                except OSError:
                    pass
        if time.monotonic() > deadline:
            break
    print(sent, flush=True)
    return 0


async def _load(port_base: int, legs: int, seconds: float) -> Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--generate", "--port-base", str(port_base), "--legs",
        str(legs), "--seconds", str(seconds), stdin=PIPE, stdout=PIPE)
    assert proc.stdout is not None
    if (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() != b"ready":
        proc.kill()
        raise RuntimeError("the generator did not start")
    return proc


# --- the two phases ----------------------------------------------------------------------------

async def floor(port_base: int, legs: int, seconds: float) -> dict[str, Any]:
    """The ring drained, each block's frame count read, nothing parsed."""
    loop = asyncio.get_running_loop()
    frames = [0]
    num = struct.Struct("=I")

    def sink(block: memoryview, now: float, wall_minus_loop: float) -> int:
        n = int(num.unpack_from(block, 12)[0])
        frames[0] += n
        return n

    reader = RtpCapture(sink, loop.time)
    reader.open(loop, port_base, port_base + legs - 1)
    proc = await _load(port_base, legs, seconds)
    cpu0, wall0 = time.process_time(), time.monotonic()
    sent = await _finish(proc)
    await asyncio.sleep(DRAIN_S)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    stats = reader.poll_stats()
    reader.close()
    return {"sent": sent, "received": frames[0], "cpu": cpu, "wall": wall,
            "drops": stats.kernel_drops, "wakeups": stats.wakeups}


async def ingest(port_base: int, legs: int, seconds: float) -> dict[str, Any]:
    """The real path: ring -> engine.feed_block; each call ticked every TICK_S."""
    loop = asyncio.get_running_loop()
    service = CaptureService((port_base, port_base + legs - 1), max_legs=legs + 1,
                             depth_packets=5)
    if not service.open(loop):
        raise SystemExit(f"capture unavailable: {service.unavailable}")
    gc.collect()
    rss0 = _rss_mb()
    events = [0]

    def publish(out: list[Any]) -> None:
        events[0] += len(out)

    wall0 = time.time()
    taps: list[CallCapture] = []
    for c in range((legs + 1) // 2):
        call = LiveCall(f"c{c}", CallClock.start(wall0, wall_now=wall0, loop_now=loop.time()),
                        publish, codec=CAPTURE_CODEC)
        tap = CallCapture(cast(AriResources, None), service, call, {})
        media = {"customer": LegMedia(LOOPBACK, port_base + 2 * c, "ulaw")}
        if 2 * c + 1 < legs:
            media["agent"] = LegMedia(LOOPBACK, port_base + 2 * c + 1, "ulaw")
        tap._open(media)  # what start() does once ARI has answered
        taps.append(tap)
    rss_calls = _rss_mb()
    stop = asyncio.Event()

    async def run(tap: CallCapture, phase_s: float) -> None:  # the service's ticks, per call
        await asyncio.sleep(phase_s)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), TICK_S)
            except TimeoutError:
                tap.call.tick(loop.time())

    proc = await _load(port_base, legs, seconds)
    tickers = [asyncio.create_task(run(tap, TICK_S * i / len(taps)))
               for i, tap in enumerate(taps)]
    cpu0, wall0m = time.process_time(), time.monotonic()
    sent = await _finish(proc)
    await asyncio.sleep(DRAIN_S)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0m
    rss = _rss_mb()
    stop.set()
    await asyncio.gather(*tickers)
    assert service.engine is not None and service.reader is not None
    counts = service.engine.stats()
    cap = service.reader.poll_stats()
    for tap in taps:
        await tap.close()
        tap.call.finish(tap.call.clock.from_loop(loop.time()))
    service.close()
    return {"sent": sent, "received": counts["routed"], "cpu": cpu, "wall": wall, "rss": rss,
            "rss0": rss0, "rss_calls": rss_calls, "events": events[0],
            "unrouted": counts["unrouted"], "drops": cap.kernel_drops, "wakeups": cap.wakeups,
            "blocks": cap.blocks, "frames": cap.frames}


async def amain(port_base: int, legs: int, seconds: float) -> int:
    print(f"engine: {engine.IMPLEMENTATION}; {legs} legs x {seconds:g} s at 50 packets/s "
          f"({legs * 50} packets/s, {PAYLOAD_BYTES}-byte µ-law payloads), captured")
    f = await floor(port_base, legs, seconds)
    floor_us = f["cpu"] / max(f["received"], 1) * 1e6
    print(f"  floor: sent={f['sent']} received={f['received']} "
          f"cpu_pct={100 * f['cpu'] / f['wall']:.1f} us_per_packet={floor_us:.2f} "
          f"kernel_drops={f['drops']} wakeups={f['wakeups']}")
    r = await ingest(port_base, legs, seconds)
    _, _, per_leg_kib = figures(r, legs)
    print(f"  path: ring ({r['frames'] / max(r['blocks'], 1):.1f} frames per block, "
          f"{r['wakeups']} wake-ups, {r['drops']} kernel drops) -> feed_block -> take -> "
          f"LiveCall; {r['events']} events published; {r['unrouted']} unrouted; "
          f"RSS {r['rss0']:.1f} MB before the calls, {r['rss_calls']:.1f} MB with them set up, "
          f"{r['rss']:.1f} MB after the load: {per_leg_kib:.1f} KiB per leg")
    print(ingest_line(r, legs, floor_us))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--legs", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--port-base", type=int, default=61000,
                    help="the legs' destination ports start here (default 61000: above "
                    "Linux's ephemeral ports)")
    ap.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not 1 <= args.legs <= MAX_LEGS:
        ap.error(f"--legs must be 1..{MAX_LEGS}")
    if not 0 < args.seconds <= MAX_SECONDS:
        ap.error(f"--seconds must be in (0, {MAX_SECONDS:g}]")
    if not 1024 <= args.port_base <= 65535 - args.legs:
        ap.error("--port-base + --legs must fit 1024..65535")
    if args.generate:
        return generate(args.port_base, args.legs, args.seconds)
    reason = capture_supported() or (None if os.geteuid() == 0 else
                                     "host RTP capture needs CAP_NET_RAW (run as root)")
    if reason is not None:
        print(f"bench_capture skipped: {reason}")
        return 0
    return asyncio.run(amain(args.port_base, args.legs, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
