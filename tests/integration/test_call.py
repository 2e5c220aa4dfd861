"""A real call through the sandbox: customer -> 600 -> queue support -> agent, audio both ways."""

from __future__ import annotations

import json
import math
import wave
from pathlib import Path

import numpy as np
import pytest

from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall, place_fixture_call
from edgeqa.sandbox.softphone import Softphone

pytestmark = pytest.mark.integration

TALK_S = 14.0
#: Trim this much off each window edge: media path latency plus the start skew of the players.
EDGE_MARGIN_S = 0.35
#: Speech heard through the PBX must stand this far above the silence windows.
MIN_SPEECH_OVER_SILENCE_DB = 25.0
MIN_SPEECH_DBFS = -45.0


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2), path
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return samples.astype(np.float64), rate


def _dbfs(samples: np.ndarray) -> float:
    rms = math.sqrt(float(np.mean(samples**2))) if samples.size else 0.0
    return 20 * math.log10(max(rms, 1e-3) / 32768.0)


def _windows(intervals: list[list[float]], end_s: float) -> list[tuple[float, float]]:
    out = []
    for start, stop in intervals:
        a, b = start + EDGE_MARGIN_S, min(stop, end_s) - EDGE_MARGIN_S
        if b - a >= 0.5:
            out.append((a, b))
    return out


def _silences(speech: list[list[float]], end_s: float) -> list[tuple[float, float]]:
    gaps, cursor = [], 0.0
    for start, stop in speech:
        gaps.append([cursor, start])
        cursor = stop
    gaps.append([cursor, end_s])
    return _windows(gaps, end_s)


def _assert_heard(recording: Path, speech: list[list[float]], talker: str) -> None:
    samples, rate = _read_wav(recording)
    duration_s = samples.size / rate
    assert TALK_S - 1.5 <= duration_s <= TALK_S + 3.0, f"{recording}: {duration_s:.2f} s"
    end_s = min(duration_s, TALK_S) - 0.5
    talk = _windows(speech, end_s)
    quiet = _silences(speech, end_s)
    assert talk and quiet, "the call is too short for the fixture's timeline"
    quiet_db = _dbfs(np.concatenate([samples[int(a * rate):int(b * rate)] for a, b in quiet]))
    for a, b in talk:
        level = _dbfs(samples[int(a * rate):int(b * rate)])
        assert level > MIN_SPEECH_DBFS, f"{talker} speech {a:.2f}-{b:.2f} s at {level:.1f} dBFS"
        assert level - quiet_db > MIN_SPEECH_OVER_SILENCE_DB, (
            f"{talker} speech {a:.2f}-{b:.2f} s at {level:.1f} dBFS vs silence {quiet_db:.1f}"
        )


def test_customer_and_agent_hear_each_other(running_sandbox: Sandbox, data_dir: Path,
                                            tmp_path: Path) -> None:
    truth = json.loads((data_dir / "calls" / "clean.truth.json").read_text())
    result = place_fixture_call(running_sandbox, data_dir / "calls", tmp_path, fixture="clean",
                                talk_s=TALK_S)
    assert result.connect_s < 10.0
    # Each phone records what it hears: the customer hears the agent's leg and vice versa.
    _assert_heard(result.customer_heard, truth["speech"]["agent"], "agent")
    _assert_heard(result.agent_heard, truth["speech"]["customer"], "customer")


def test_direct_call_with_dtmf(softphone: object, running_sandbox: Sandbox) -> None:
    make = softphone
    assert callable(make)
    agent: Softphone = make("agent2")
    supervisor: Softphone = make("supervisor1")
    supervisor.dial("112")  # 11N dials agentN directly
    agent.answer(timeout_s=10.0)
    supervisor.wait_state("CONFIRMED", 10.0)
    agent.wait_state("CONFIRMED", 5.0)
    supervisor.send_dtmf("42#")
    assert agent.wait_dtmf(3, timeout_s=5.0) == "42#"
    channels = running_sandbox.cli("core show channels concise")
    assert "PJSIP/agent2-" in channels and "PJSIP/supervisor1-" in channels
    agent.hangup()
    supervisor.wait_state("DISCONNECTED", 5.0)


def test_queue_order_and_pinned_agent(running_sandbox: Sandbox, data_dir: Path,
                                      tmp_path: Path) -> None:
    calls = data_dir / "calls"
    first = FixtureCall(running_sandbox, calls, tmp_path / "c1", customer="customer1",
                        agent="agent1")
    second = FixtureCall(running_sandbox, calls, tmp_path / "c2", customer="customer2",
                         agent="agent2")
    pinned = FixtureCall(running_sandbox, calls, tmp_path / "c3", customer="customer3",
                         agent="agent3", exten="6003")
    try:
        first.agent.register()
        second.agent.register()
        pinned.start()  # agent1 and agent2 are free, yet 6003 goes to agent3 only
        first.start()  # 600: the free agent with the lowest penalty
        second.start()  # agent1 is busy (ringinuse=no): agent2
        queue = running_sandbox.cli("queue show support")
        assert queue.count("(In use)") == 3, queue
        for call in (first, second, pinned):
            assert call.finish().connect_s < 10.0
    finally:
        for call in (first, second, pinned):
            call.close()
