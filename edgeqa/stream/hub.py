"""The live event stream: committed events fan out to bounded subscriber queues.

Resume without gap or duplicate: ``subscribe(after=N)`` registers the subscriber's live queue
and notes ``upto = hub.last_seq`` in the same loop step, so every event with seq <= upto was
published before (it is read back from the store) and every later one lands in the live queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from edgeqa.store.records import StoredEvent

log = logging.getLogger(__name__)

#: Default named limits (the daemon passes the configured ones).
SUBSCRIBER_QUEUE_MAX_EVENTS = 1000
MAX_SUBSCRIBERS = 64
#: Subscribers one key (an API token, else a peer address) may hold, so one client's idle
#: sockets cannot take every slot.
MAX_SUBSCRIBERS_PER_KEY = 16
REPLAY_PAGE_EVENTS = 500

ReadAfter = Callable[[int, int], Awaitable[list[StoredEvent]]]


@dataclass(frozen=True, slots=True)
class _Hole:
    """Committed events ``first..last`` that were never published (another process wrote
    them, e.g. `edgeqa token add`'s audit.entry): read from the store in their place."""

    first: int
    last: int


class StreamError(Exception):
    """Base of the stream's errors."""


class Lagged(StreamError):
    """The subscriber fell behind its queue limit; it must resume after ``resume_after``."""

    def __init__(self, resume_after: int) -> None:
        super().__init__(f"lagged, resume from {resume_after}")
        self.resume_after = resume_after


class StreamClosed(StreamError):
    """The daemon is stopping; the subscriber may resume after ``resume_after`` later."""

    def __init__(self, resume_after: int) -> None:
        super().__init__(f"stream closed, resume from {resume_after}")
        self.resume_after = resume_after


class Pruned(StreamError):
    """Events after ``resume_after`` were deleted by retention; the oldest kept is ``first``."""

    def __init__(self, resume_after: int, first: int) -> None:
        super().__init__(f"events {resume_after + 1}..{first - 1} were pruned, "
                         f"resume from {first - 1}")
        self.resume_after = resume_after
        self.first = first


class BadCursor(StreamError):
    """``after`` names a sequence number that this store never assigned."""


class TooManySubscribers(StreamError):
    """The hub already serves its maximum number of subscribers."""


class TooManyForKey(TooManySubscribers):
    """This key (token or peer) already holds its maximum number of subscribers."""


@dataclass(slots=True)
class HubStats:
    """Counters for /v1/health."""

    published: int = 0
    lagged: int = 0
    gaps: int = 0


class Subscription:
    """One consumer: replays from the store up to its hand-off point, then follows live."""

    def __init__(self, hub: StreamHub, after: int, upto: int, read_after: ReadAfter,
                 max_events: int, page_events: int, key: str | None = None) -> None:
        self._hub = hub
        self.key = key
        self._read_after = read_after
        self._max_events = max_events
        self._page_events = page_events
        self._cursor = after  # last seq fetched from the store
        self._upto = upto  # replay covers (after, upto]; live covers (upto, ...)
        self._replay: deque[StoredEvent] = deque()
        self._live: deque[StoredEvent | _Hole] = deque()
        self._wake = asyncio.Event()
        self._lagged = False
        self._closed = False
        self.last_delivered = after

    @property
    def backlog(self) -> int:
        """Events queued live for this subscriber (bounded by its limit)."""
        return len(self._live)

    def _offer(self, event: StoredEvent | _Hole) -> None:
        if self._lagged or self._closed:
            return
        if len(self._live) >= self._max_events:
            self._lag()
            return
        self._live.append(event)
        self._wake.set()

    def _lag(self) -> None:
        self._lagged = True
        self._live.clear()  # the store keeps them; the consumer resumes from there
        self._hub.stats.lagged += 1
        self._wake.set()

    def _close(self) -> None:
        self._closed = True
        self._wake.set()

    async def next(self) -> StoredEvent:
        """Return the next event; raise Lagged or StreamClosed (each with ``resume_after``)."""
        while True:
            if self._lagged:
                raise Lagged(self.last_delivered)
            if self._replay:
                event = self._replay.popleft()
                self.last_delivered = event.seq
                return event
            if self._cursor < self._upto:
                limit = min(self._page_events, self._upto - self._cursor)
                page = [e for e in await self._read_after(self._cursor, limit)
                        if e.seq <= self._upto]
                # seq is dense (a rolled-back batch consumes none): a hole means retention.
                first = page[0].seq if page else self._upto + 1
                if first != self._cursor + 1:
                    raise Pruned(self._cursor, first)
                self._cursor = page[-1].seq
                self._replay.extend(page)
                continue
            if self._live:
                item = self._live.popleft()
                if isinstance(item, _Hole):  # everything before it was delivered
                    self._cursor, self._upto = item.first - 1, item.last
                    continue
                if item.seq <= self.last_delivered:
                    continue  # defensive: never deliver a seq twice
                self.last_delivered = item.seq
                return item
            if self._closed:
                raise StreamClosed(self.last_delivered)
            self._wake.clear()
            await self._wake.wait()

    def close(self) -> None:
        """Unsubscribe (idempotent)."""
        self._closed = True
        self._hub._discard(self)


class StreamHub:
    """Fans committed events out to subscribers; never blocks the publisher."""

    def __init__(
        self,
        read_after: ReadAfter,
        *,
        last_seq: int,
        subscriber_queue_max_events: int = SUBSCRIBER_QUEUE_MAX_EVENTS,
        max_subscribers: int = MAX_SUBSCRIBERS,
        replay_page_events: int = REPLAY_PAGE_EVENTS,
        max_subscribers_per_key: int = MAX_SUBSCRIBERS_PER_KEY,
    ) -> None:
        self._read_after = read_after
        self.last_seq = last_seq
        self.subscriber_queue_max_events = subscriber_queue_max_events
        self.max_subscribers = max_subscribers
        self.replay_page_events = replay_page_events
        self.max_subscribers_per_key = max_subscribers_per_key
        self.stats = HubStats()
        self._subs: set[Subscription] = set()
        self._per_key: dict[str, int] = {}
        self._closed = False

    @property
    def subscribers(self) -> int:
        """The number of current subscribers."""
        return len(self._subs)

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed

    def subscribe(self, after: int | None, *, key: str | None = None) -> Subscription:
        """Register a consumer that gets every event with seq > ``after`` (None: from now);
        ``key`` (a token or peer) holds at most ``max_subscribers_per_key`` of them."""
        if self._closed:
            raise StreamClosed(self.last_seq if after is None else after)
        if after is None:
            after = self.last_seq
        if after < 0 or after > self.last_seq:
            raise BadCursor(f"after={after} is beyond the latest sequence {self.last_seq}"
                            if after > 0 else f"after={after} must be >= 0")
        if len(self._subs) >= self.max_subscribers:
            raise TooManySubscribers(f"at most {self.max_subscribers} subscribers")
        if key is not None:
            if self._per_key.get(key, 0) >= self.max_subscribers_per_key:
                raise TooManyForKey(f"at most {self.max_subscribers_per_key} streams per client")
            self._per_key[key] = self._per_key.get(key, 0) + 1
        sub = Subscription(self, after, self.last_seq, self._read_after,
                           self.subscriber_queue_max_events, self.replay_page_events, key)
        self._subs.add(sub)
        return sub

    def publish(self, events: Sequence[StoredEvent]) -> None:
        """Hand committed ``events`` (in seq order) to every subscriber; never waits."""
        for event in events:
            if event.seq <= self.last_seq:
                log.warning("stream: dropping already published seq %d", event.seq)
                continue
            self.catch_up(event.seq - 1)
            self.last_seq = event.seq
            self.stats.published += 1
            for sub in list(self._subs):
                sub._offer(event)

    def catch_up(self, last_seq: int) -> None:
        """Events up to ``last_seq`` were committed but not published here (another process
        wrote them, or their publisher was cancelled): each subscriber reads them from the
        store at this point of its queue, so the order holds."""
        if last_seq <= self.last_seq:
            return
        log.info("stream: events %d..%d were not published here; subscribers read them from "
                 "the store", self.last_seq + 1, last_seq)
        self.stats.gaps += 1
        hole = _Hole(self.last_seq + 1, last_seq)
        self.last_seq = last_seq
        for sub in list(self._subs):
            sub._offer(hole)

    def close(self) -> None:
        """Stop accepting subscribers; current ones drain their queue then get StreamClosed."""
        self._closed = True
        for sub in list(self._subs):
            sub._close()

    def _discard(self, sub: Subscription) -> None:
        if sub in self._subs and sub.key is not None:
            left = self._per_key[sub.key] - 1
            if left:
                self._per_key[sub.key] = left
            else:
                del self._per_key[sub.key]
        self._subs.discard(sub)
