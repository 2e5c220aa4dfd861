"""PCI pause of a live-tapped call: no leg.sample is computed from the paused span.

The taps are gated while the call is paused (by the CLI, as an agent's supervisor would): each
leg's samples in the span say ``paused`` and hold no audio values, no sample of audio overlaps
it, and the call's one live call.summary lists it as paused (not a gap, not partial).

Run: EDGEQA_SANDBOX_PORT_BASE=16000 .venv/bin/pytest -q tests/integration/test_live_pause.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.store import schema_name
from tests.support.daemon import EVENT_TIMEOUT_S, fixture_call, make_daemon
from tests.support.hygiene import no_leaks  # noqa: F401
from tests.support.schemas import errors

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]

#: Seconds after the call is connected: pause, resume, hang up.
PAUSE_AFTER_S, PAUSED_FOR_S, THEN_S = 4.0, 5.0, 3.0


def _cli(proc: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeqa", *args, "--config", str(proc.config)],
                          capture_output=True, text=True, timeout=30)


async def test_a_paused_span_gives_paused_samples_and_is_listed_apart(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    proc = make_daemon(running_sandbox, tmp_path, record=False)  # the live gate alone
    proc.start()
    call_id = ""

    async def while_up(col: StreamCollector) -> None:
        nonlocal call_id
        sample = await col.wait_for(lambda e: e["type"] == "leg.sample", EVENT_TIMEOUT_S)
        call_id = sample["data"]["call_id"]  # tapped
        await asyncio.sleep(PAUSE_AFTER_S)
        paused = await blocking(_cli, proc, "pci", "pause", call_id, "--by", "qa")
        assert paused.returncode == 0, paused.stderr
        await asyncio.sleep(PAUSED_FOR_S)
        resumed = await blocking(_cli, proc, "pci", "resume", call_id, "--by", "qa")
        assert resumed.returncode == 0, resumed.stderr
        await asyncio.sleep(THEN_S)

    try:
        col, _ = await fixture_call(running_sandbox, proc, data_dir / "calls",
                                    tmp_path / "call", collect, while_up)
        await col.wait_for(lambda e: e["type"] == "call.summary"
                           and e["data"]["call_id"] == call_id, EVENT_TIMEOUT_S)
        mine = [e for e in col.events if e["data"].get("call_id") == call_id]
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    (pause_ev,) = [e["data"] for e in mine if e["type"] == "call.pci_paused"]
    (resume_ev,) = [e["data"] for e in mine if e["type"] == "call.pci_resumed"]
    start, end = pause_ev["t_s"], resume_ev["t_s"]
    assert end - start == pytest.approx(PAUSED_FOR_S, abs=1.0)
    (summary_env,) = [e for e in mine if e["type"] == "call.summary"]
    data = summary_env["data"]
    assert errors(data, schema_name("call.summary")) == []
    assert data["source"] == "live" and data["partial"] is False
    summary: dict[str, Any] = data["summary"]
    [span] = summary["paused"]
    # The live analysis pauses where the pause was asked (to 20 ms, or the audio analysed).
    assert span["start"] == pytest.approx(start, abs=0.1)
    assert span["end"] == pytest.approx(end, abs=0.1)
    assert summary["gaps"] == [] and summary["paused_s"] == pytest.approx(end - start, abs=0.2)
    for leg in ("customer", "agent"):
        assert not [s for s in summary["legs"][leg]["speech_segments"]
                    if s[0] < span["end"] and s[1] > span["start"]]
        samples = [e["data"] for e in mine if e["type"] == "leg.sample"
                   and e["data"]["leg"] == leg]
        for s in samples:
            assert errors(s, schema_name("leg.sample")) == [], s
        paused = [s for s in samples if s["paused"]]
        heard = [s for s in samples if not s["paused"]]
        assert sum(s["covered_s"] for s in paused) == pytest.approx(
            span["end"] - span["start"], abs=0.01)
        assert all(s["rms_dbov"] is None and s["speech_fraction"] == 0.0 for s in paused)
        assert all(span["start"] - 1e-6 <= s["t_s"] and
                   s["t_s"] + s["covered_s"] <= span["end"] + 1e-6 for s in paused)
        assert not [s for s in heard if s["t_s"] < span["end"] - 1e-6
                    and s["t_s"] + s["covered_s"] > span["start"] + 1e-6]
        assert [s for s in heard if s["t_s"] >= span["end"]]  # analysed again after it
