"""Recording administration on the real sandbox: the disk guard, retention and legal hold.

Run: EDGEQA_SANDBOX_PORT_BASE=17000 .venv/bin/pytest -q tests/integration/test_recording_admin.py
The disk-guard test mounts a tmpfs (root only; skipped otherwise).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import Envelope, StreamCollector
from edgeqa.sandbox.instance import asterisk_ids
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from tests.support.daemon import (
    EVENT_TIMEOUT_S,
    call_in_state,
    is_type,
    make_daemon,
)
from tests.support.hygiene import no_leaks  # noqa: F401
from tests.support.recordings import (
    OWN_LEG_MIN_R,
    best_correlation,
    check_complete_row,
    envelope,
)
from tests.support.unavailable import unavailable

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]
log = logging.getLogger(__name__)

MIB = 1024 * 1024
#: The recording filesystem of the disk-guard test, and the guard's threshold on it.
TMPFS_MIB = 64
MIN_FREE_MIB = 32
#: Left free by the filler file: below the threshold, room for the running call's files.
FILLED_FREE_MIB = 16
#: Call 1 covers the clean fixture's agent opening and two customer turns (6.2-10.9 s,
#: 18.65-22 s), so that each file's envelope can be matched to its leg.
TALK_S = 24.0


def _db_rows(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def _recordings(db: Path, call_id: str) -> dict[str, dict[str, Any]]:
    return {r["leg"]: r for r in _db_rows(db, "SELECT * FROM recordings WHERE call_id = ?",
                                          call_id)}


def _audit(db: Path, action: str) -> list[dict[str, Any]]:
    rows = _db_rows(db, "SELECT * FROM audit WHERE action = ? ORDER BY id", action)
    for row in rows:
        row["detail"] = json.loads(row["detail"])
    return rows


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _of_call(call_id: str, *types: str) -> Callable[[Envelope], bool]:
    return lambda e: e["type"] in types and e["data"].get("call_id") == call_id


def _connected_other(known: set[str]) -> Callable[[Envelope], bool]:
    """A call connected that is none of ``known``."""
    return lambda e: (call_in_state("connected")(e)
                      and e["data"]["call"]["call_id"] not in known)


async def _short_call(box: Sandbox, calls_dir: Path, out: Path, col: StreamCollector,
                      known: set[str], talk_s: float = 3.0) -> str:
    """A fixture call through the queue, recorded for ``talk_s``, hung up, both legs closed
    complete; its call id (one of none of ``known``)."""
    phones = FixtureCall(box, calls_dir, out)
    try:
        await blocking(phones.start)
        call_id: str = (await col.wait_for(_connected_other(known), EVENT_TIMEOUT_S)
                        )["data"]["call"]["call_id"]
        await col.wait_for(_of_call(call_id, "recording.started"), EVENT_TIMEOUT_S)
        await asyncio.sleep(talk_s)
        await blocking(phones.finish)
    finally:
        await blocking(phones.close)
    for leg in ("customer", "agent"):
        await col.wait_for(lambda e, leg=leg: _of_call(call_id, "recording.completed")(e)
                           and e["data"]["leg"] == leg, EVENT_TIMEOUT_S)
    return call_id


def _edgeqa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeqa", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def small_disk(running_sandbox: Sandbox) -> Iterator[tuple[str, Path]]:
    """A TMPFS_MIB tmpfs as the recording directory (as Asterisk and the host see it),
    writable by the chrooted Asterisk; unmounted after the test, always."""
    if os.geteuid() != 0:
        unavailable("mounting a tmpfs needs root")
    inner = running_sandbox.paths.chroot / "spool" / "edgeqa-small-disk"
    host = running_sandbox.paths.host_path(inner)
    host.mkdir(parents=True, exist_ok=True)
    uid, gid = asterisk_ids(running_sandbox.paths.rootfs)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MIB}m,mode=0755,uid={uid},"
                    f"gid={gid}", "edgeqa-test", str(host)], check=True, timeout=30)
    try:
        yield str(inner), host
    finally:
        if subprocess.run(["umount", str(host)], timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(host)], timeout=30)


def _fill(directory: Path, leave_free_mib: int) -> Path:
    """Write a filler file that leaves about ``leave_free_mib`` free on ``directory``'s fs."""
    filler = directory / "filler.bin"
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
    chunk = b"\0" * MIB
    with open(filler, "wb") as f:
        for _ in range(max(free // MIB - leave_free_mib, 0)):
            f.write(chunk)
    return filler


async def test_a_full_disk_refuses_new_recordings_and_spares_the_running_one(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector], small_disk: tuple[str, Path]) -> None:
    box, calls_dir = running_sandbox, data_dir / "calls"
    proc = make_daemon(box, tmp_path, live=False, recordings=small_disk,
                       recording_policy=f"min_free_mb = {MIN_FREE_MIB}\n"
                                        "disk_check_interval_s = 0.5\n")
    db = tmp_path / "d" / "edgeqa.db"
    proc.start()
    first = FixtureCall(box, calls_dir, tmp_path / "call1", customer="customer1",
                        agent="agent1", exten="6001")
    second = FixtureCall(box, calls_dir, tmp_path / "call2", customer="customer2",
                         agent="agent2", exten="6002")
    filler: Path | None = None
    try:
        await blocking(proc.wait_ready)
        col = collect(proc.api_url)
        await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        # Call 1 records with room to spare.
        await blocking(first.start)
        talk_started = time.monotonic()
        call1 = (await col.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
                 )["data"]["call"]["call_id"]
        await col.wait_for(_of_call(call1, "recording.started"), EVENT_TIMEOUT_S)
        # The disk fills up: the guard's periodic check raises the alert without a call.
        filler = await blocking(_fill, small_disk[1], FILLED_FREE_MIB)
        low = await col.wait_for(is_type("recording.disk_low"), EVENT_TIMEOUT_S)
        assert low["data"]["state"] == "low" and low["data"]["severity"] == "alert", low
        assert low["data"]["threshold_bytes"] == MIN_FREE_MIB * MIB
        assert low["data"]["free_bytes"] < MIN_FREE_MIB * MIB
        assert proc.get("/v1/health")["recording"]["disk"]["state"] == "low"
        # Call 2 is not recorded: both legs closed missing, saying why.
        await blocking(second.start)
        call2 = (await col.wait_for(_connected_other({call1}), EVENT_TIMEOUT_S)
                 )["data"]["call"]["call_id"]
        refused = [await col.wait_for(lambda e, leg=leg: _of_call(call2, "recording.failed")(e)
                                      and e["data"]["leg"] == leg, EVENT_TIMEOUT_S)
                   for leg in ("customer", "agent")]
        await asyncio.sleep(2.0)
        await blocking(second.finish)
        # Call 1 talks on to the end of the fixture's turns, then hangs up.
        await asyncio.sleep(max(TALK_S - (time.monotonic() - talk_started), 0.0))
        await blocking(first.finish)
        done1 = [await col.wait_for(lambda e, leg=leg: _of_call(
            call1, "recording.completed", "recording.failed")(e) and e["data"]["leg"] == leg,
            EVENT_TIMEOUT_S) for leg in ("customer", "agent")]
        # Space is back: the guard recovers by itself, and call 3 is recorded.
        await blocking(filler.unlink)
        ok = await col.wait_for(lambda e: is_type("recording.disk_low")(e)
                                and e["data"]["state"] == "ok", EVENT_TIMEOUT_S)
        assert ok["data"]["severity"] == "info" and ok["data"]["free_bytes"] > MIN_FREE_MIB * MIB
        call3 = await _short_call(box, calls_dir, tmp_path / "call3", col, {call1, call2})
        health = proc.get("/v1/health")["recording"]
    finally:
        first.close()
        second.close()
        if filler is not None:
            filler.unlink(missing_ok=True)
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    assert [e["type"] for e in done1] == ["recording.completed"] * 2, done1
    assert health["refused"] == 1 and health["disk"]["state"] == "ok", health
    # Call 1, recording when the disk filled up, is intact: hashes right, each leg its audio.
    rows1 = _recordings(db, call1)
    for leg, row in rows1.items():
        check_complete_row(row, call1)
        own, _ = best_correlation(envelope(Path(row["path"])),
                                  envelope(calls_dir / f"clean.{leg}.wav"))
        log.info("call 1 %s: %d bytes, r(own)=%.3f", leg, row["size"], own)
        assert own >= OWN_LEG_MIN_R, (leg, own)
    # Call 2: missing rows saying why, no file, and the refusal audited.
    rows2 = _recordings(db, call2)
    assert {r["state"] for r in rows2.values()} == {"missing"}, rows2
    assert all(r["reason"].startswith("disk guard: ") for r in rows2.values()), rows2
    assert [e["data"]["reason"] for e in refused] == [rows2[leg]["reason"]
                                                       for leg in ("customer", "agent")]
    assert not any(_exists(r["path"]) for r in rows2.values())
    audit = _audit(db, "recording.refused")
    assert [(a["call_id"], a["actor_kind"], a["actor_name"]) for a in audit] == [
        (call2, "system", "disk_guard")]
    assert audit[0]["detail"]["threshold_bytes"] == MIN_FREE_MIB * MIB
    assert audit[0]["detail"]["free_bytes"] < MIN_FREE_MIB * MIB
    # Call 3, once there was room again: recorded whole.
    for row in _recordings(db, call3).values():
        check_complete_row(row, call3)


def _put_legal_hold(url: str, token: str, reason: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, method="PUT", data=json.dumps({"reason": reason}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10.0) as resp:
        return resp.status, json.loads(resp.read())


async def test_retention_deletes_old_files_audits_them_and_spares_a_call_on_legal_hold(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    proc = make_daemon(running_sandbox, tmp_path, live=False,
                       recording_policy="retention_days = 30\n")
    db = tmp_path / "d" / "edgeqa.db"
    conf = str(proc.config)
    proc.start()
    try:
        await blocking(proc.wait_ready)
        col = collect(proc.api_url)
        await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        kept = await _short_call(running_sandbox, data_dir / "calls", tmp_path / "call1", col,
                                 set())
        old = await _short_call(running_sandbox, data_dir / "calls", tmp_path / "call2", col,
                                {kept})
        calls = [kept, old]
        status, body = await blocking(
            _put_legal_hold, f"{proc.api_url}/v1/calls/{kept}/legal-hold", proc.token(),
            "case 4711")
        assert status == 201, body
        assert re.fullmatch(r"api:local#\d+", body["legal_hold"]["set_by"]), body
        # The daemon purges by itself: a second process must not write its stream.
        refused = await blocking(_edgeqa, "recordings", "purge", "-c", conf)
        assert refused.returncode == 1 and "daemon is running" in refused.stderr
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    before = {c: _recordings(db, c) for c in calls}
    # 31 days on, as of the calls' time: the old call's files are due, not the held one's.
    later = datetime.fromtimestamp(time.time() + 31 * 86400, UTC).isoformat()
    dry = await blocking(_edgeqa, "recordings", "purge", "--dry-run", "--now", later, "-c",
                         conf)
    assert dry.returncode == 0, dry.stderr
    assert sorted(line.split()[2:4] for line in dry.stdout.splitlines()) == [
        [old, "agent"], [old, "customer"]], dry.stdout
    assert all(_exists(r["path"]) for r in before[old].values())
    purge = await blocking(_edgeqa, "recordings", "purge", "--now", later, "-c", conf)
    assert purge.returncode == 0, purge.stderr
    assert "2 files deleted" in purge.stderr, purge.stderr
    after = {c: _recordings(db, c) for c in calls}
    for leg, row in after[old].items():
        assert row["state"] == "deleted" and not _exists(row["path"]), row
        assert row["reason"] == "retention: older than 30 days (global)", row
        assert row["sha256"] == before[old][leg]["sha256"]  # what the file held, kept
    for row in after[kept].values():
        check_complete_row(row, kept)  # untouched: complete, the file there and its hash right
    deleted = _audit(db, "recording.deleted")
    assert sorted((a["call_id"], a["detail"]["leg"]) for a in deleted) == [
        (old, "agent"), (old, "customer")]
    assert {a["actor_kind"] for a in deleted} == {"cli"}
    assert [(a["call_id"], a["actor_name"].split("#")[0], a["detail"]["reason"])
            for a in _audit(db, "legal_hold.set")] == [(kept, "local", "case 4711")]
    # The listing shows both: the deleted rows, and the call on legal hold.
    listing = await blocking(_edgeqa, "recordings", "-c", conf)
    lines = listing.stdout.splitlines()
    assert all("[legal hold]" in line for line in lines if kept in line), lines
    assert all("  deleted  " in line for line in lines if old in line), lines
    # The legal hold cleared (audited), the next purge takes the other call too.
    cleared = await blocking(_edgeqa, "recordings", "legal-hold", kept, "--clear", "-c", conf)
    assert cleared.returncode == 0, cleared.stderr
    assert [a["call_id"] for a in _audit(db, "legal_hold.cleared")] == [kept]
    again = await blocking(_edgeqa, "recordings", "purge", "--now", later, "-c", conf)
    assert again.returncode == 0 and "2 files deleted" in again.stderr, again.stderr
    assert {r["state"] for r in _recordings(db, kept).values()} == {"deleted"}


async def test_the_daemon_purges_by_itself_on_the_stream(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    # A retention of 0.0001 day (8.64 s), checked every second: the daemon's own job.
    proc = make_daemon(running_sandbox, tmp_path, live=False,
                       recording_policy="retention_days = 0.0001\nretention_interval_s = 1\n")
    db = tmp_path / "d" / "edgeqa.db"
    proc.start()
    try:
        await blocking(proc.wait_ready)
        col = collect(proc.api_url)
        await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        call_id = await _short_call(running_sandbox, data_dir / "calls", tmp_path / "call", col,
                                    set())
        deleted = [await col.wait_for(lambda e, leg=leg: _of_call(call_id, "recording.deleted")(e)
                                      and e["data"]["leg"] == leg, EVENT_TIMEOUT_S + 10)
                   for leg in ("customer", "agent")]
        health = proc.get("/v1/health")["retention"]
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    for event in deleted:  # each checked against schemas/recording.deleted.v1.json on receipt
        data = event["data"]
        assert data["state"] == "deleted" and not _exists(data["path"]), data
        assert data["reason"] == "retention: older than 0.0001 days (global)", data
    rows = _recordings(db, call_id)
    assert {r["state"] for r in rows.values()} == {"deleted"}
    assert (health["active"], health["deleted"], health["failed"]) == (True, 2, 0), health
    assert sorted((a["call_id"], a["detail"]["leg"], a["actor_kind"], a["actor_name"])
                  for a in _audit(db, "recording.deleted")) == [
        (call_id, "agent", "system", "retention"), (call_id, "customer", "system", "retention")]
