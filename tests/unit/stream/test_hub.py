"""Stream hub: replay-then-live hand-off with no gap or duplicate, lag, close, bad cursors."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from edgeqa.store import Event, Store, StoredEvent
from edgeqa.stream import (
    BadCursor,
    Lagged,
    Pruned,
    StreamClosed,
    StreamHub,
    TooManySubscribers,
)

TIMEOUT_S = 10.0


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "s.db", synchronous="normal")
    await s.open()
    yield s
    await s.close()


async def emit(store: Store, hub: StreamHub, n: int) -> list[StoredEvent]:
    stored = await store.append([Event("agent.updated", float(i), {"i": i}) for i in range(n)])
    hub.publish(stored)
    return stored


async def take(sub_next: object, n: int) -> list[int]:
    out = []
    for _ in range(n):
        out.append((await asyncio.wait_for(sub_next(), TIMEOUT_S)).seq)  # type: ignore[operator]
    return out


async def test_live_subscriber_gets_new_events_only(store: Store) -> None:
    hub = StreamHub(store.read_after, last_seq=0)
    await emit(store, hub, 3)
    sub = hub.subscribe(None)
    await emit(store, hub, 2)
    assert await take(sub.next, 2) == [4, 5]
    sub.close()
    assert hub.subscribers == 0


async def test_resume_replays_then_follows_live_without_gap_or_dup(store: Store) -> None:
    hub = StreamHub(store.read_after, last_seq=0, replay_page_events=2)
    await emit(store, hub, 5)
    sub = hub.subscribe(1)
    # Events committed and published while the replay is still pending go to the live queue.
    await emit(store, hub, 3)
    assert await take(sub.next, 7) == [2, 3, 4, 5, 6, 7, 8]
    sub.close()


async def test_resume_after_restart_uses_store(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    s1 = Store(path)
    await s1.open()
    await emit(s1, StreamHub(s1.read_after, last_seq=0), 4)
    await s1.close()
    s2 = Store(path)
    await s2.open()
    try:
        hub = StreamHub(s2.read_after, last_seq=await s2.last_seq())
        sub = hub.subscribe(2)
        await emit(s2, hub, 1)
        assert await take(sub.next, 3) == [3, 4, 5]
        sub.close()
    finally:
        await s2.close()


async def test_slow_consumer_is_lagged_with_resume_point(store: Store) -> None:
    hub = StreamHub(store.read_after, last_seq=0, subscriber_queue_max_events=4)
    sub = hub.subscribe(None)
    await emit(store, hub, 2)
    assert await take(sub.next, 1) == [1]
    await emit(store, hub, 10)  # 1 queued + 10 > 4: the publisher never waits, the sub lags
    with pytest.raises(Lagged) as err:
        await sub.next()
    assert err.value.resume_after == 1
    assert hub.stats.lagged == 1
    sub.close()
    again = hub.subscribe(err.value.resume_after)
    assert await take(again.next, 11) == list(range(2, 13))
    again.close()


async def test_close_drains_then_raises(store: Store) -> None:
    hub = StreamHub(store.read_after, last_seq=0)
    sub = hub.subscribe(None)
    await emit(store, hub, 2)
    hub.close()
    assert await take(sub.next, 2) == [1, 2]
    with pytest.raises(StreamClosed) as err:
        await sub.next()
    assert err.value.resume_after == 2
    with pytest.raises(StreamClosed):
        hub.subscribe(0)


async def test_bad_cursors_and_subscriber_limit(store: Store) -> None:
    hub = StreamHub(store.read_after, last_seq=0, max_subscribers=1)
    await emit(store, hub, 2)
    with pytest.raises(BadCursor, match="beyond the latest sequence 2"):
        hub.subscribe(3)
    with pytest.raises(BadCursor, match=">= 0"):
        hub.subscribe(-1)
    sub = hub.subscribe(0)
    with pytest.raises(TooManySubscribers):
        hub.subscribe(0)
    sub.close()


async def test_a_publish_gap_is_read_from_the_store_in_order(store: Store) -> None:
    """Events committed but not published here (another process's, e.g. the audit.entry of
    `edgeqa token add`) reach every subscriber in seq order, without closing its stream."""
    hub = StreamHub(store.read_after, last_seq=0)
    sub = hub.subscribe(None)
    await emit(store, hub, 1)
    lost = await store.append([Event("x", 0.0, {}), Event("y", 0.0, {})])  # never published
    await emit(store, hub, 1)
    assert await take(sub.next, 3) == [1, 2, 3] and [e.seq for e in lost] == [2, 3]
    assert await take(sub.next, 1) == [4]
    assert hub.stats.gaps == 1 and hub.stats.lagged == 0
    sub.close()


@pytest.mark.parametrize("seed", range(8))
async def test_random_disconnects_deliver_each_event_once(store: Store, seed: int) -> None:
    """A consumer that drops and resumes at random points sees 1..N exactly once, in order."""
    rng = random.Random(seed)
    hub = StreamHub(store.read_after, last_seq=0, subscriber_queue_max_events=8,
                    replay_page_events=3)
    total = 120
    got: list[int] = []

    async def producer() -> None:
        sent = 0
        while sent < total:
            n = min(rng.randint(1, 6), total - sent)
            await emit(store, hub, n)
            sent += n
            await asyncio.sleep(0)

    async def consumer() -> None:
        last = 0
        while last < total:
            try:
                sub = hub.subscribe(last)
            except BadCursor:
                await asyncio.sleep(0)
                continue
            try:
                for _ in range(rng.randint(1, 15)):
                    if last >= total:
                        break
                    event = await sub.next()
                    got.append(event.seq)
                    last = event.seq
                    if rng.random() < 0.3:
                        await asyncio.sleep(0)
            except Lagged as lag:
                assert lag.resume_after == last
            finally:
                sub.close()

    async with asyncio.timeout(TIMEOUT_S):
        await asyncio.gather(producer(), consumer())
    assert got == list(range(1, total + 1))


async def test_resume_from_pruned_events_says_so(tmp_path: Path) -> None:
    store = Store(tmp_path / "p.db", synchronous="normal", retention_max_events=10)
    await store.open()
    try:
        hub = StreamHub(store.read_after, last_seq=0)
        for _ in range(30):
            await emit(store, hub, 50)  # 1500 events: pruning ran, only the newest are kept
        first_kept = (await store.read_after(0, 1))[0].seq
        sub = hub.subscribe(5)
        with pytest.raises(Pruned) as err:
            await sub.next()
        assert err.value.resume_after == 5 and err.value.first == first_kept
        assert f"resume from {first_kept - 1}" in str(err.value)
        sub.close()
        again = hub.subscribe(first_kept - 1)
        assert (await asyncio.wait_for(again.next(), TIMEOUT_S)).seq == first_kept
        again.close()
    finally:
        await store.close()
