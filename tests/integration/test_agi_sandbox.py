"""FastAGI on the real switch: a supervisor phone dials a feature code (*2221), the dialplan's
[edgeqa-spy] runs AGI(agi://127.0.0.1:${EDGEQA_AGI_PORT}/spy,listen,1), and a handler on
edgeqa's AgiServer (a test route, not the spy service) runs GET/SET VARIABLE, STREAM FILE,
GET DATA with DTMF from the phone, and EXEC; the phone's hang-up reaches it as AgiHangup. With
nothing listening, or with the server answering FAILURE, the code plays its prompt and the call
ends at once.

Run: EDGEQA_SANDBOX_PORT_BASE=22000 .venv/bin/pytest -q tests/integration/test_agi_sandbox.py
"""

from __future__ import annotations

import asyncio
import logging
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from edgeqa.agi import AgiError, AgiHangup, AgiSession
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.softphone import Softphone
from tests.support.agi import agi_server
from tests.support.daemon import make_daemon
from tests.support.hygiene import no_leaks  # noqa: F401
from tests.support.phones import SoftphoneFactory

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]
log = logging.getLogger(__name__)

STEP_TIMEOUT_S = 15.0
#: A tricky value for SET VARIABLE: quotes, a backslash, spaces, a comma, non-ASCII.
TRICKY = 'a "quoted" \\ value, ü'
#: The failure prompt (beeperr, 0.36 s) plus Asterisk's and the phone's own latency.
PROMPT_AND_HANGUP_MAX_S = 3.0


class Run:
    """What the handler saw, step by step, for the test to check and to wait on."""

    def __init__(self) -> None:
        self.seen: dict[str, object] = {}
        self.started = asyncio.Event()
        self.waiting_for_digits = asyncio.Event()
        self.waiting_for_hangup = asyncio.Event()
        self.done = asyncio.Event()
        self.started_at = 0.0


async def _dial(phone: Softphone, code: str) -> float:
    t0 = time.monotonic()
    await blocking(phone.dial, code)
    return t0


async def test_feature_code_reaches_the_handler_which_drives_the_channel(
        running_sandbox: Sandbox, softphone: SoftphoneFactory) -> None:
    run = Run()

    async def echo(s: AgiSession) -> None:
        run.started_at = time.monotonic()
        run.started.set()
        seen = run.seen
        try:
            seen["request"] = s.request
            seen["name"] = await s.get_variable("CHANNEL(name)")
            await s.set_variable("EDGEQA_T", TRICKY)
            seen["tricky"] = await s.get_variable("EDGEQA_T")
            seen["unset"] = await s.get_variable("EDGEQA_NEVER_SET")
            await s.stream_file("beep")
            run.waiting_for_digits.set()
            seen["digits"] = await s.get_data("beep", 8000, 2)
            seen["exec"] = await s.exec("Set", "EDGEQA_E=done")
            seen["set_by_exec"] = await s.get_variable("EDGEQA_E")
            run.waiting_for_hangup.set()
            seen["wait"] = await s.exec("Wait", "30")  # -1: the phone hung up during it
            await s.get_variable("EDGEQA_T")
            seen["after"] = "no AgiHangup"
        except AgiHangup as exc:
            seen["after"] = exc
            raise
        except AgiError as exc:
            seen["error"] = exc
            raise
        finally:
            run.done.set()

    phone = softphone("supervisor1")
    async with agi_server(running_sandbox, {"spy": echo}) as server:
        dialled = await _dial(phone, "*2221")
        await asyncio.wait_for(run.started.wait(), STEP_TIMEOUT_S)
        log.info("feature code dialled -> AGI handler running: %.0f ms",
                 (run.started_at - dialled) * 1e3)
        await asyncio.wait_for(run.waiting_for_digits.wait(), STEP_TIMEOUT_S)
        await asyncio.sleep(0.6)  # GET DATA's prompt is playing: digits interrupt it
        await blocking(phone.send_dtmf, "42")
        await asyncio.wait_for(run.waiting_for_hangup.wait(), STEP_TIMEOUT_S)
        await blocking(phone.hangup)
        await asyncio.wait_for(run.done.wait(), STEP_TIMEOUT_S)
        stats = server.stats
    seen = run.seen
    assert "error" not in seen, seen
    request = seen["request"]
    assert request.route == "spy" and request.args == ("listen", "1")  # type: ignore[attr-defined]
    assert request.channel.startswith("PJSIP/supervisor1-")  # type: ignore[attr-defined]
    assert request.env["agi_context"] == "edgeqa-spy-agi"  # type: ignore[attr-defined]
    assert seen["name"] == request.channel  # type: ignore[attr-defined]
    assert seen["tricky"] == TRICKY
    assert seen["unset"] is None
    assert seen["digits"] == "42"
    assert seen["exec"] == 0 and seen["set_by_exec"] == "done"
    assert seen["wait"] == -1
    assert isinstance(seen["after"], AgiHangup), seen["after"]
    assert (stats.sessions, stats.hangups, stats.handler_errors) == (1, 1, 0)


#: How long the phone may take to finalise a recording after stop_record.
WAV_FINALISE_S = 3.0


def _heard_prompt(path: Path) -> float:
    """Seconds of sound (above -40 dBFS, in 20 ms frames) in what the phone recorded."""
    deadline = time.monotonic() + WAV_FINALISE_S
    while True:
        try:
            with wave.open(str(path)) as w:
                pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
            break
        except (OSError, EOFError, wave.Error):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    pcm = pcm.astype(np.float64)
    frames = pcm[: len(pcm) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt(np.mean(frames ** 2, axis=1)) / 32768.0
    return float(np.sum(rms > 10 ** (-40 / 20)) * 0.02)


async def _code_fails(phone: Softphone, tmp_path: Path, name: str) -> tuple[float, float]:
    """Dial *2221; return (seconds from answer to the call's end, seconds of prompt heard)."""
    wav = tmp_path / f"{name}.wav"
    await _dial(phone, "*2221")
    await blocking(phone.wait_state, "CONFIRMED", STEP_TIMEOUT_S)
    answered = time.monotonic()
    await blocking(phone.record, wav)
    await blocking(phone.wait_state, "DISCONNECTED", STEP_TIMEOUT_S)
    ended = time.monotonic()
    await blocking(phone.stop_record)
    return ended - answered, await blocking(_heard_prompt, wav)


async def test_daemon_down_the_code_plays_the_prompt_and_hangs_up(
        running_sandbox: Sandbox, softphone: SoftphoneFactory, tmp_path: Path) -> None:
    phone = softphone("supervisor1")
    took, heard = await _code_fails(phone, tmp_path, "down")  # nothing on the AGI port
    log.info("daemon down: answer -> hang-up %.0f ms, prompt heard %.2f s", took * 1e3, heard)
    assert took < PROMPT_AND_HANGUP_MAX_S
    assert heard >= 0.2  # beeperr is 0.36 s; SUCCESS would hang up without it


async def test_server_failure_answer_plays_the_prompt_too(
        running_sandbox: Sandbox, softphone: SoftphoneFactory, tmp_path: Path) -> None:
    async def refuse(s: AgiSession) -> None:
        raise AgiError("refused by the test")  # the server answers FAILURE

    async def ends(s: AgiSession) -> None:
        await s.stream_file("silence/1")  # a second of silence, then the server closes:
        # AGISTATUS=SUCCESS, so no prompt (the control of the two cases above)

    phone = softphone("supervisor1")
    async with agi_server(running_sandbox, {"spy": refuse}):
        took, heard = await _code_fails(phone, tmp_path, "refused")
    log.info("FAILURE from the server: answer -> hang-up %.0f ms, prompt heard %.2f s",
             took * 1e3, heard)
    assert took < PROMPT_AND_HANGUP_MAX_S and heard >= 0.2
    async with agi_server(running_sandbox, {"spy": ends}):
        took, heard = await _code_fails(phone, tmp_path, "success")
    log.info("SUCCESS (handler returned): answer -> hang-up %.0f ms, prompt heard %.2f s",
             took * 1e3, heard)
    assert heard < 0.1  # the control: no FAILURE, no prompt


async def test_the_daemon_serves_the_feature_code_on_the_sandbox_agi_port(
        running_sandbox: Sandbox, softphone: SoftphoneFactory, tmp_path: Path) -> None:
    """The daemon (make_daemon: [agi] port = SandboxPorts.agi) takes the code's AGI session.
    Whatever its spy route decides for an unconfigured supervisor (no route: FAILURE; the spy
    service: a denial), the supervisor hears the prompt and the call ends; never a spy."""
    proc = make_daemon(running_sandbox, tmp_path, live=False, record=False)
    proc.start()
    try:
        health = await blocking(proc.wait_ready)
        assert health["agi"]["listening"] is True
        assert health["agi"]["address"] == f"127.0.0.1:{running_sandbox.ports.agi}"
        phone = softphone("supervisor1")
        took, heard = await _code_fails(phone, tmp_path, "daemon")
        log.info("daemon up, no spy allowed: answer -> hang-up %.0f ms, prompt heard %.2f s",
                 took * 1e3, heard)
        assert took < PROMPT_AND_HANGUP_MAX_S and heard >= 0.2
        assert (await blocking(proc.get, "/v1/health"))["agi"]["sessions"] == 1
    finally:
        await blocking(proc.stop)
