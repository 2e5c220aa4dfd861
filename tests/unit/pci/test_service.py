"""PCI pause: mute on the switch, gate the live analysis, audit before answering, undo what
cannot be audited, DTMF from the agent only, long-pause alert and auto-resume, restarts.

AMI is an in-process stand-in recording each action (tests/support/actions.py); the real
switch is in tests/integration/test_pci.py.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest

from edgeqa.ami.message import AmiMessage
from edgeqa.audit.model import Actor, AuditEntry
from edgeqa.calls.changes import CallEnded
from edgeqa.pci.config import PciConfig
from edgeqa.pci.model import Pause, Pauses, PciError, parse_user_event, paused_spans
from edgeqa.pci.service import PciService
from edgeqa.store import EventLike, schema_name
from tests.support.actions import ActionRecorder
from tests.support.calls import connected_call
from tests.support.schemas import errors

T0 = 1733012345.0
CALL = "1733012345.1"
ALICE = Actor("cli", "alice")


class Gate:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []

    def pause(self, call_id: str, at: float) -> bool:
        self.calls.append(("pause", call_id, at))
        return True

    def resume(self, call_id: str, at: float) -> bool:
        self.calls.append(("resume", call_id, at))
        return True


class Harness:
    def __init__(self, *, recorded: bool = True, refuse: bool = False,
                 cfg: PciConfig | None = None) -> None:
        self.ami = ActionRecorder(refuse)
        self.audited: list[AuditEntry] = []
        self.audit_fails = False
        self.events: list[EventLike] = []
        self.calls = {CALL: connected_call()}
        self.now = T0 + 30
        self.gate = Gate()
        self.recorded = recorded
        self.svc = PciService(
            cfg or PciConfig(), self.ami, self._audit, self.events.extend, lambda: self.calls,
            lambda: {u: c for call in self.calls.values() for u, c in call.channels.items()},
            lambda call_id: "PJSIP/customer1-00000001" if self.recorded else None,
            live=self.gate, wall=lambda: self.now)

    async def _audit(self, entry: AuditEntry) -> int:
        await asyncio.sleep(0)
        if self.audit_fails:
            raise OSError("disk I/O error")
        self.audited.append(entry)
        return len(self.audited)

    def published(self) -> list[dict[str, Any]]:
        for e in self.events:
            assert errors(dict(e.data), schema_name(e.type)) == [], e
        return [{"type": e.type, **e.data} for e in self.events]


async def test_pause_mutes_both_ways_gates_live_audits_then_publishes() -> None:
    h = Harness()
    out = await h.svc.pause(CALL, ALICE)
    assert h.ami.sent == [("MixMonitorMute", {"Channel": "PJSIP/customer1-00000001",
                                              "Direction": "both", "State": "1"})]
    assert h.gate.calls == [("pause", CALL, T0 + 30)]
    (entry,) = h.audited
    assert (entry.action, entry.actor, entry.call_id) == ("pci.pause", ALICE, CALL)
    assert entry.detail == {"recording_muted": True, "t_s": 30.0}
    assert out.to_dict() == {"call_id": CALL, "paused": True, "at": T0 + 30,
                             "by": {"kind": "cli", "name": "alice"}, "recording_muted": True,
                             "audit_id": 1, "paused_s": None}
    assert h.published() == [{"type": "call.pci_paused", "call_id": CALL, "leg": None,
                               "by": {"kind": "cli", "name": "alice"}, "t_s": 30.0,
                               "recording_muted": True}]
    h.now += 12.5
    out = await h.svc.resume(CALL, Actor("api", "bob"))
    assert h.ami.sent[-1][1]["State"] == "0" and h.gate.calls[-1] == ("resume", CALL, T0 + 42.5)
    assert out.paused_s == 12.5 and h.audited[-1].action == "pci.resume"
    assert h.audited[-1].detail == {"paused_s": 12.5, "t_s": 42.5}
    assert h.published()[-1]["type"] == "call.pci_resumed"
    assert h.published()[-1]["paused_s"] == 12.5


async def test_a_call_not_recorded_is_paused_without_a_switch_action() -> None:
    h = Harness(recorded=False)
    out = await h.svc.pause(CALL, ALICE)
    assert not out.muted and h.ami.sent == [] and h.gate.calls[0][0] == "pause"
    await h.svc.resume(CALL, ALICE)
    assert h.ami.sent == []


@pytest.mark.parametrize(("setup", "kind"), [
    ("unknown", "unknown_call"), ("ringing", "not_connected"), ("twice", "already_paused")])
async def test_pause_refusals_change_nothing(setup: str, kind: str) -> None:
    h = Harness()
    call_id = "nope" if setup == "unknown" else CALL
    if setup == "ringing":
        h.calls[CALL] = connected_call(agent_up=False)
    if setup == "twice":
        await h.svc.pause(CALL, ALICE)
    before = (len(h.ami.sent), len(h.audited), len(h.events), len(h.gate.calls))
    with pytest.raises(PciError) as err:
        await h.svc.pause(call_id, ALICE)
    assert err.value.kind == kind
    assert (len(h.ami.sent), len(h.audited), len(h.events), len(h.gate.calls)) == before


async def test_resume_of_a_call_not_paused_or_unknown_is_refused() -> None:
    h = Harness()
    for call_id, kind in ((CALL, "not_paused"), ("nope", "unknown_call")):
        with pytest.raises(PciError) as err:
            await h.svc.resume(call_id, ALICE)
        assert err.value.kind == kind
    assert h.ami.sent == [] and h.audited == []


async def test_a_switch_refusal_pauses_nothing() -> None:
    h = Harness(refuse=True)
    with pytest.raises(PciError) as err:
        await h.svc.pause(CALL, ALICE)
    assert err.value.kind == "switch_failed" and "Permission denied" in str(err.value)
    assert h.gate.calls == [] and h.audited == [] and h.events == []
    assert h.svc.pauses.get(CALL) is None


async def test_a_pause_that_cannot_be_audited_is_undone() -> None:
    h = Harness()
    h.audit_fails = True
    with pytest.raises(PciError) as err:
        await h.svc.pause(CALL, ALICE)
    assert err.value.kind == "audit_failed"
    assert [a[1]["State"] for a in h.ami.sent] == ["1", "0"]  # muted, then unmuted
    assert [g[0] for g in h.gate.calls] == ["pause", "resume"]
    assert h.events == [] and h.svc.pauses.get(CALL) is None


async def test_a_resume_that_cannot_be_audited_stays_paused() -> None:
    h = Harness()
    await h.svc.pause(CALL, ALICE)
    h.audit_fails = True
    with pytest.raises(PciError) as err:
        await h.svc.resume(CALL, ALICE)
    assert err.value.kind == "audit_failed"
    assert [a[1]["State"] for a in h.ami.sent] == ["1", "0", "1"]
    assert [g[0] for g in h.gate.calls] == ["pause", "resume", "pause"]
    assert h.svc.pauses.get(CALL) is not None
    assert [e.type for e in h.events] == ["call.pci_paused"]


async def test_concurrent_pauses_of_one_call_do_one_pause() -> None:
    h = Harness()
    results = await asyncio.gather(h.svc.pause(CALL, ALICE), h.svc.pause(CALL, ALICE),
                                   return_exceptions=True)
    assert sum(isinstance(r, PciError) and r.kind == "already_paused" for r in results) == 1
    assert len(h.ami.sent) == 1 and len(h.audited) == 1


def _user_event(uniqueid: str, action: str = "pause", channel: str = "PJSIP/x-1") -> AmiMessage:
    return AmiMessage((("Event", "UserEvent"), ("Channel", channel), ("Uniqueid", uniqueid),
                       ("UserEvent", "EdgeqaPci"), ("Action", action)))


async def _drain(h: Harness, act: Callable[[], None]) -> None:
    async with asyncio.TaskGroup() as tg:
        h.svc.bind(tg)
        act()
    h.svc.bind(None)  # type: ignore[arg-type]


async def test_dtmf_from_the_agent_pauses_and_resumes_its_call() -> None:
    h = Harness()
    await _drain(h, lambda: h.svc.on_ami(_user_event("u-agent")))
    assert h.audited[-1].actor == Actor("dtmf", "PJSIP/agent1")
    assert h.svc.pauses.get(CALL) is not None
    await _drain(h, lambda: h.svc.on_ami(_user_event("u-agent")))  # a second press: no harm
    assert len(h.audited) == 1 and h.svc.health()["dtmf_refused"] == 0
    await _drain(h, lambda: h.svc.on_ami(_user_event("u-agent", "RESUME")))
    assert h.audited[-1].action == "pci.resume" and h.svc.pauses.get(CALL) is None


@pytest.mark.parametrize("msg", [
    _user_event("u-cust"),                       # the customer's phone: never
    _user_event("u-unknown"),                    # a channel of no call
    _user_event("u-agent", "stop"),              # not a command
    AmiMessage((("Event", "UserEvent"), ("UserEvent", "EdgeqaPci"), ("Action", "pause"))),
])
async def test_dtmf_refused_unless_well_formed_from_an_agent(msg: AmiMessage) -> None:
    h = Harness()
    await _drain(h, lambda: h.svc.on_ami(msg))
    assert h.audited == [] and h.ami.sent == [] and h.svc.health()["dtmf_refused"] == 1


def test_other_user_events_are_not_ours() -> None:
    msg = AmiMessage((("Event", "UserEvent"), ("UserEvent", "EdgeqaSpy"), ("Action", "x")))
    assert parse_user_event(msg) is None
    assert parse_user_event(AmiMessage((("Event", "Hangup"),))) is None


async def test_a_long_pause_alerts_once_and_auto_resumes() -> None:
    h = Harness(cfg=PciConfig(max_pause_s=60.0, auto_resume=True))
    await h.svc.pause(CALL, ALICE)
    h.now += 59.9
    h.svc.tick(h.now)
    assert [e.type for e in h.events] == ["call.pci_paused"]
    h.now += 0.1
    await _drain(h, lambda: h.svc.tick(h.now))
    h.svc.tick(h.now + 5)
    h.published()  # each checked against its schema
    assert h.events[1].data == {"call_id": CALL, "leg": None, "type": "pci_pause_long",
                                "severity": "warn", "at_s": 90.0, "value": 60.0}
    assert h.audited[-1].actor == Actor("system", "auto_resume")
    assert h.svc.pauses.get(CALL) is None
    assert [e.type for e in h.events] == ["call.pci_paused", "call.alert", "call.pci_resumed"]


async def test_without_auto_resume_a_long_pause_only_alerts() -> None:
    h = Harness(cfg=PciConfig(max_pause_s=10.0))
    await h.svc.pause(CALL, ALICE)
    h.now += 11
    await _drain(h, lambda: h.svc.tick(h.now))
    assert [e.type for e in h.events] == ["call.pci_paused", "call.alert"]
    assert h.svc.pauses.get(CALL) is not None


async def test_the_end_of_a_call_ends_its_pause() -> None:
    h = Harness()
    await h.svc.pause(CALL, ALICE)
    h.svc.on_changes([CallEnded(CALL, T0 + 40)], T0 + 40)
    assert h.svc.pauses.get(CALL) is None and len(h.svc.pauses) == 0


def test_restore_takes_over_a_pause_still_on_for_an_open_call() -> None:
    h = Harness()

    def entry(at: float, kind: str, name: str, action: str, call_id: str,
              **detail: Any) -> dict[str, Any]:
        return {"id": int(at), "at": at, "actor_kind": kind, "actor_name": name,
                "action": action, "call_id": call_id, "detail": detail}

    h.svc.restore({
        CALL: [entry(T0 + 1, "cli", "alice", "pci.pause", CALL, recording_muted=True),
               entry(T0 + 2, "cli", "alice", "pci.resume", CALL),
               entry(T0 + 5, "cli", "alice", "pci.pause", CALL, recording_muted=True)],
        "c-resumed": [entry(T0 + 6, "cli", "alice", "pci.pause", "c-resumed"),
                      entry(T0 + 7, "dtmf", "PJSIP/agent2", "pci.resume", "c-resumed")],
        "c-never": []})
    pause = h.svc.pauses.get(CALL)
    assert pause is not None and (pause.since, pause.by, pause.muted) == (T0 + 5, ALICE, True)
    assert h.svc.pauses.get("c-resumed") is None and len(h.svc.pauses) == 1
    # A resume the previous run audited after its last checkpoint still ends the pause.
    assert h.gate.calls == [("pause", CALL, T0 + 5), ("resume", "c-resumed", T0 + 7)]


def test_pauses_book() -> None:
    book = Pauses()
    book.start(Pause("a", 0.0, ALICE, True))
    with pytest.raises(PciError):
        book.start(Pause("a", 1.0, ALICE, True))
    assert [p.call_id for p in book.overdue(9.9, 10.0)] == []
    assert [p.call_id for p in book.overdue(10.0, 10.0)] == ["a"]
    assert book.overdue(100.0, 10.0) == []
    assert book.end("a") is not None and book.end("a") is None



def test_paused_spans_from_the_audit_trail() -> None:
    def e(at: float, action: str) -> dict[str, Any]:
        return {"at": at, "action": action}

    assert paused_spans([]) == []
    assert paused_spans([e(1, "pci.pause"), e(2, "pci.pause"), e(4, "pci.resume"),
                         e(5, "pci.resume"), e(7, "pci.pause")]) == [(1.0, 4.0), (7.0, math.inf)]
