"""Cost of one live checkpoint write (synchronous=full), against one single-event commit."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from edgeqa.store import Checkpoint, Event, Store

WRITES = 200


async def _measure(path: Path) -> tuple[float, float]:
    store = Store(path, synchronous="full")
    await store.open()
    try:
        # A long call's summary so far: 300 speech segments.
        summary = {"schema": "edgeqa.call_summary/2",
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
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint_s, event_s = asyncio.run(_measure(Path(tmp) / "bench.db"))
    print(f"checkpoint write: {checkpoint_s * 1000:.2f} ms; single-event commit: "
          f"{event_s * 1000:.2f} ms; ratio {checkpoint_s / event_s:.2f}x "
          f"(a call writes one every [live] checkpoint_interval_s, 5 s by default)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
