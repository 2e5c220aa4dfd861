"""Event pipeline: ordered commit then publish, bounded intake with counted drops, flush."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edgeqa.store import Event, Store
from edgeqa.stream import StreamHub
from edgeqa.stream.pipeline import EventPipeline

TIMEOUT_S = 10.0


async def test_pipeline_commits_publishes_in_order_and_reports_drops(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    try:
        hub = StreamHub(store.read_after, last_seq=0, subscriber_queue_max_events=100)
        pipe = EventPipeline(store, hub, intake_queue_max_events=5, batch_max_events=2,
                             clock=lambda: 42.0)
        sub = hub.subscribe(None)
        task = asyncio.create_task(pipe.run())
        pipe.submit([Event("agent.updated", float(i), {"i": i}) for i in range(8)])
        assert pipe.dropped == 3 and pipe.backlog == 5
        pipe.submit([Event("agent.updated", 99.0, {"i": 99})])  # room? no: still full
        await asyncio.wait_for(pipe.flush(), TIMEOUT_S)
        pipe.submit([Event("agent.updated", 100.0, {"i": 100})])
        await asyncio.wait_for(pipe.flush(), TIMEOUT_S)
        got = [await asyncio.wait_for(sub.next(), TIMEOUT_S) for _ in range(7)]
        assert [e.seq for e in got] == list(range(1, 8))
        assert [e.data.get("i") for e in got[:5]] == [0, 1, 2, 3, 4]
        assert got[5].type == "stream.events_dropped"
        assert got[5].data == {"count": 4, "total": 4} and got[5].at == 42.0
        assert got[6].data == {"i": 100}
        pipe.close()
        pipe.submit([Event("x.y", 0.0, {})])  # refused while closing
        await asyncio.wait_for(task, TIMEOUT_S)
        assert await store.last_seq() == 7
        sub.close()
    finally:
        await store.close()
