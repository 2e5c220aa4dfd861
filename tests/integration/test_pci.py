"""PCI pause on a real queue call: by the CLI and by the agent's feature code (*71 / *72).

The recordings hold digital silence for each paused span (measured against what the phone
played there), nothing is lost outside it, and each pause and resume is in the audit trail
with who asked.

Run: EDGEQA_SANDBOX_PORT_BASE=23000 .venv/bin/pytest -q tests/integration/test_pci.py
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from tests.support.daemon import EVENT_TIMEOUT_S, call_in_state, is_type, make_daemon
from tests.support.hygiene import no_leaks  # noqa: F401
from tests.support.recordings import best_correlation, envelope

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]
log = logging.getLogger(__name__)

#: When (seconds of the fixture's playback) each action is asked: the CLI pause covers the
#: customer's turn 6.2-10.9 s, the DTMF pause the customer's 18.65-22 s and the agent's
#: 23.3-26.2 s; the customer's turn 27.6-31 s is after the last resume.
CLI_PAUSE_S, CLI_RESUME_S = 5.5, 11.5
DTMF_PAUSE_S, DTMF_RESUME_S = 17.5, 27.0
HANG_UP_S = 32.0
#: Margin inside each paused span for the action's own latency (API, AMI, DTMF detection).
MARGIN_S = 0.5
RATE = 8000


def _pcm(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE), path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int32)


def _dbfs(pcm: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0
    return 20 * np.log10(max(rms / 32768.0, 1e-9))


def _cli(proc: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeqa", *args, "--config", str(proc.config)],
                          capture_output=True, text=True, timeout=30)


async def _at(play_start: float, t_s: float) -> None:
    await asyncio.sleep(max(0.0, play_start + t_s - time.time()))


async def test_pci_pause_by_cli_and_by_the_agents_feature_code(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    proc = make_daemon(running_sandbox, tmp_path)
    proc.start()
    calls_dir = data_dir / "calls"
    try:
        await blocking(proc.wait_ready)
        col = collect(proc.api_url)
        await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        phones = FixtureCall(running_sandbox, calls_dir, tmp_path / "call")
        try:
            await blocking(phones.start)
            play_start = time.time()
            connected = await col.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
            call_id = connected["data"]["call"]["call_id"]
            await col.wait_for(is_type("recording.started"), EVENT_TIMEOUT_S)
            await _at(play_start, CLI_PAUSE_S)
            paused = await blocking(_cli, proc, "pci", "pause", call_id, "--by", "qa-lead")
            assert paused.returncode == 0, paused.stderr
            assert "paused (recording muted)" in paused.stdout, paused.stdout
            again = await blocking(_cli, proc, "pci", "pause", call_id)
            assert again.returncode == 1 and "already paused" in again.stderr, again
            await _at(play_start, CLI_RESUME_S)
            resumed = await blocking(_cli, proc, "pci", "resume", call_id, "--by", "qa-lead")
            assert resumed.returncode == 0, resumed.stderr
            await _at(play_start, DTMF_PAUSE_S)
            await blocking(phones.agent.send_dtmf, "*71")
            await col.wait_for(lambda e: is_type("call.pci_paused")(e)
                               and e["data"]["by"]["kind"] == "dtmf", EVENT_TIMEOUT_S)
            await _at(play_start, DTMF_RESUME_S)
            await blocking(phones.agent.send_dtmf, "*72")
            await col.wait_for(lambda e: is_type("call.pci_resumed")(e)
                               and e["data"]["by"]["kind"] == "dtmf", EVENT_TIMEOUT_S)
            await _at(play_start, HANG_UP_S)
            await blocking(phones.finish)
        finally:
            await blocking(phones.close)
        for leg in ("customer", "agent"):
            await col.wait_for(lambda e, leg=leg: e["type"] == "recording.completed"
                               and e["data"]["leg"] == leg, EVENT_TIMEOUT_S)
        stream = list(col.events)
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    audit = _cli(proc, "audit", "--call", call_id, "--json")
    assert audit.returncode == 0, audit.stderr
    entries = [json.loads(line) for line in audit.stdout.splitlines()]
    local = entries[0]["actor_name"]  # the daemon's local token, that `edgeqa pci` sends
    assert re.fullmatch(r"local#\d+", local), local
    assert [(e["action"], e["actor_kind"], e["actor_name"]) for e in entries] == [
        ("pci.pause", "cli", local), ("pci.resume", "cli", local),
        ("pci.pause", "dtmf", "PJSIP/agent1"), ("pci.resume", "dtmf", "PJSIP/agent1")]
    spans = [(entries[i]["at"] - play_start, entries[i + 1]["at"] - play_start)
             for i in (0, 2)]
    log.info("paused spans (s of playback): %s", [(round(a, 2), round(b, 2)) for a, b in spans])
    pci = [e for e in stream if e["type"].startswith("call.pci_")]
    assert [e["type"] for e in pci] == ["call.pci_paused", "call.pci_resumed"] * 2
    assert all(e["data"]["recording_muted"] for e in pci[::2])
    # No leg.sample is computed from a paused span: each second inside it says paused, with
    # no audio values; the seconds around it carry audio.
    paused_t = [(pci[i]["data"]["t_s"], pci[i + 1]["data"]["t_s"]) for i in (0, 2)]
    samples = [e["data"] for e in stream if e["type"] == "leg.sample"
               and e["data"]["call_id"] == call_id]
    inside = [s for s in samples for a, b in paused_t if a + 1.0 <= s["t_s"] <= b - 2.0]
    assert len(inside) >= 2 * (6 + 9 - 6), len(inside)  # both legs, each second
    assert all(s["paused"] and s["rms_dbov"] is None for s in inside), inside
    heard = [s for s in samples if not s["paused"]]
    assert heard and all(s["rms_dbov"] is not None for s in heard)
    _check_recordings(tmp_path / "d" / "edgeqa.db", calls_dir, call_id, spans)


def _check_recordings(db: Path, calls_dir: Path, call_id: str,
                      spans: list[tuple[float, float]]) -> None:
    """Each leg's file: digital silence inside each paused span, where the phone played
    speech; the phone's audio outside them."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = {r["leg"]: dict(r) for r in conn.execute(
            "SELECT * FROM recordings WHERE call_id = ?", (call_id,))}
    finally:
        conn.close()
    assert {leg: r["state"] for leg, r in rows.items()} == {"customer": "complete",
                                                           "agent": "complete"}
    # Both files come from one MixMonitor: one timeline. Line it up with the playback on the
    # agent's opening turn (0.5-4.4 s, before any pause): played time t is at t - lag_s.
    opening = envelope(Path(rows["agent"]["path"]))[:int(CLI_PAUSE_S / 0.05)]
    r, lag_s = best_correlation(opening, envelope(calls_dir / "clean.agent.wav"))
    log.info("recording vs playback: r=%.3f at %+.2f s", r, lag_s)
    assert r >= 0.8, r
    spoke_in_pause = {"customer": 0.0, "agent": 0.0}
    for leg, row in rows.items():
        recorded, played = _pcm(Path(row["path"])), _pcm(calls_dir / f"clean.{leg}.wav")
        for start, end in spans:
            a, b = start + MARGIN_S, end - MARGIN_S
            rec = recorded[int((a - lag_s) * RATE):int((b - lag_s) * RATE)]
            src = played[int(a * RATE):int(b * RATE)]
            log.info("%s pause %.2f-%.2f s: recorded %.1f dBFS (%d of %d samples non-zero), "
                     "played %.1f dBFS", leg, a, b, _dbfs(rec), int(np.count_nonzero(rec)),
                     len(rec), _dbfs(src))
            assert len(rec) >= (b - a) * RATE - 1 and np.count_nonzero(rec) == 0, leg
            spoke_in_pause[leg] = max(spoke_in_pause[leg], _dbfs(src))
        # After the last resume the leg is recorded again: the customer's turn 27.6-31 s.
        if leg == "customer":
            tail = recorded[int((27.8 - lag_s) * RATE):int((30.8 - lag_s) * RATE)]
            assert _dbfs(tail) > -45.0, _dbfs(tail)
    # The paused spans held speech of both legs: the silence is the pause, not the fixture.
    assert min(spoke_in_pause.values()) > -45.0, spoke_in_pause
