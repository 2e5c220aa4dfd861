"""Per-leg recording of a real queue call: two files, each holding its own leg's audio.

Run: EDGEQA_SANDBOX_PORT_BASE=23000 .venv/bin/pytest -q tests/integration/test_recording.py
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import subprocess
import sys
import time
import urllib.request
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from tests.support.daemon import EVENT_TIMEOUT_S, fixture_call, is_type, make_daemon
from tests.support.hygiene import no_leaks  # noqa: F401
from tests.support.recordings import best_correlation, envelope

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]
log = logging.getLogger(__name__)

#: Covers the clean fixture's agent opening and two customer turns (6.2-10.9 s, 18.65-22 s).
TALK_S = 24.0
#: A file holds its own leg: its speech envelope follows that leg's (r >= OWN_MIN), and not
#: the other leg's (r <= CROSS_MAX).
OWN_MIN = 0.6
CROSS_MAX = 0.3
#: The slice of the stereo file asked of the API with a Range request (a seek into the call).
RANGE = (100_000, 163_999)


def _range_get(url: str, token: str, first: int, last: int) -> tuple[int, str, bytes]:
    """GET ``url`` with ``Range: bytes=first-last``: (status, Content-Type, body)."""
    req = urllib.request.Request(url, headers={"Range": f"bytes={first}-{last}",
                                               "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30.0) as resp:
        return resp.status, resp.headers["Content-Type"], resp.read()


def _channels(path: Path, tmp: Path) -> tuple[Path, Path]:
    """The left and right channels of a stereo 16-bit WAV, as two mono WAVs."""
    import numpy as np
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    out = []
    for i, name in enumerate(("left", "right")):
        mono = tmp / f"{name}.wav"
        with wave.open(str(mono), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(pcm[:, i].tobytes())
        out.append(mono)
    return out[0], out[1]


def _check_row(row: dict[str, Any], call_id: str) -> bytes:
    """The file of a complete row, whose stored size and sha256 are the file's."""
    data = Path(row["path"]).read_bytes()
    assert row["call_id"] == call_id and row["state"] == "complete", row
    assert row["sha256"] == hashlib.sha256(data).hexdigest() and row["size"] == len(data)
    assert row["codec"] == "pcm_s16le/8000" and row["ended_at"] > row["started_at"]
    assert row["queue"] and row["agent"], row
    return data


def _rows(db: Path) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return {r["leg"]: dict(r) for r in conn.execute("SELECT * FROM recordings")}
    finally:
        conn.close()


async def _recorded_call(box: Sandbox, proc: DaemonProcess, calls_dir: Path, out: Path,
                         collect: Callable[..., StreamCollector],
                         while_up: Callable[[], Awaitable[None]]) -> str:
    """Place a clean fixture call once the daemon runs; ``while_up`` runs once it records.
    Returns the call id."""
    async def recording(col: StreamCollector) -> None:
        await col.wait_for(is_type("recording.started"), EVENT_TIMEOUT_S)
        await while_up()

    _, connected = await fixture_call(box, proc, calls_dir, out, collect, recording)
    call_id: str = connected["data"]["call"]["call_id"]
    return call_id


async def _closed(proc: DaemonProcess, collect: Callable[..., StreamCollector]) -> list[str]:
    """The type of the event that closed each leg's row (customer, agent), from the stream."""
    col = collect(proc.api_url)
    return [(await col.wait_for(
        lambda e, leg=leg: e["type"] in ("recording.completed", "recording.failed")
        and e["data"]["leg"] == leg, EVENT_TIMEOUT_S))["type"] for leg in ("customer", "agent")]


def _closed_rows(proc: DaemonProcess, status: int | None, done: list[str],
                 db: Path) -> dict[str, dict[str, Any]]:
    """After a clean stop with both legs completed: the store's row of each leg."""
    assert status == 0, proc.log()
    assert done == ["recording.completed"] * 2, done
    rows = _rows(db)
    assert set(rows) == {"customer", "agent"}
    return rows


async def test_a_queue_call_is_recorded_per_leg_on_the_switch(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    proc = make_daemon(running_sandbox, tmp_path, live=False)
    proc.start()
    calls_dir = data_dir / "calls"
    started = time.time()
    seen: list[dict[str, Any]] = []

    async def talk() -> None:
        await asyncio.sleep(2.0)
        seen.extend(proc.get("/v1/calls")["calls"][0]["channels"])
        await asyncio.sleep(TALK_S - (time.time() - started))

    try:
        call_id = await _recorded_call(running_sandbox, proc, calls_dir, tmp_path / "call",
                                       collect, talk)
        done = await _closed(proc, collect)
        # A browser seeking into the call: the daemon serves the stereo file by range.
        ranged = await blocking(
            _range_get, f"{proc.api_url}/v1/calls/{call_id}/recording", proc.token(), *RANGE)
    finally:
        status = await blocking(proc.stop)
    rows = _closed_rows(proc, status, done, tmp_path / "d" / "edgeqa.db")
    stereo = tmp_path / "stereo.wav"
    export = await blocking(lambda: subprocess.run([
        sys.executable, "-m", "edgeqa", "export", call_id, "--stereo", str(stereo),
        "--config", str(proc.config)], capture_output=True, text=True, timeout=60))
    assert export.returncode == 0, export.stderr
    exported = stereo.read_bytes()
    assert ranged[:2] == (206, "audio/wav")
    assert ranged[2] == exported[RANGE[0]:RANGE[1] + 1] and len(ranged[2]) == 64_000
    left, right = _channels(stereo, tmp_path)
    # The tracker saw MixMonitorStart on the customer channel (and only there).
    assert {c["role"]: c["recording"] for c in seen} == {"customer": True, "agent": False}, seen
    played = {leg: envelope(calls_dir / f"clean.{leg}.wav") for leg in ("customer", "agent")}
    for leg, row in rows.items():
        path = Path(row["path"])
        data = _check_row(row, call_id)
        rec = envelope(path)
        own, own_lag = best_correlation(rec, played[leg])
        other = "agent" if leg == "customer" else "customer"
        cross, _ = best_correlation(rec, played[other])
        log.info("%s file %s: %d bytes, %.1f s; r(own)=%.3f at %+.2f s, r(other)=%.3f",
                 leg, path.name, len(data), len(rec) * 0.05, own, own_lag, cross)
        assert len(rec) * 0.05 >= TALK_S - 3.0, (leg, len(rec))
        assert own >= OWN_MIN and cross <= CROSS_MAX, (leg, own, cross)
    # The exported stereo file: customer left, agent right.
    for leg, channel in (("customer", left), ("agent", right)):
        rec = envelope(channel)
        own, _ = best_correlation(rec, played[leg])
        cross, _ = best_correlation(rec, played["agent" if leg == "customer" else "customer"])
        log.info("stereo %s channel: r(own)=%.3f, r(other)=%.3f", leg, own, cross)
        assert own >= OWN_MIN and cross <= CROSS_MAX, (leg, own, cross)


async def test_a_daemon_killed_mid_call_closes_the_rows_on_its_next_run(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    proc = make_daemon(running_sandbox, tmp_path, live=False)

    async def kill_the_daemon() -> None:
        await asyncio.sleep(2.0)
        await blocking(proc.kill)  # SIGKILL: the rows stay "recording"
        await asyncio.sleep(4.0)  # Asterisk records on without the daemon

    proc.start()
    try:
        call_id = await _recorded_call(running_sandbox, proc, data_dir / "calls",
                                       tmp_path / "call", collect, kill_the_daemon)
        assert {r["state"] for r in _rows(tmp_path / "d" / "edgeqa.db").values()} == {
            "recording"}
        proc.start()  # the call ended while no daemon ran
        await blocking(proc.wait_ready)
        done = await _closed(proc, collect)
    finally:
        status = await blocking(proc.stop)
    rows = _closed_rows(proc, status, done, tmp_path / "d" / "edgeqa.db")
    sizes = {leg: len(_check_row(row, call_id)) for leg, row in rows.items()}
    log.info("after the kill and restart: %s", sizes)
    # The files hold the whole call (about 6 s of 8 kHz 16-bit audio), not what was written
    # before the kill.
    assert min(sizes.values()) >= 5 * 16000, sizes


async def test_a_call_the_policy_excludes_gets_no_mixmonitor(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    proc = make_daemon(running_sandbox, tmp_path, live=False,
                       recording_policy='exclude_queues = ["support"]\n')
    channels: list[dict[str, Any]] = []

    async def look(col: StreamCollector) -> None:
        await asyncio.sleep(3.0)
        channels.extend(proc.get("/v1/calls")["calls"][0]["channels"])

    proc.start()
    try:
        col, connected = await fixture_call(running_sandbox, proc, data_dir / "calls",
                                            tmp_path / "call", collect, look)
        await col.wait_for(is_type("call.ended"), EVENT_TIMEOUT_S)
        health = proc.get("/v1/health")["recording"]
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    assert connected["data"]["call"]["queue"] == "support"
    assert [e for e in col.events if e["type"].startswith("recording.")] == []
    assert [c["recording"] for c in channels] == [False] * len(channels)  # no MixMonitorStart
    assert health["skipped"] == 1 and health["started"] == 0, health
    assert _rows(tmp_path / "d" / "edgeqa.db") == {}
