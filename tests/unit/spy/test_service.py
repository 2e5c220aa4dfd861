"""The spy service with a fake AMI and a test double of the AGI session: audit before any
action, denials audited, the exact ChanSpy, DTMF and API mode changes, ends, caps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from edgeqa.ami.errors import AmiDisconnectedError
from edgeqa.ami.message import AmiMessage
from edgeqa.audit.model import Actor, AuditEntry
from edgeqa.auth.model import Principal, Scope
from edgeqa.recording.config import RecordingConfig
from edgeqa.spy.model import SpyDenied, SpySession
from edgeqa.spy.service import AuditFailed, SpyConflict, SpyFailed, SpyService
from edgeqa.store import EventLike
from tests.support.schemas import assert_valid
from tests.unit.spy.support import (
    TEAMS,
    AgiSessionDouble,
    Request,
    agent_call,
    snapshot,
    spy_config,
)

LEAD = Principal(2, "lead", "supervisor", Scope(teams=frozenset({"north"})))


class Log:
    """One ordered log of what reached the audit trail, the switch and the stream."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self.fail_audit = False
        self.fail_action: Exception | None = None

    async def audit(self, entry: AuditEntry) -> int:
        if self.fail_audit:
            raise OSError("disk full")
        self.items.append(("audit", entry))
        return len(self.items)

    async def send_action(self, action: str, headers: Mapping[str, str] = {}, *,
                          timeout_s: float = 10.0) -> Any:
        self.items.append(("ami", (action, dict(headers))))
        if self.fail_action is not None:
            raise self.fail_action
        return None

    def submit(self, events: Any) -> None:
        self.items.extend(("event", e) for e in events)

    def kinds(self) -> list[str]:
        return [f"audit:{v.action}" if k == "audit" else f"ami:{v[0]}" if k == "ami"
                else f"event:{v.type}" for k, v in self.items]

    def audits(self) -> list[AuditEntry]:
        return [v for k, v in self.items if k == "audit"]

    def events(self) -> list[EventLike]:
        return [v for k, v in self.items if k == "event"]

    def actions(self) -> list[tuple[str, dict[str, str]]]:
        return [v for k, v in self.items if k == "ami"]


def ami(**headers: str) -> AmiMessage:
    return AmiMessage(tuple(headers.items()))


async def ask(spy: SpyService, **changes: Any) -> SpySession:
    """A request of lead (team north) for super1 to listen to agent1, with ``changes``."""
    asked: dict[str, Any] = {"supervisor": "PJSIP/super1", "agent": "PJSIP/agent1",
                             "call_id": None, "mode": "listen", "reason": "",
                             "principal": LEAD, "via": "api", "origin": "127.0.0.1", **changes}
    return await spy.request(**asked)


SNAP = snapshot(agent_call("c10", "PJSIP/agent10", 10), agent_call("c1", "PJSIP/agent1", 1))


def service(log: Log, *, pin: str | None = None, snap: Mapping[str, Any] = SNAP,
            recording: RecordingConfig | None = None,
            labels: Callable[[str], tuple[str | None, str | None] | None] | None = None,
            **caps: int) -> SpyService:
    ids = iter(f"{n:016x}" for n in range(1, 100))
    return SpyService(spy_config(pin, **caps), TEAMS, log, log.audit, log.submit,
                      lambda: snap, recording=recording, wall=lambda: 1733012400.0,
                      new_id=lambda: next(ids), labels=labels)


async def test_api_spy_is_audited_before_the_one_originate() -> None:
    log = Log()
    spy = service(log)
    session = await ask(spy, mode="whisper", reason="dead air", via="cli")
    assert log.kinds() == ["audit:spy.started", "event:spy.started", "ami:Originate"]
    audit = log.audits()[0]
    assert audit.actor == Actor("cli", "lead#2") and audit.call_id == "c1"
    assert {k: audit.detail[k] for k in ("session", "supervisor", "via", "from", "agent",
                                         "call_id", "mode", "reason", "result")} == {
        "session": session.id, "supervisor": "PJSIP/super1", "via": "cli", "from": "127.0.0.1",
        "agent": "PJSIP/agent1", "call_id": "c1", "mode": "whisper", "reason": "dead air",
        "result": "allowed"}
    _, headers = log.actions()[0]
    assert headers["Channel"] == "PJSIP/super1" and headers["Application"] == "AGI"
    assert headers["Data"] == f"agi://127.0.0.1:4573/spy-session/{session.id}"
    assert session.state == "pending" and session.agent_channel == "PJSIP/agent1-00000101"
    assert spy.spies_by_call()["c1"][0]["mode"] == "whisper"
    assert_valid(log.events())  # type: ignore[arg-type]


async def test_a_call_id_from_an_alert_is_a_target() -> None:
    log = Log()
    session = await service(log).request(
        supervisor="PJSIP/super2", agent=None, call_id="c10", mode="listen", reason="",
        principal=Principal(1, "root", "admin"), via="api", origin="::1")
    assert session.agent_channel == "PJSIP/agent10-0000010a"


@pytest.mark.parametrize("snap", [SNAP, snapshot()], ids=["on_a_call", "on_no_call"])
async def test_a_token_out_of_scope_learns_nothing_about_where_the_agent_is(
        snap: Mapping[str, Any]) -> None:
    """South's token asking for north's Agent Two gets 403 whether or not Agent Two is on a
    call (a 409 not_on_call would tell it), and so does a phone whose teams lack the agent."""
    south = Principal(3, "south-lead", "supervisor", Scope(teams=frozenset({"south"})))
    for supervisor, principal in (("PJSIP/super2", south), ("PJSIP/super2", LEAD)):
        log = Log()
        with pytest.raises(SpyDenied) as denied:
            await service(log, snap=snap).request(
                supervisor=supervisor, agent="Agent Two", call_id=None, mode="listen",
                reason="", principal=principal, via="api", origin="::1")
        assert (denied.value.reason, denied.value.status) == ("unauthorised", 403)
        assert log.actions() == []


@pytest.mark.parametrize(("kwargs", "reason", "status"), [
    ({"agent": "PJSIP/agent10"}, "unauthorised", 403),
    ({"supervisor": "PJSIP/agent2"}, "unauthorised", 403),
    ({"agent": "PJSIP/agent7"}, "unknown_agent", 404),
    ({"agent": None, "call_id": "nope"}, "unknown_call", 404),
    ({"agent": "Agent Two"}, "not_on_call", 409),
])
async def test_every_api_denial_is_audited_and_nothing_is_sent(
        kwargs: dict[str, Any], reason: str, status: int) -> None:
    log = Log()
    with pytest.raises(SpyDenied) as info:
        await ask(service(log), reason="r", **kwargs)
    assert (info.value.reason, info.value.status) == (reason, status)
    assert log.kinds() == ["audit:spy.denied", "event:spy.denied"]
    assert log.audits()[0].detail["result"] == reason
    assert_valid(log.events())  # type: ignore[arg-type]


async def test_too_many_spies_on_one_agent_is_denied_and_audited() -> None:
    log = Log()
    spy = service(log, max_per_agent=1)
    await ask(spy)
    with pytest.raises(SpyDenied) as info:
        await ask(spy)
    assert info.value.reason == "too_many_spies"
    assert [a.action for a in log.audits()] == ["spy.started", "spy.denied"]
    assert len(log.actions()) == 1


async def test_no_audit_no_spy() -> None:
    log = Log()
    log.fail_audit = True
    with pytest.raises(AuditFailed):
        await ask(service(log))
    assert log.actions() == []


async def test_an_originate_lost_to_a_disconnect_is_not_sent_again() -> None:
    log = Log()
    log.fail_action = AmiDisconnectedError("link lost")
    spy = service(log)
    with pytest.raises(SpyFailed):
        await ask(spy)
    assert [a for a, _ in log.actions()] == ["Originate"]
    assert [a.action for a in log.audits()] == ["spy.started", "spy.ended"]
    assert log.audits()[1].detail["result"].startswith("originate_failed")
    assert spy.active() == []


async def test_originated_session_records_the_supervisor_then_chanspies_the_exact_channel(
        tmp_path: Path) -> None:
    log = Log()
    rec = RecordingConfig(enabled=True, asterisk_dir=PurePosixPath("/var/spool/rec"),
                          daemon_dir=tmp_path, close_timeout_s=0.01)
    spy = service(log, recording=rec)
    session = await ask(spy, mode="barge")
    agi = AgiSessionDouble(Request("PJSIP/super1-0000000b", f"spy-session/{session.id}"))
    async with asyncio.TaskGroup() as tg:
        spy.bind(tg)
        await spy.originated(agi)
    day = "2024/12/01"
    assert agi.commands == [
        ("EXEC", "MixMonitor", "", f"r(/var/spool/rec/{day}/c1-supervisor.wav)"),
        ("EXEC", "ChanSpy", "PJSIP/agent1-00000101", "qEduB")]
    assert session.state == "ended" and session.result == "ended"
    assert session.spyer_channel == "PJSIP/super1-0000000b"
    kinds = log.kinds()
    assert kinds.count("ami:Originate") == 1
    assert kinds[-3:] == ["audit:spy.ended", "event:spy.ended", "event:recording.failed"]
    started = next(e for e in log.events() if e.type == "recording.started")
    assert started.data["leg"] == "supervisor" and started.data["call_id"] == "c1"
    assert (started.data["queue"], started.data["agent"]) == ("support", "PJSIP/agent1")
    assert started.data["path"] == str(tmp_path / day / "c1-supervisor.wav")
    assert_valid(log.events())  # type: ignore[arg-type]


async def test_the_supervisor_file_is_filed_with_the_calls_other_files(
        tmp_path: Path) -> None:
    """Filed under the queue and agent of the call's own rows (Recorder.labels), so that
    `edgeqa recordings --agent/--queue` lists it and retention treats it alike."""
    log = Log()
    rec = RecordingConfig(enabled=True, asterisk_dir=PurePosixPath("/var/spool/rec"),
                          daemon_dir=tmp_path, close_timeout_s=0.01)
    filed = {"c1": ("support", "Agent One")}
    spy = service(log, recording=rec, labels=filed.get)
    session = await ask(spy, mode="listen")
    agi = AgiSessionDouble(Request("PJSIP/super1-0000000b", f"spy-session/{session.id}"))
    async with asyncio.TaskGroup() as tg:
        spy.bind(tg)
        await spy.originated(agi)
    started = next(e for e in log.events() if e.type == "recording.started")
    assert (started.data["queue"], started.data["agent"]) == ("support", "Agent One")


async def test_an_originated_call_answered_by_another_phone_is_refused() -> None:
    log = Log()
    spy = service(log)
    session = await ask(spy)
    for channel, script in (("PJSIP/super2-00000001", f"spy-session/{session.id}"),
                            ("PJSIP/super1-00000001", "spy-session/ffffffffffffffff"),
                            ("PJSIP/super1-00000001", "spy-session/../x")):
        agi = AgiSessionDouble(Request(channel, script))
        await spy.originated(agi)
        assert agi.commands == [("STREAM FILE", "beeperr"), ("HANGUP",)]
    assert session.state == "pending"


async def test_feature_code_with_pin() -> None:
    log = Log()
    spy = service(log, pin="2468")
    wrong = AgiSessionDouble(Request("PJSIP/super1-00000001", "spy", ("whisper", "1")),
                             digits="1357")
    await spy.feature_code(wrong)
    assert wrong.commands == [("GET DATA", "agent-pass"), ("STREAM FILE", "beeperr"),
                              ("HANGUP",)]
    assert [(a.action, a.detail["result"], str(a.actor)) for a in log.audits()] == [
        ("spy.denied", "wrong_pin", "dtmf:PJSIP/super1")]
    right = AgiSessionDouble(Request("PJSIP/super1-00000002", "spy", ("whisper", "1")),
                             digits="2468")
    await spy.feature_code(right)
    assert right.commands[0] == ("GET DATA", "agent-pass")
    assert right.commands[1] == ("EXEC", "ChanSpy", "PJSIP/agent1-00000101", "qEduw")
    assert [a.action for a in log.audits()][1:] == ["spy.started", "spy.ended"]
    assert log.actions() == []  # a feature code needs no AMI action


@pytest.mark.parametrize(("channel", "args", "reason"), [
    ("PJSIP/agent2-00000001", ("listen", "1"), "unauthorised"),   # no PIN asked either
    ("PJSIP/super1-00000001", ("listen", "10"), "unauthorised"),  # agent10: not north's
    ("PJSIP/super1-00000001", ("listen", "7"), "unknown_agent"),
    ("PJSIP/super1-00000001", ("listen", "1x"), "unknown_agent"),
    ("PJSIP/super2-00000001", ("listen", "1"), "unauthorised"),
])
async def test_feature_code_denials_prompt_hang_up_and_are_audited(
        channel: str, args: tuple[str, ...], reason: str) -> None:
    log = Log()
    spy = service(log)
    agi = AgiSessionDouble(Request(channel, "spy", args))
    await spy.feature_code(agi)
    assert agi.commands == [("STREAM FILE", "beeperr"), ("HANGUP",)]
    assert [(a.action, a.detail["result"]) for a in log.audits()] == [("spy.denied", reason)]
    assert_valid(log.events())  # type: ignore[arg-type]


async def _spying(spy: SpyService, tg: asyncio.TaskGroup, release: asyncio.Event
                  ) -> tuple[asyncio.Task[None], SpySession]:
    """super1 dials the listen code for agent 1; return once ChanSpy runs (until release)."""
    agi = AgiSessionDouble(Request("PJSIP/super1-00000005", "spy", ("listen", "1")),
                           release=release)
    spy.bind(tg)
    run = tg.create_task(spy.feature_code(agi))
    await agi.spying.wait()
    return run, spy.active()[0]


async def test_dtmf_switches_are_learnt_and_api_switches_sent_with_receive() -> None:
    log = Log()
    spy = service(log)
    release = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        run, session = await _spying(spy, tg, release)
        other = ami(Event="DTMFEnd", Channel="PJSIP/agent1-0001", Digit="6",
                    Direction="Received")
        spy.on_ami(other)  # not the spyer's channel
        spy.on_ami(ami(Event="DTMFEnd", Channel="PJSIP/super1-00000005", Digit="5",
                       Direction="Received"))
        assert session.mode == "whisper"
        await asyncio.sleep(0.01)  # its audit entry is written by a task
        await spy.change_mode(session.id, "barge", Actor("api", "lead#2"))
        assert log.actions() == [("PlayDTMF", {"Channel": "PJSIP/super1-00000005",
                                               "Digit": "6", "Receive": "yes"})]
        # The digit comes back as a DTMFEnd: no second change.
        spy.on_ami(ami(Event="DTMFEnd", Channel="PJSIP/super1-00000005", Digit="6",
                       Direction="Received"))
        await spy.end(session.id, Actor("api", "lead#2"))
        assert log.actions()[-1] == ("Hangup", {"Channel": "PJSIP/super1-00000005"})
        release.set()
        await run
    assert [(m.mode, m.by) for m in session.modes] == [
        ("listen", "dtmf:PJSIP/super1"), ("whisper", "dtmf:PJSIP/super1"),
        ("barge", "api:lead#2")]
    audits = [(a.action, str(a.actor)) for a in log.audits()]
    assert audits == [("spy.started", "dtmf:PJSIP/super1"),
                      ("spy.mode_changed", "dtmf:PJSIP/super1"),
                      ("spy.mode_changed", "api:lead#2"),
                      ("spy.ended", "api:lead#2")]
    kinds = log.kinds()
    assert kinds.index("ami:PlayDTMF") > max(i for i, k in enumerate(kinds)
                                             if k == "audit:spy.mode_changed")
    assert session.result == "ended_by_request"
    with pytest.raises(SpyConflict):
        await spy.end(session.id, Actor("api", "lead#2"))
    assert_valid(log.events())  # type: ignore[arg-type]


async def test_a_hangup_of_the_spyer_channel_ends_the_session() -> None:
    log = Log()
    spy = service(log)
    release = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        run, session = await _spying(spy, tg, release)
        spy.on_ami(ami(Event="Hangup", Channel="PJSIP/super1-00000005"))
        await asyncio.sleep(0.01)
        assert session.state == "ended" and session.result == "hangup"
        release.set()
        await run
    assert [a.action for a in log.audits()].count("spy.ended") == 1


async def test_a_pending_api_spy_deleted_is_cancelled_and_its_answer_refused() -> None:
    log = Log()
    spy = service(log)
    session = await ask(spy)
    await spy.end(session.id, Actor("api", "lead#2"))
    assert session.result == "cancelled" and [a for a, _ in log.actions()] == ["Originate"]
    agi = AgiSessionDouble(Request("PJSIP/super1-00000001", f"spy-session/{session.id}"))
    await spy.originated(agi)
    assert agi.commands == [("STREAM FILE", "beeperr"), ("HANGUP",)]


async def test_a_phone_not_answered_ends_its_session(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeqa.spy.service as service_module

    monkeypatch.setattr(service_module, "RING_TIMEOUT_S", 0.01)
    monkeypatch.setattr(service_module, "ANSWER_MARGIN_S", 0.0)
    log = Log()
    spy = service(log)
    async with asyncio.TaskGroup() as tg:
        spy.bind(tg)
        session = await ask(spy)
    assert session.result == "not_answered" and spy.active() == []
    assert str(log.audits()[-1].actor) == "system:spy"
