"""The recorder under the disk guard: no new recording below the threshold (audited, rows say
why, one alert), the running one untouched, recording again once there is room."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from edgeqa.audit.model import AuditEntry
from edgeqa.calls.changes import CallEnded
from edgeqa.config import parse_config
from edgeqa.recording.config import RecordingConfig
from edgeqa.recording.guard import MIB
from edgeqa.recording.service import Recorder
from edgeqa.store import EventLike, schema_name
from tests.support.actions import ActionRecorder
from tests.support.calls import connected, connected_call
from tests.support.schemas import errors
from tests.unit.recording.wavs import closed_wav

GIB = 1024 * MIB
ENV = {"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}
T0 = 1733012345.0


def _cfg(tmp_path: Path, extra: str = "") -> RecordingConfig:
    text = (f'[recording]\nasterisk_dir = "/ast/rec"\ndaemon_dir = "{tmp_path}"\n'
            f'close_timeout_s = 0.5\n{extra}')
    return parse_config(text, env=ENV).recording


def _write_files(tmp_path: Path, call_id: str) -> None:
    for n, leg in enumerate(("customer", "agent")):
        path = tmp_path / "2024/12/01" / f"{call_id}-{leg}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(closed_wav(800 + n))


class Disk:
    """shutil.disk_usage as the recorder reads it: (free, total) of a path."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.paths: list[Path] = []

    def __call__(self, path: Path) -> tuple[int, int]:
        self.paths.append(path)
        if self.free < 0:
            raise OSError("statvfs failed")
        return self.free, 10 * GIB


class Harness:
    def __init__(self, tmp_path: Path, free: int) -> None:
        self.ami = ActionRecorder()
        self.events: list[EventLike] = []
        self.audit: list[AuditEntry] = []
        self.disk = Disk(free)
        self.calls = {c: connected_call(c)
                      for c in ("1733012345.1", "1733012345.2", "1733012345.3")}

        async def audit(entry: AuditEntry) -> int:
            self.audit.append(entry)
            return len(self.audit)

        self.rec = Recorder(_cfg(tmp_path, "min_free_mb = 100\n"), self.ami, self.events.extend,
                            lambda: self.calls, wall=lambda: T0 + 30, audit=audit,
                            disk_usage=self.disk)

    def of(self, event_type: str) -> list[dict[str, object]]:
        for e in self.events:
            assert errors(dict(e.data), schema_name(e.type)) == [], e
        return [dict(e.data) for e in self.events if e.type == event_type]


async def test_below_the_threshold_no_new_recording_starts(tmp_path: Path) -> None:
    h = Harness(tmp_path, 500 * MIB)
    one, two, three = h.calls.values()
    async with asyncio.TaskGroup() as tg:
        h.rec.bind(tg)
        h.rec.on_changes([connected(one)], T0)  # recorded: there is room
        await asyncio.sleep(0.01)
        h.disk.free = 99 * MIB
        assert not await h.rec.check_disk()  # the periodic check: alert without a call
        h.rec.on_changes([connected(two)], T0 + 1)
        await asyncio.sleep(0.01)
        _write_files(tmp_path, one.call_id)
        h.rec.on_changes([CallEnded(one.call_id, T0 + 20), CallEnded(two.call_id, T0 + 20)],
                         T0 + 20)
        await asyncio.sleep(0.01)
        h.disk.free = 200 * MIB
        h.rec.on_changes([connected(three)], T0 + 21)
    assert [s[1]["Channel"] for s in h.ami.sent] == ["PJSIP/customer1-00000001"] * 2
    assert [s[1]["Options"].count(c.call_id) for s in h.ami.sent for c in (one, three)] == [
        2, 0, 0, 2]  # one MixMonitor for call one, one for call three: none for call two
    # Call one, already recording, closed complete all the same.
    assert [(d["call_id"], d["state"]) for d in h.of("recording.completed")] == [
        (one.call_id, "complete")] * 2
    failed = h.of("recording.failed")
    assert [(d["call_id"], d["leg"], d["state"]) for d in failed] == [
        (two.call_id, "customer", "missing"), (two.call_id, "agent", "missing")]
    assert failed[0]["reason"] == (f"disk guard: 99 MiB free in {tmp_path}, below the 100 MiB "
                                   "threshold")
    assert [(d["state"], d["severity"], d["free_bytes"]) for d in h.of("recording.disk_low")] == [
        ("low", "alert", 99 * MIB), ("ok", "info", 200 * MIB)]
    assert [(a.action, a.call_id, str(a.actor), dict(a.detail)) for a in h.audit] == [
        ("recording.refused", two.call_id, "system:disk_guard",
         {"free_bytes": 99 * MIB, "threshold_bytes": 100 * MIB, "path": str(tmp_path)})]
    health = h.rec.health()
    assert health["refused"] == 1 and health["started"] == 4
    assert health["disk"] == {"state": "ok", "free_bytes": 200 * MIB,
                              "threshold_bytes": 100 * MIB, "checked_at": T0 + 30}
    assert set(h.disk.paths) == {tmp_path}


async def test_a_failed_reading_keeps_the_last_state(tmp_path: Path) -> None:
    h = Harness(tmp_path, -1)
    assert await h.rec.check_disk()  # unknown: recording is not refused on a guess
    h.disk.free = 1
    assert not await h.rec.check_disk()
    h.disk.free = -1
    assert not await h.rec.check_disk()
    assert len(h.of("recording.disk_low")) == 1


async def test_the_periodic_check_publishes_only_changes(tmp_path: Path) -> None:
    cfg_text = "min_free_mb = 100\ndisk_check_interval_s = 0.01\n"
    h = Harness(tmp_path, 1)
    published = asyncio.Event()

    def submit(events: Iterable[EventLike]) -> None:
        h.events.extend(events)
        published.set()

    h.rec = Recorder(_cfg(tmp_path, cfg_text), h.ami, submit, lambda: h.calls,
                     wall=lambda: T0, disk_usage=h.disk)
    task = asyncio.create_task(h.rec.watch_disk())
    try:
        async with asyncio.timeout(5):
            await published.wait()
            published.clear()
            checks = len(h.disk.paths)
            h.disk.free = GIB
            await published.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [d["state"] for d in h.of("recording.disk_low")] == ["low", "ok"]
    assert len(h.disk.paths) > checks  # checked again, without a call
