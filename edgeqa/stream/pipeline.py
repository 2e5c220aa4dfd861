"""The ordered path of every event: bounded intake -> store (durable seq) -> hub (live fan-out)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable

from edgeqa.store import Event, EventLike, Store, StoreClosedError
from edgeqa.stream.hub import StreamHub

log = logging.getLogger(__name__)

#: Default named limits (the daemon passes the configured ones).
INTAKE_QUEUE_MAX_EVENTS = 10_000
BATCH_MAX_EVENTS = 512
#: When idle, how often the pipeline looks for events another process committed to the store
#: (the audit.entry of `edgeqa token add`, ...), so that readers get them soon.
CATCH_UP_INTERVAL_S = 1.0


class EventPipeline:
    """Commits submitted events in order; the store publishes them once committed (in commit
    order, with the audit.entry events of put_audit); one task, never reordered.

    ``submit`` is synchronous and never waits (it is called from AMI/ARI callbacks). When the
    intake is full the event is dropped and counted, and a ``stream.events_dropped`` event
    with the count is committed as soon as there is room, so consumers learn of the loss.
    """

    def __init__(
        self,
        store: Store,
        hub: StreamHub,
        *,
        intake_queue_max_events: int = INTAKE_QUEUE_MAX_EVENTS,
        batch_max_events: int = BATCH_MAX_EVENTS,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._hub = hub
        # The store publishes what it commits, in commit order: the pipeline's batches and the
        # audit.entry events that put_audit commits between them.
        store.publish_to(hub.publish)
        self._max = intake_queue_max_events
        self._batch_max = batch_max_events
        self._clock = clock
        self._intake: deque[EventLike] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self.dropped = 0
        self._unreported_drops = 0

    @property
    def backlog(self) -> int:
        """Events waiting for the store."""
        return len(self._intake)

    def submit(self, events: Iterable[EventLike]) -> None:
        """Queue ``events`` for commit and publication; drop (and count) beyond the limit."""
        for event in events:
            if self._closing:
                log.warning("pipeline: closing; %s not recorded", event.type)
                continue
            if len(self._intake) >= self._max:
                self.dropped += 1
                self._unreported_drops += 1
                if self._unreported_drops == 1:
                    log.error("pipeline: intake full (%d events); dropping events", self._max)
                continue
            if self._unreported_drops and len(self._intake) < self._max - 1:
                self._intake.append(Event("stream.events_dropped", self._clock(),
                                          {"count": self._unreported_drops,
                                           "total": self.dropped}))
                self._unreported_drops = 0
            self._intake.append(event)
        if self._intake:
            self._idle.clear()
            self._wake.set()

    async def flush(self) -> None:
        """Return once everything submitted so far is committed and published."""
        await self._idle.wait()

    def close(self) -> None:
        """Refuse new events; run() returns after committing what is queued."""
        self._closing = True
        self._wake.set()

    async def run(self) -> None:
        """Commit and publish until close() and the intake is empty; do not cancel mid-batch."""
        while True:
            if not self._intake:
                self._idle.set()
                if self._closing:
                    return
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), CATCH_UP_INTERVAL_S)
                except TimeoutError:
                    with contextlib.suppress(StoreClosedError):  # stopping: nothing to read
                        self._hub.catch_up(await self._store.last_seq())
                continue
            count = min(len(self._intake), self._batch_max)
            batch = [self._intake.popleft() for _ in range(count)]
            await self._store.append(batch)  # published by the store (publish_to)
