"""HintService on a real Store and a fake switch: the order store -> audit -> switch ->
stream, dry-run, expiry, a person's change left alone, SIGTERM and restart restores."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from edgeqa.audit.model import Actor, AuditEntry
from edgeqa.hints.model import Hint, Skip
from edgeqa.hints.service import HINT_EVENT_TYPES, HintNotFound, HintService
from edgeqa.store import Store, schema_name
from tests.support.schemas import envelope_errors
from tests.unit.hints.support import COACHING, DEAD_AIR, T0, FakeSwitch, config, event, two_agents


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Env:
    def __init__(self, store: Store, switch: FakeSwitch, clock: Clock) -> None:
        self.store, self.switch, self.clock = store, switch, clock
        self.events: list[Any] = []
        self.audited: list[AuditEntry] = []
        self.order: list[str] = []

    def service(self, **kw: Any) -> HintService:
        rules = kw.pop("rules", (DEAD_AIR,))
        ids = iter(f"{n:016x}" for n in range(1, 1000))

        async def audit(entry: AuditEntry) -> int:
            self.order.append(f"audit {entry.action}")
            self.audited.append(entry)
            return await self.store.put_audit(entry)

        real_send = self.switch.send_action

        async def send(action: str, headers: Any = None, **kw2: Any) -> Any:
            if headers is None:
                headers = {}
            self.order.append(f"switch {action}")
            return await real_send(action, headers, **kw2)

        self.switch.send_action = send  # type: ignore[method-assign]
        return HintService(config(*rules, **kw), self.switch, self.store, audit,
                           self.events.extend, wall=self.clock, new_id=lambda: next(ids))

    def types(self) -> list[str]:
        return [e.type for e in self.events]


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    try:
        yield Env(store, FakeSwitch(two_agents()), Clock())
    finally:
        await store.close()


async def test_penalty_is_stored_and_audited_before_the_switch_then_expires(env: Env) -> None:
    svc = env.service()
    hint = await svc.consider("c1", "hints", "PJSIP/agent1", DEAD_AIR, 12.0)
    assert isinstance(hint, Hint)
    assert env.order == ["audit hint.applied", "switch QueuePenalty"]
    assert env.switch.member("hints", "PJSIP/agent1").penalty == 5
    assert env.types() == ["hint.applied"]
    stored = await env.store.run(lambda c: c.execute("SELECT state FROM hints").fetchall())
    assert stored == [("active",)]
    env.clock.now = hint.expires_at - 0.1
    await svc.expire_due()
    assert env.switch.member("hints", "PJSIP/agent1").penalty == 5
    env.clock.now = hint.expires_at
    await svc.expire_due()
    assert env.switch.member("hints", "PJSIP/agent1").penalty == 0
    assert env.types() == ["hint.applied", "hint.expired"]
    assert svc.active() == []


async def test_dry_run_never_touches_the_switch(env: Env) -> None:
    svc = env.service(dry_run=True)
    hint = await svc.consider("c1", "hints", "PJSIP/agent1", DEAD_AIR, 12.0)
    assert isinstance(hint, Hint) and hint.dry_run
    env.clock.now = hint.expires_at
    await svc.expire_due()
    assert env.switch.sent == []
    assert env.types() == ["hint.applied", "hint.expired"]


async def test_a_change_a_person_made_is_left_and_recorded(env: Env) -> None:
    svc = env.service()
    hint = await svc.consider("c1", "hints", "PJSIP/agent1", DEAD_AIR, 12.0)
    assert isinstance(hint, Hint)
    env.switch.person_sets("hints", "PJSIP/agent1", penalty=3)
    env.clock.now = hint.expires_at + 1
    await svc.expire_due()
    assert env.switch.member("hints", "PJSIP/agent1").penalty == 3
    assert env.types()[-1] == "hint.dropped"
    assert env.events[-1].data["hint"]["outcome"] == "changed_by_person"
    assert [a.action for a in env.audited][-1] == "hint.dropped"


async def test_a_person_change_seen_live_drops_the_hint(env: Env) -> None:
    svc = env.service()
    async with asyncio.TaskGroup() as tg:
        svc.bind(tg)
        hint = await svc.consider("c1", "hints", "PJSIP/agent1", DEAD_AIR, 12.0)
        assert isinstance(hint, Hint)
        svc.on_ami(event("QueueMemberPenalty", "hints", env.switch.member("hints",
                                                                          "PJSIP/agent1")))
        env.switch.person_sets("hints", "PJSIP/agent1", penalty=2)
        svc.on_ami(event("QueueMemberPenalty", "hints", env.switch.member("hints",
                                                                          "PJSIP/agent1")))
    assert svc.hints[hint.id].state == "dropped"
    assert env.switch.member("hints", "PJSIP/agent1").penalty == 2


async def test_restart_restores_what_is_overdue_and_keeps_the_rest(env: Env) -> None:
    first = env.service(rules=(DEAD_AIR,))
    early = await first.consider("c1", "hints", "PJSIP/agent1", DEAD_AIR, 12.0)
    env.clock.now += 30
    late = await first.consider("c2", "hints", "PJSIP/agent2", DEAD_AIR, 12.0)
    assert isinstance(early, Hint) and isinstance(late, Hint)
    # SIGKILL: nothing is put back; a new daemon reads the store and asks the switch.
    env.clock.now = early.expires_at + 5
    again = env.service(rules=(DEAD_AIR,))
    await again.restore()
    assert {h.id for h in again.active()} == {early.id, late.id}
    await again.check_switch()
    assert env.switch.member("hints", "PJSIP/agent1").penalty == 0
    assert env.switch.member("hints", "PJSIP/agent2").penalty == 5
    assert [h.id for h in again.active()] == [late.id]
    env.clock.now = late.expires_at
    await again.expire_due()
    assert env.switch.member("hints", "PJSIP/agent2").penalty == 0


async def test_sigterm_puts_back_every_applied_hint(env: Env) -> None:
    svc = env.service()
    hint = await svc.consider("c1", "hints", "PJSIP/agent1", DEAD_AIR, 12.0)
    assert isinstance(hint, Hint)
    await svc.close()
    assert env.switch.member("hints", "PJSIP/agent1").penalty == 0
    assert svc.hints[hint.id].outcome == "stopping: restored"


async def test_second_pause_is_skipped_and_audited(env: Env) -> None:
    svc = env.service(rules=(COACHING,), cooldown_s=1.0)
    first = await svc.consider("c1", "hints", "PJSIP/agent1", COACHING, 12.0)
    second = await svc.consider("c2", "hints", "PJSIP/agent2", COACHING, 12.0)
    assert isinstance(first, Hint) and isinstance(second, Skip)
    assert second.reason in ("last_agent", "pause_share")
    paused = [m.interface for m in env.switch.queues["hints"].values() if m.paused]
    assert paused == ["PJSIP/agent1"]
    assert env.types() == ["hint.applied", "hint.skipped"]
    assert [a.action for a in env.audited] == ["hint.applied", "hint.skipped"]


async def test_no_audit_no_change(env: Env) -> None:
    svc = env.service()

    async def broken(entry: AuditEntry) -> int:
        raise OSError("disk full")

    svc._audit = broken
    got = await svc.consider("c1", "hints", "PJSIP/agent1", DEAD_AIR, 12.0)
    assert isinstance(got, Skip) and got.reason == "audit_failed"
    assert env.switch.sent == []


async def test_clear_puts_back_now_and_unknown_is_not_found(env: Env) -> None:
    svc = env.service()
    hint = await svc.consider("c1", "hints", "PJSIP/agent1", DEAD_AIR, 12.0)
    assert isinstance(hint, Hint)
    ended = await svc.clear(hint.id, Actor("cli", "lead#1"))
    assert ended.state == "cleared" and env.switch.member("hints", "PJSIP/agent1").penalty == 0
    assert env.audited[-1].actor == Actor("cli", "lead#1")
    with pytest.raises(HintNotFound):
        await svc.clear(hint.id, Actor("cli", "lead#1"))


async def test_summary_through_committed_events_makes_one_hint(env: Env) -> None:
    svc = env.service()

    class Stored:
        def __init__(self, type_: str, data: dict[str, Any]) -> None:
            self.type, self.data = type_, data

    call = {"call_id": "c9", "queue": "hints", "agent_interface": "PJSIP/agent1"}
    summary = {"call_id": "c9", "summary": {"dead_air": [{"duration_s": 13.0}]}}
    async with asyncio.TaskGroup() as tg:
        svc.bind(tg)
        svc.on_committed([Stored("call.ended", {"call": call}),
                          Stored("call.summary", summary), Stored("call.summary", summary)])
    assert env.types() == ["hint.applied"]
    assert env.events[0].data["hint"]["call_id"] == "c9"


async def test_every_hint_event_fits_its_schema(env: Env) -> None:
    svc = env.service(rules=(COACHING,), cooldown_s=1.0)
    first = await svc.consider("c1", "hints", "PJSIP/agent1", COACHING, 12.0)
    await svc.consider("c2", "hints", "PJSIP/agent2", COACHING, 12.0)
    assert isinstance(first, Hint)
    env.clock.now = first.expires_at
    await svc.expire_due()
    pen = env.service()
    env.clock.now += 10
    second = await pen.consider("c3", "hints", "PJSIP/agent2", DEAD_AIR, 12.0)
    assert isinstance(second, Hint)
    await pen.clear(second.id, Actor("api", "lead#2"))
    third = await pen.consider("c4", "hints", "PJSIP/agent1", DEAD_AIR, 12.0)
    assert isinstance(third, Hint)
    env.switch.person_sets("hints", "PJSIP/agent1", penalty=1)
    await pen.check_switch()
    assert {e.type for e in env.events} == set(HINT_EVENT_TYPES)
    for n, e in enumerate(env.events, 1):
        envelope = {"seq": n, "type": e.type, "at": e.at, "schema": schema_name(e.type),
                    "data": json.loads(json.dumps(e.data))}
        assert envelope_errors(envelope) == [], envelope
