"""The retention job on a real store: delete, audit, then mark; files already gone; failures;
a legal hold set meanwhile; the per-run limit; the stereo cache; the daemon's periodic task."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from edgeqa.config import parse_config
from edgeqa.recording.purge import RetentionJob
from edgeqa.recording.retention import DAY_S
from edgeqa.store import EventLike, Store, schema_name
from tests.support.schemas import errors
from tests.unit.recording.calls import T0, leg_rows, store_rows

ENV = {"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}
LATER = T0 + 31 * DAY_S
WALL = T0 + 40 * DAY_S


class Published:
    """The job's publish: commits to the store (as the daemon's pipeline does) and keeps the
    events, checked against their schema."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.events: list[EventLike] = []
        self.changed = asyncio.Event()

    async def __call__(self, events: Sequence[EventLike]) -> None:
        audited = {(a["call_id"], a["detail"]["leg"]) for a in await self.store.audit()}
        for e in events:
            assert errors(dict(e.data), schema_name(e.type)) == [], e
            # Audited (committed) before its row is marked.
            assert (e.data["call_id"], e.data["leg"]) in audited, e
        self.events += events
        await self.store.append(events)
        self.changed.set()


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "s.db", synchronous="normal")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def _job(store: Store, published: Published, tmp_path: Path, extra: str = "",
         **kw: Any) -> RetentionJob:
    cfg = parse_config(f"[recording]\nretention_days = 30\n{extra}", env=ENV).recording
    return RetentionJob(cfg, store, published, wall=lambda: WALL,
                        stereo_cache=tmp_path / "cache", **kw)


async def _calls(store: Store, tmp_path: Path, *call_ids: str) -> None:
    rows = await asyncio.to_thread(
        lambda: [r for c in call_ids for r in leg_rows(tmp_path, c)])
    await store_rows(store, rows)


def _exists(tmp_path: Path, name: str) -> bool:
    return (tmp_path / name).exists()


async def test_due_files_are_deleted_audited_then_marked_and_a_legal_hold_spared(
        store: Store, tmp_path: Path) -> None:
    await _calls(store, tmp_path, "c1", "c2")
    await store.set_legal_hold("c2", T0, "cli:alice", "case 1")
    cache = tmp_path / "cache"
    await asyncio.to_thread(lambda: (cache.mkdir(), (cache / "c1-0123456789abcdef.wav")
                                     .write_bytes(b"x"), (cache / "c1-9-0123456789abcdef.wav")
                                     .write_bytes(b"y")))
    published = Published(store)
    job = _job(store, published, tmp_path)
    assert (await job.run_once(T0 + 29 * DAY_S)).due == []  # not old enough yet
    report = await job.run_once(LATER)
    assert (report.deleted, report.already_gone, report.failed, report.more) == (2, 0, 0, False)
    for leg in ("customer", "agent"):
        assert not await asyncio.to_thread(_exists, tmp_path, f"c1-{leg}.wav")
        assert await asyncio.to_thread(_exists, tmp_path, f"c2-{leg}.wav")
    # The cached stereo file of c1 goes too; another call's ("c1-9") stays.
    assert sorted(p.name for p in await asyncio.to_thread(lambda: list(cache.iterdir()))) == [
        "c1-9-0123456789abcdef.wav"]
    rows = {(r["call_id"], r["leg"]): r for r in await store.recordings()}
    assert {k: r["state"] for k, r in rows.items()} == {
        ("c1", "agent"): "deleted", ("c1", "customer"): "deleted",
        ("c2", "agent"): "complete", ("c2", "customer"): "complete"}
    assert rows[("c1", "agent")]["reason"] == "retention: older than 30 days (global)"
    assert rows[("c1", "agent")]["sha256"] is not None  # what the file held stays known
    audit = await store.audit(action="recording.deleted")
    assert [(a["call_id"], a["detail"]["leg"], a["actor_kind"], a["actor_name"], a["at"])
            for a in audit] == [("c1", "customer", "system", "retention", WALL),
                                ("c1", "agent", "system", "retention", WALL)]
    assert [e.type for e in published.events] == ["recording.deleted"] * 2
    assert published.events[0].data["deleted_at"] == WALL
    assert (await job.run_once(LATER)).due == []  # nothing twice


async def test_a_file_already_gone_is_marked_and_a_failed_delete_is_not(
        store: Store, tmp_path: Path) -> None:
    await _calls(store, tmp_path, "c1")
    await asyncio.to_thread(lambda: (os.unlink(tmp_path / "c1-customer.wav"),
                                     os.unlink(tmp_path / "c1-agent.wav"),
                                     (tmp_path / "c1-agent.wav").mkdir()))  # unlink fails
    report = await _job(store, Published(store), tmp_path).run_once(LATER)
    assert (report.deleted, report.already_gone, report.failed) == (0, 1, 1)
    rows = {r["leg"]: r for r in await store.recordings()}
    assert rows["customer"]["state"] == "deleted"
    assert rows["customer"]["reason"].endswith("; file already gone")
    assert rows["agent"]["state"] == "complete"  # kept: due again next run
    assert [a["detail"]["leg"] for a in await store.audit()] == ["customer"]


async def test_a_legal_hold_set_after_the_query_still_spares_the_call(
        store: Store, tmp_path: Path) -> None:
    await _calls(store, tmp_path, "c1")
    job = _job(store, Published(store), tmp_path)
    found, _ = await job.due(LATER)
    assert len(found) == 2

    async def due_then_hold(now: float) -> tuple[list[Any], bool]:
        await store.set_legal_hold("c1", T0, "api:anonymous", "late")
        return found, False

    job.due = due_then_hold  # type: ignore[method-assign]
    report = await job.run_once(LATER)
    assert (report.deleted, report.held) == (0, 2)
    assert {r["state"] for r in await store.recordings()} == {"complete"}


async def test_a_run_stops_at_its_limit_and_the_next_takes_the_rest(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edgeqa.recording.purge.PAGE_ROWS", 2)  # paging through the store
    await _calls(store, tmp_path, "c1", "c2", "c3")
    await store.set_legal_hold("c1", T0, "cli:alice", "case")
    job = _job(store, Published(store), tmp_path, limit=3)
    first = await job.run_once(LATER, dry_run=True)
    assert [(d.row["call_id"], d.row["leg"]) for d in first.due] == [
        ("c2", "customer"), ("c3", "customer"), ("c2", "agent")] and first.more
    assert {r["state"] for r in await store.recordings()} == {"complete"}  # dry
    assert (await job.run_once(LATER)).deleted == 3
    last = await job.run_once(LATER)
    assert (last.deleted, last.more) == (1, False)
    assert job.health() == {"active": True, "runs": 2, "deleted": 4, "already_gone": 0,
                            "failed": 0}  # a dry run is no run


async def test_the_daemon_task_runs_at_once_then_every_interval(
        store: Store, tmp_path: Path) -> None:
    await _calls(store, tmp_path, "c1")
    published = Published(store)
    job = _job(store, published, tmp_path, "retention_interval_s = 0.05\n")
    task = asyncio.create_task(job.run_forever())
    try:
        async with asyncio.timeout(5):
            while len(published.events) < 2:
                await published.changed.wait()
                published.changed.clear()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # Without a retention configured the task ends at once.
    none = RetentionJob(parse_config("", env=ENV).recording, store, published,
                        wall=lambda: WALL)
    await asyncio.wait_for(none.run_forever(), 1)
