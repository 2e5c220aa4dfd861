"""The store: one writer thread owns the SQLite connection; asyncio callers await its results."""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from edgeqa.audit.model import AuditEntry
from edgeqa.store import db
from edgeqa.store.records import Checkpoint, EventLike, StoredEvent

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Default named limits (the daemon passes the configured ones).
WRITER_QUEUE_MAX_REQUESTS = 1024
BATCH_MAX_EVENTS = 512
RETENTION_MAX_EVENTS = 1_000_000
#: Pruning runs after this many events were written since the last pruning.
PRUNE_EVERY_EVENTS = 1000
#: Checkpoints kept at most (one per call still up; the oldest go first beyond this).
CHECKPOINTS_MAX_ROWS = 10_000


class StoreClosedError(Exception):
    """The store is not open (never opened, closing or closed)."""


@dataclass(slots=True)
class _Request:
    op: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    events: Sequence[tuple[EventLike, str]] = ()
    is_append: bool = False


@dataclass(slots=True)
class StoreStats:
    """Counters for health and benchmarks."""

    events_written: int = 0
    transactions: int = 0
    largest_batch_events: int = 0
    waits_for_room: int = 0
    events_pruned: int = 0


class Store:
    """SQLite (WAL) with a single writer thread, batched transactions and a bounded queue."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "full",
        writer_queue_max_requests: int = WRITER_QUEUE_MAX_REQUESTS,
        batch_max_events: int = BATCH_MAX_EVENTS,
        retention_max_events: int = RETENTION_MAX_EVENTS,
        projections: Sequence[db.Projection] = (),
    ) -> None:
        self.path = path
        #: Capabilities' tables kept from the events, in each batch's transaction.
        self.projections = tuple(projections)
        self.retention_max_events = retention_max_events
        self._since_prune = PRUNE_EVERY_EVENTS  # prune once at start-up
        self.synchronous = synchronous
        self.batch_max_events = batch_max_events
        self.stats = StoreStats()
        self._room = asyncio.Semaphore(writer_queue_max_requests)
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open = False
        self._stopped: asyncio.Future[None] | None = None
        self._publish: Callable[[list[StoredEvent]], None] | None = None

    def publish_to(self, publish: Callable[[list[StoredEvent]], None] | None) -> None:
        """Hand every event this store commits (appended batches and the ``audit.entry`` of
        put_audit) to ``publish``, on the event loop, in commit order, before the committer
        resumes."""
        self._publish = publish

    async def open(self) -> None:
        """Start the writer thread, open the database and apply migrations."""
        if self._thread is not None:
            raise RuntimeError("store already opened")
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()
        opened: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(opened,), name="edgeqa-store-writer"
        )
        self._thread.start()
        try:
            await opened
        except BaseException:
            await self._stopped
            await self._join_writer()
            raise
        self._open = True
        log.info("store: %s open (WAL, synchronous=%s)", self.path, self.synchronous)

    async def _submit(
        self, op: Callable[[sqlite3.Connection], Any],
        events: Sequence[tuple[EventLike, str]] = (),
    ) -> Any:
        if not self._open or self._loop is None:
            raise StoreClosedError(f"store {self.path} is not open")
        if self._room.locked():
            self.stats.waits_for_room += 1
        async with self._room:  # back-pressure: at most N requests queued or running
            if not self._open:
                raise StoreClosedError(f"store {self.path} is closing")
            fut: asyncio.Future[Any] = self._loop.create_future()
            self._queue.put(_Request(op, fut, events, is_append=bool(events)))
            return await asyncio.shield(fut)

    async def append(self, events: Sequence[EventLike]) -> list[StoredEvent]:
        """Commit ``events`` (atomically, in order); return them with their durable seq."""
        if not events:
            return []
        encoded = [db.encode(e) for e in events]  # a bad payload fails here, alone
        result: list[StoredEvent] = await self._submit(lambda c: None, encoded)
        return result

    async def read_after(self, after: int, limit: int) -> list[StoredEvent]:
        """Return up to ``limit`` committed events with seq > ``after``."""
        rows: list[StoredEvent] = await self._submit(lambda c: db.read_after(c, after, limit))
        return rows

    async def last_seq(self) -> int:
        """Return the highest committed seq (0 for a new store)."""
        value: int = await self._submit(db.last_seq)
        return value

    async def open_calls(self) -> list[dict[str, Any]]:
        """Return the stored calls that have no call.ended (e.g. left open by a crash)."""
        calls: list[dict[str, Any]] = await self._submit(db.open_calls)
        return calls

    async def latest_by_call(self, event_type: str) -> dict[str, Any]:
        """Return the payload of the newest ``event_type`` event per open call (a checkpoint)."""
        found: dict[str, Any] = await self._submit(lambda c: db.latest_by_call(c, event_type))
        return found

    async def put_checkpoint(self, checkpoint: Checkpoint) -> bool:
        """Durably keep ``checkpoint`` as its call's latest (db.put_checkpoint); True if kept."""
        written: bool = await self._submit(
            lambda c: db.put_checkpoint(c, checkpoint, CHECKPOINTS_MAX_ROWS))
        return written

    async def put_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> list[bool]:
        """put_checkpoint of each of ``checkpoints``, in one transaction (db.put_checkpoints)."""
        written: list[bool] = await self._submit(
            lambda c: db.put_checkpoints(c, checkpoints, CHECKPOINTS_MAX_ROWS))
        return written

    async def checkpoints(self) -> dict[str, Checkpoint]:
        """Return the stored checkpoint of every call that has one (calls a run left up)."""
        found: dict[str, Checkpoint] = await self._submit(db.checkpoints)
        return found

    async def recordings(self, **filters: Any) -> list[dict[str, Any]]:
        """Return the recordings rows matching ``filters`` (db.recordings)."""
        rows: list[dict[str, Any]] = await self._submit(lambda c: db.recordings(c, **filters))
        return rows

    async def finished_calls(self, call_ids: Collection[str], since: float) -> set[str]:
        """Which of ``call_ids`` have a final metric event since ``since`` (db.finished_calls)."""
        found: set[str] = await self._submit(lambda c: db.finished_calls(c, call_ids, since))
        return found

    async def call_holds(self, call_id: str) -> list[tuple[float, float]]:
        """The stored call's hold intervals in wall time (db.call_holds)."""
        spans: list[tuple[float, float]] = await self._submit(
            lambda c: db.call_holds(c, call_id))
        return spans

    async def put_audit(self, entry: AuditEntry) -> int:
        """Durably commit an audit entry (before the action is acknowledged), chained, with its
        audit.entry event (published once committed); return its id."""
        def op(conn: sqlite3.Connection) -> int:
            entry_id, stored = db.put_audit(conn, entry)
            self._done([stored], [])  # published ahead of the result
            return entry_id

        entry_id: int = await self._submit(op)
        return entry_id

    async def audit(self, **filters: Any) -> list[dict[str, Any]]:
        """Return the audit entries matching ``filters`` (db.audit), oldest first."""
        rows: list[dict[str, Any]] = await self._submit(lambda c: db.audit(c, **filters))
        return rows

    async def retention_candidates(self, *, until: float, after: tuple[float, str, str] | None,
                                   limit: int) -> list[dict[str, Any]]:
        """Closed rows not on legal hold started before ``until`` (db.retention_candidates)."""
        rows: list[dict[str, Any]] = await self._submit(
            lambda c: db.retention_candidates(c, until=until, after=after, limit=limit))
        return rows

    async def set_legal_hold(self, call_id: str, at: float, by: str, reason: str) -> bool:
        """Put ``call_id`` on legal hold; False if it already was (db.set_legal_hold)."""
        done: bool = await self._submit(lambda c: db.set_legal_hold(c, call_id, at, by, reason))
        return done

    async def clear_legal_hold(self, call_id: str) -> bool:
        """Take ``call_id`` off legal hold; False if it was not on hold."""
        done: bool = await self._submit(lambda c: db.clear_legal_hold(c, call_id))
        return done

    async def legal_holds(self, call_id: str | None = None) -> dict[str, dict[str, Any]]:
        """The legal holds (of ``call_id`` only, if given), by call id."""
        holds: dict[str, dict[str, Any]] = await self._submit(
            lambda c: db.legal_holds(c, call_id))
        return holds

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` on the writer thread's connection (a capability's own SQL); return its
        result."""
        result: T = await self._submit(op)
        return result

    async def close(self) -> None:
        """Finish queued requests, stop the writer thread and close the database; idempotent."""
        if self._thread is None or self._stopped is None:
            return
        self._open = False
        if not self._stopped.done():
            self._queue.put(None)
        await asyncio.shield(self._stopped)
        await self._join_writer()
        log.info("store: closed after %d events in %d transactions",
                 self.stats.events_written, self.stats.transactions)

    async def _join_writer(self) -> None:
        # The thread has resolved _stopped and is returning; join it off the loop all the same.
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    # --- the writer thread -------------------------------------------------------------

    def _resolve(self, fut: asyncio.Future[Any], value: Any = None,
                 exc: BaseException | None = None) -> None:
        def done() -> None:
            if fut.done():
                return
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(value)

        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(done)
        except RuntimeError:  # loop closed: nobody is waiting any more
            pass

    def _done(self, events: list[StoredEvent],
              results: list[tuple[asyncio.Future[Any], list[StoredEvent]]]) -> None:
        """Hand ``events`` (just committed) to publish_to's callback, then each request its
        result, in one call on the loop (one wake-up per transaction, not one per request)."""
        publish = self._publish

        def done() -> None:
            if publish is not None and events:
                publish(events)
            for fut, stored in results:
                if not fut.done():
                    fut.set_result(stored)

        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(done)
        except RuntimeError:  # loop closed: nobody reads the stream or waits any more
            pass

    def _run(self, opened: asyncio.Future[None]) -> None:
        assert self._stopped is not None
        try:
            conn = db.open_db(self.path, self.synchronous)
        except BaseException as exc:
            self._resolve(opened, exc=exc)
            self._resolve(self._stopped)
            return
        self._resolve(opened)
        pending: _Request | None = None
        try:
            while True:
                req = pending if pending is not None else self._queue.get()
                pending = None
                if req is None:
                    break
                if not req.is_append:
                    self._run_one(conn, req)
                    continue
                batch = [req]
                total = len(req.events)
                while total < self.batch_max_events:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None or not nxt.is_append:
                        pending = nxt
                        break
                    batch.append(nxt)
                    total += len(nxt.events)
                self._commit(conn, batch, total)
        finally:
            conn.close()
            self._resolve(self._stopped)

    def _run_one(self, conn: sqlite3.Connection, req: _Request) -> None:
        try:
            value = req.op(conn)
        except Exception as exc:
            self._resolve(req.future, exc=exc)
        else:
            self._resolve(req.future, value)

    def _commit(self, conn: sqlite3.Connection, batch: list[_Request], total: int) -> None:
        results: list[list[StoredEvent]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for req in batch:
                results.append(db.insert_events(conn, req.events, self.projections))
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.error("store: transaction of %d events failed: %s", total, exc)
            for req in batch:
                self._resolve(req.future, exc=exc)
            return
        self.stats.events_written += total
        self.stats.transactions += 1
        self.stats.largest_batch_events = max(self.stats.largest_batch_events, total)
        self._done([event for stored in results for event in stored],
                   [(req.future, stored) for req, stored in zip(batch, results, strict=True)])
        self._since_prune += total
        if self._since_prune >= PRUNE_EVERY_EVENTS:
            self._since_prune = 0
            try:
                self.stats.events_pruned += db.prune(conn, self.retention_max_events)
                db.prune_checkpoints(conn)
            except Exception as exc:
                log.error("store: pruning failed: %s", exc)
