"""POST /v1/spy on the real sandbox: the supervisor's pjsua2 phone rings (latency measured),
answers, and the daemon's FastAGI handler puts it on agent1's exact channel with ChanSpy;
PATCH switches the mode through PlayDTMF (checked on what the agent and the customer phones
recorded: who hears the supervisor's tone in listen, whisper, barge), DELETE hangs the spy up;
every step audited; the supervisor's recording holds the supervisor's tone.

Run: EDGEQA_SANDBOX_PORT_BASE=23000 .venv/bin/pytest -q tests/integration/test_spy_api.py
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
import urllib.request
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess, write_config
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from tests.support.daemon import (
    API_PORT_OFFSET,
    DAEMONS,
    EVENT_TIMEOUT_S,
    RTP_PORT_OFFSET,
    call_in_state,
    is_type,
)
from tests.support.hygiene import no_leaks  # noqa: F401
from tests.support.phones import SoftphoneFactory

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]
log = logging.getLogger(__name__)

#: The daemon's FastAGI port, from the sandbox's port base (the Originate's AGI URL names it;
#: SandboxPorts.agi of h11-agi's sandbox).
AGI_PORT_OFFSET = 980
RING_TIMEOUT_S = 10.0


def _daemon(box: Sandbox, tmp_path: Path) -> DaemonProcess:
    port = box.ports.base + API_PORT_OFFSET
    extra = ('[logging]\nlevel = "INFO"\n'
             '[auth.teams]\nnorth = ["PJSIP/agent1"]\n'
             '[spy.supervisors]\n"PJSIP/supervisor1" = { teams = ["north"] }\n')
    conf = write_config(tmp_path / "d", ami=box.ami, ari=box.ari, api_port=port, extra=extra,
                        live=False, rtp_port=box.ports.base + RTP_PORT_OFFSET,
                        recordings=box.recordings)
    if "[agi]" not in conf.read_text():  # else write_config gave the sandbox's AGI port
        with conf.open("a") as f:
            f.write(f"[agi]\nport = {box.ports.base + AGI_PORT_OFFSET}\n")
    proc = DaemonProcess(conf, port, tmp_path / "d" / "daemon.log")
    DAEMONS[proc.api_url] = proc
    return proc


TONE_HZ = 1900.0
#: Seconds spent in each mode before the next step.
MODE_S = 2.0


def _tone(path: Path) -> Path:
    """One second of a TONE_HZ sine (8 kHz, 16-bit): what the supervisor says."""
    t = np.arange(8000) / 8000.0
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * TONE_HZ * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm.tobytes())
    return path


def _tone_share(path: Path, window: tuple[float, float]) -> float:
    """The share of the energy in ``window`` (seconds of the recording) at TONE_HZ +- 50 Hz."""
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    part = pcm[int(window[0] * rate):int(window[1] * rate)]
    assert len(part) > rate // 2, (path, window, len(pcm) / rate)
    power = np.abs(np.fft.rfft(part * np.hanning(len(part)))) ** 2
    freqs = np.fft.rfftfreq(len(part), 1.0 / rate)
    band = (freqs > TONE_HZ - 50) & (freqs < TONE_HZ + 50)
    return float(power[band].sum() / max(power.sum(), 1e-9))


def _api(proc: DaemonProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        proc.api_url + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {proc.token()}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_post_spy_rings_the_supervisor_and_spies_on_agent1(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        softphone: SoftphoneFactory, collect: Callable[..., StreamCollector]) -> None:
    proc = _daemon(running_sandbox, tmp_path)
    proc.start()
    try:
        await blocking(proc.wait_ready)
        col = collect(proc.api_url)
        await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        supervisor = await blocking(lambda: softphone("supervisor1", auto_answer=True))
        phones = FixtureCall(running_sandbox, data_dir / "calls", tmp_path / "call")
        try:
            await blocking(phones.start)
            rec0 = time.monotonic()  # the phones' recordings start here (give or take ms)
            connected = await col.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
            call_id = connected["data"]["call"]["call_id"]
            t0 = time.monotonic()
            status, body = await blocking(_api, proc, "POST", "/v1/spy", {
                "supervisor": "PJSIP/supervisor1", "agent": "PJSIP/agent1",
                "mode": "listen", "reason": "integration"})
            t_answered = time.monotonic()
            assert status == 201, body
            await blocking(supervisor.wait_incoming, RING_TIMEOUT_S)
            t_ringing = time.monotonic()
            log.info("POST /v1/spy answered in %.1f ms; the supervisor's phone rang %.1f ms "
                     "after the POST", (t_answered - t0) * 1000, (t_ringing - t0) * 1000)
            print(f"\nPOST /v1/spy -> 201: {(t_answered - t0) * 1000:.1f} ms; "
                  f"POST -> supervisor ringing: {(t_ringing - t0) * 1000:.1f} ms")
            spy_id = body["spy"]["id"]
            assert body["spy"]["call_id"] == call_id
            assert body["spy"]["agent_channel"].startswith("PJSIP/agent1-")
            await blocking(supervisor.wait_state, "CONFIRMED", RING_TIMEOUT_S)
            await blocking(lambda: supervisor.play(_tone(tmp_path / "tone.wav"), loop=True))
            deadline = time.monotonic() + EVENT_TIMEOUT_S
            while True:
                status, listed = await blocking(_api, proc, "GET", "/v1/spy")
                spy = next(s for s in listed["spies"] if s["id"] == spy_id)
                if spy["state"] == "active" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert spy["state"] == "active", (spy, proc.log()[-3000:])
            assert spy["spyer_channel"].startswith("PJSIP/supervisor1-")
            # The tracker sees ChanSpy attach the supervisor to the call; /v1/calls lists it.
            await col.wait_for(lambda e: is_type("call.updated")(e)
                               and e["data"]["call"]["call_id"] == call_id
                               and e["data"]["call"]["supervisors"] == 1, EVENT_TIMEOUT_S)
            _, snap = await blocking(_api, proc, "GET", "/v1/calls")
            call = next(c for c in snap["calls"] if c["call_id"] == call_id)
            assert [(s["supervisor"], s["mode"]) for s in call["spies"]] == [
                ("PJSIP/supervisor1", "listen")]
            listen = (time.monotonic() - rec0 + 0.3, time.monotonic() - rec0 + MODE_S)
            await asyncio.sleep(MODE_S)
            t_patch = time.monotonic() - rec0
            status, patched = await blocking(_api, proc, "PATCH", f"/v1/spy/{spy_id}",
                                             {"mode": "whisper"})
            assert status == 200 and patched["spy"]["mode"] == "whisper", patched
            await col.wait_for(is_type("spy.mode_changed"), EVENT_TIMEOUT_S)
            await asyncio.sleep(MODE_S)  # the digit comes back as DTMFEnd: no second change
            whisper = (t_patch + 0.5, time.monotonic() - rec0)
            status, patched = await blocking(_api, proc, "PATCH", f"/v1/spy/{spy_id}",
                                             {"mode": "barge"})
            assert status == 200 and patched["spy"]["mode"] == "barge", patched
            await asyncio.sleep(MODE_S)
            barge = (whisper[1] + 0.5, time.monotonic() - rec0)
            status, ended = await blocking(_api, proc, "DELETE", f"/v1/spy/{spy_id}")
            assert status == 200 and ended["spy"]["result"] == "ended_by_request", ended
            await col.wait_for(is_type("spy.ended"), EVENT_TIMEOUT_S)
            await col.wait_for(lambda e: e["type"] in ("recording.completed",
                                                       "recording.failed")
                               and e["data"]["leg"] == "supervisor", EVENT_TIMEOUT_S)
            result = await blocking(phones.finish)
        finally:
            await blocking(phones.close)
        stream = list(col.events)
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    spies = [e for e in stream if e["type"].startswith("spy.")]
    assert [e["type"] for e in spies] == ["spy.started", "spy.mode_changed",
                                          "spy.mode_changed", "spy.ended"], spies
    assert [(m["mode"], m["by"].split(":")[0]) for m in spies[-1]["data"]["spy"]["modes"]] == [
        ("listen", "api"), ("whisper", "api"), ("barge", "api")]
    audit = await blocking(lambda: subprocess.run(
        [sys.executable, "-m", "edgeqa", "audit", "--call", call_id, "--json", "--config",
         str(proc.config)], capture_output=True, text=True, timeout=30))
    entries = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(e["action"], e["actor_kind"]) for e in entries] == [
        ("spy.started", "api"), ("spy.mode_changed", "api"), ("spy.mode_changed", "api"),
        ("spy.ended", "api")], entries
    assert entries[0]["detail"]["session"] == spy_id
    # PlayDTMF Receive=yes switched ChanSpy: listen, nobody hears the supervisor; whisper,
    # only the agent; barge, both.
    heard = {(who, mode): _tone_share(path, window)
             for who, path in (("agent", result.agent_heard),
                               ("customer", result.customer_heard))
             for mode, window in (("listen", listen), ("whisper", whisper), ("barge", barge))}
    print("share of the supervisor's tone heard: " + ", ".join(
        f"{who} {mode} {share:.3f}" for (who, mode), share in heard.items()))
    assert heard["agent", "listen"] < 0.05 and heard["customer", "listen"] < 0.05
    assert heard["agent", "whisper"] > 0.3 and heard["customer", "whisper"] < 0.05
    assert heard["agent", "barge"] > 0.3 and heard["customer", "barge"] > 0.3
    rec = [e["data"] for e in stream if e["type"].startswith("recording.")
           and e["data"]["leg"] == "supervisor"]
    assert rec[-1]["state"] == "complete", rec
    # The third file of the call: the supervisor's voice (their tone), from the answer on.
    with wave.open(rec[-1]["path"]) as w:
        seconds = w.getnframes() / w.getframerate()
    share = _tone_share(Path(rec[-1]["path"]), (0.5, seconds - 0.5))
    print(f"supervisor recording: {seconds:.1f} s, tone share {share:.3f}")
    assert share > 0.5
