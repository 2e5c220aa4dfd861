"""Cost of a live checkpoint: the snapshot + summary of a long call against analysing the 5 s of
audio between two checkpoints, and the store write against a single-event commit."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _calls import tiled_call

from edgeqa.metrics import kernels
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.summary import build_summary
from edgeqa.store import Checkpoint, Event, Store

WRITES = 200
CALL_MINUTES = 30.0
INTERVAL_S = 5.0  # [live] checkpoint_interval_s default
FRAME_BYTES = 320  # 20 ms at 8 kHz


def _snapshot_cost() -> tuple[float, float]:
    """(seconds per snapshot + summary at the end of a long call, seconds to analyse 5 s)."""
    call = tiled_call(CALL_MINUTES)
    analyzer = CallAnalyzer(call.sample_rate, call.codec)
    n = len(call.customer) // FRAME_BYTES
    per_interval = int(INTERVAL_S / 0.02)
    feed_times = []
    for i in range(n):
        lo = i * FRAME_BYTES
        t_s = i * 0.02
        if i % per_interval == 0:
            t0 = time.perf_counter()
        analyzer.feed("customer", call.customer[lo:lo + FRAME_BYTES], t_s)
        analyzer.feed("agent", call.agent[lo:lo + FRAME_BYTES], t_s)
        if i % per_interval == per_interval - 1:
            feed_times.append(time.perf_counter() - t0)
    snaps = []
    for _ in range(20):
        t0 = time.perf_counter()
        build_summary(analyzer.snapshot())
        snaps.append(time.perf_counter() - t0)
    return statistics.median(snaps), statistics.median(feed_times)


async def _measure(path: Path) -> tuple[float, float]:
    store = Store(path, synchronous="full")
    await store.open()
    try:
        # A long call's summary so far: 300 speech segments.
        summary = {"schema": "edgeqa.call_summary/3",
                   "segments": [[i, i + 0.5] for i in range(300)]}
        t0 = time.perf_counter()
        for i in range(WRITES):
            await store.put_checkpoint(Checkpoint("c1", 500.0, float(i + 1), summary, 1000.0 + i))
        checkpoint_s = (time.perf_counter() - t0) / WRITES
        t0 = time.perf_counter()
        for i in range(WRITES):
            await store.append([Event("daemon.started", 1000.0 + i, {"i": i})])
        event_s = (time.perf_counter() - t0) / WRITES
        return checkpoint_s, event_s
    finally:
        await store.close()


def main() -> int:
    snap_s, feed_s = _snapshot_cost()
    print(f"kernels: {kernels.IMPLEMENTATION}; {CALL_MINUTES:.0f}-minute tiled call")
    print(f"snapshot + summary: {snap_s * 1000:.2f} ms; analysing {INTERVAL_S:g} s of both legs: "
          f"{feed_s * 1000:.2f} ms; checkpointing adds {100 * snap_s / feed_s:.0f} % to the "
          f"live analysis of a call")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint_s, event_s = asyncio.run(_measure(Path(tmp) / "bench.db"))
    print(f"checkpoint write: {checkpoint_s * 1000:.2f} ms; single-event commit: "
          f"{event_s * 1000:.2f} ms; ratio {checkpoint_s / event_s:.2f}x "
          f"(a call writes one every [live] checkpoint_interval_s, 5 s by default)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
