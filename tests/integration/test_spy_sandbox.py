"""Issue 11's acceptance on the real switch: supervisor listen / whisper / barge, measured on what
five real phones heard, each playing its own tone (tests/support/tones.py): customer1 -> agent1
and customer2 -> agent10 (a name agent1 prefixes), and supervisor1 spying.

Run: EDGEQA_SANDBOX_PORT_BASE=25000 .venv/bin/pytest -q -s tests/integration/test_spy_sandbox.py
(-s prints the latency figures.)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from edgeqa.sandbox.amitool import AmiSession
from edgeqa.sandbox.pbx import Sandbox
from tests.support.spy_scene import MODE_HOLD_S, SpyScene, agent_channel, expected

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

SPY_TIMEOUT_S = 10.0
HANGUP_TIMEOUT_S = 5.0
#: ChanSpy's live mode keys (option d).
MODE_KEY = {"listen": "4", "whisper": "5", "barge": "6"}


def _spy_modes(scene: SpyScene, session: int, target: str, first: str, then: list[str],
               since: float) -> None:
    """Hold ``first`` (set up at ``since``), then switch through ``then`` by the supervisor's
    DTMF, MODE_HOLD_S each; record each mode's window."""
    sup = scene.phone("supervisor")
    mode, start = first, since
    for nxt in [*then, None]:
        time.sleep(max(0.0, start + MODE_HOLD_S - time.monotonic()))
        if nxt is not None:
            sup.send_dtmf(MODE_KEY[nxt])
        now = time.monotonic()
        scene.window(f"{target} {mode} (session {session})", start, now, session,
                     expected(mode, target))
        mode, start = nxt or mode, now


def test_chanspy_baseline_on_the_exact_channel(running_sandbox: Sandbox, tmp_path: Path) -> None:
    """The switch itself, no daemon: AMI Originate to the supervisor into ChanSpy on the
    agent's exact channel with qEd, as the daemon's AGI handler runs it (plan/spy_api.md).
    Proves the measurement (tones, windows, detector) before the daemon path is judged."""
    box = running_sandbox
    with SpyScene(box, tmp_path) as scene, AmiSession(*box.ami) as ami:
        scene.start()
        for target, first, then in (("agent1", "listen", ["whisper", "barge", "listen"]),
                                    ("agent10", "whisper", [])):
            channel = agent_channel(box, target)
            session = scene.arm_supervisor()
            asked = time.monotonic()
            reply = ami.action("Originate", [
                ("Channel", f"PJSIP/{scene.phone('supervisor').name}"),
                ("Application", "ChanSpy"),
                ("Data", f"{channel},qEd{'w' if first == 'whisper' else ''}"),
                ("Async", "true")])
            assert reply.response == "Success", reply
            spy = ami.wait_event(lambda m: m.event == "ChanSpyStart", SPY_TIMEOUT_S)
            spied = time.monotonic()
            assert spy.get("SpyeeChannel") == channel, spy
            up = scene.supervisor_media_up()
            print(f"\nbaseline {target}: Originate -> ChanSpyStart {(spied - asked) * 1000:.0f} ms"
                  f" (ring + answer of the supervisor's phone included)")
            _spy_modes(scene, session, target, first, then, max(up, spied))
            sup = scene.phone("supervisor")
            sup.hangup()
            sup.wait_state("DISCONNECTED", HANGUP_TIMEOUT_S)
        scene.finish()
    wrong = scene.verify()
    assert not wrong, "\n".join(wrong)
