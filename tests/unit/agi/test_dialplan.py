"""asterisk_conf/extensions_edgeqa.conf: each supervisor code asks the daemon over FastAGI and
the dialplan never opens a spy on its own (read as text: the real switch runs it in
tests/integration/test_agi_sandbox.py)."""

from __future__ import annotations

import re

from tests.support.paths import REPO

DIALPLAN = REPO / "asterisk_conf" / "extensions_edgeqa.conf"
AGI_URL = "agi://127.0.0.1:${IF($[\"${EDGEQA_AGI_PORT}\" = \"\"]?4573:${EDGEQA_AGI_PORT})}/"


def _contexts() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = ""
    for raw in DIALPLAN.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if m := re.fullmatch(r"\[([a-z0-9-]+)\]", line):
            current = m.group(1)
            out[current] = []
        elif line and current:
            out[current].append(line)
    return out


def test_codes_hand_every_request_to_the_daemon_and_never_spy_themselves() -> None:
    ctx = _contexts()
    codes = [line for line in ctx["edgeqa-spy"] if line.startswith("exten =>")]
    assert codes == [
        "exten => _*222.,1,Gosub(edgeqa-spy-agi,s,1(listen,*222,${EXTEN}))",
        "exten => _*223.,1,Gosub(edgeqa-spy-agi,s,1(whisper,*223,${EXTEN}))",
        "exten => _*224.,1,Gosub(edgeqa-spy-agi,s,1(barge,*224,${EXTEN}))",
    ]
    assert not [line for body in ctx.values() for line in body if "ChanSpy" in line]
    agi = ctx["edgeqa-spy-agi"]
    assert f"same => n(ask),AGI({AGI_URL}spy,${{ARG1}},${{digits}})" in agi
    after = agi[agi.index(f"same => n(ask),AGI({AGI_URL}spy,${{ARG1}},${{digits}})") + 1:]
    assert after[:2] == ['same => n,ExecIf($["${AGISTATUS}" != "SUCCESS"]?Playback(beeperr))',
                         'same => n,ExecIf($["${AGISTATUS}" != "SUCCESS"]?Hangup())']
    assert ctx["edgeqa-features"] == ["include => edgeqa-spy"]  # the old name still works


def test_every_agi_goes_to_loopback_on_the_configured_port() -> None:
    calls = [line for body in _contexts().values() for line in body if "AGI(" in line]
    assert len(calls) == 2  # spy, route
    assert all(f"AGI({AGI_URL}" in line for line in calls), calls
