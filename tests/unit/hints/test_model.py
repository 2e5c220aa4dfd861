"""The guard rails and restore verdicts of edgeqa.hints.model, on sequences of calls, person
changes and time (hypothesis), against a simulated queue."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeqa.hints.config import HintsConfig
from edgeqa.hints.model import Hint, MemberView, Skip, decide, first_rule, reconcile
from tests.unit.hints.support import COACHING, DEAD_AIR, T0, summary

# One step: (seconds later, agent index, "call" | "person_unpause" | "person_penalty", rule).
STEPS = st.lists(st.tuples(st.floats(0.0, 150.0), st.integers(0, 3),
                           st.sampled_from(["call", "call", "call", "person_unpause",
                                            "person_penalty"]),
                           st.sampled_from([DEAD_AIR, COACHING])), max_size=40)


def _simulate(cfg: HintsConfig, n_agents: int, steps: list[tuple[float, int, str, object]]
              ) -> tuple[list[Hint], list[tuple[set[str], dict[str, MemberView]]]]:
    """Run the steps on a queue of ``n_agents``; return every hint made, and after each step
    the members a pause hint holds and the queue. Hints expire (restored) at their expiry, as
    the service does."""
    members = {f"PJSIP/agent{i}": MemberView(f"PJSIP/agent{i}", f"A{i}", 1)
               for i in range(n_agents)}
    hints: dict[str, Hint] = {}
    seen: list[tuple[set[str], dict[str, MemberView]]] = []
    now = T0
    for n, (dt, who, what, rule) in enumerate(steps):
        now += dt
        for h in [h for h in hints.values() if h.state == "active" and now >= h.expires_at]:
            m = members[h.interface]
            verdict = reconcile(h, m, now)
            if verdict == "restore":
                members[h.interface] = replace(m, penalty=h.original_penalty) \
                    if h.kind == "penalty" else replace(m, paused=False, paused_reason="")
            hints[h.id] = h.ended("expired" if verdict == "restore" else "dropped", now,
                                  verdict)
        iface = f"PJSIP/agent{who % n_agents}"
        if what == "person_unpause":
            members[iface] = replace(members[iface], paused=False, paused_reason="")
        elif what == "person_penalty":
            members[iface] = replace(members[iface], penalty=2)
        else:
            got = decide(cfg, rule, 12.0, "q", iface, list(members.values()),  # type: ignore[arg-type]
                         hints.values(), now, hint_id=f"h{n:07d}", call_id=f"c{n}")
            if isinstance(got, Hint):
                hints[got.id] = got
                m = members[iface]
                members[iface] = replace(m, penalty=got.applied_penalty) \
                    if got.kind == "penalty" else \
                    replace(m, paused=True, paused_reason=got.pause_reason or "")
        ours = {h.interface for h in hints.values() if h.state == "active"
                and h.kind == "pause" and members[h.interface].paused}
        seen.append((ours, dict(members)))
    return list(hints.values()), seen


@settings(max_examples=300, deadline=None)
@given(STEPS, st.integers(1, 4), st.sampled_from([0.0, 0.25, 0.5, 1.0]))
def test_guard_rails_hold_over_any_sequence(steps: list[tuple[float, int, str, object]],
                                            n_agents: int, share: float) -> None:
    cfg = HintsConfig(dry_run=False, max_penalty=4, max_paused_share=share, cooldown_s=120.0,
                      max_duration_s=60.0)
    made, seen = _simulate(cfg, n_agents, steps)
    for hint in made:
        assert hint.expires_at - hint.created_at <= cfg.max_duration_s
        assert hint.applied_penalty <= max(cfg.max_penalty, hint.original_penalty)
    by_agent: dict[str, list[float]] = {}
    for hint in made:
        by_agent.setdefault(hint.interface, []).append(hint.created_at)
    for times in by_agent.values():
        times.sort()
        assert all(b - a >= cfg.cooldown_s for a, b in itertools.pairwise(times))
    for ours, members in seen:
        free = [m for m in members.values() if not m.paused]
        # never the last one; never beyond the share of those free or held by a hint
        assert not ours or free, (ours, members)
        assert len(ours) <= math.floor(share * (len(free) + len(ours)) + 1e-9), (ours, members)


def test_two_agents_never_both_paused() -> None:
    cfg = HintsConfig(dry_run=False, max_paused_share=1.0, cooldown_s=0.001)
    members = [MemberView("PJSIP/agent1", "A1"), MemberView("PJSIP/agent2", "A2")]
    first = decide(cfg, COACHING, 12.0, "q", "PJSIP/agent1", members, [], T0, hint_id="h0000001",
                   call_id="c1")
    assert isinstance(first, Hint) and first.kind == "pause"
    members[0] = replace(members[0], paused=True, paused_reason="edgeqa coaching")
    second = decide(cfg, COACHING, 12.0, "q", "PJSIP/agent2", members, [first], T0 + 1,
                    hint_id="h0000002", call_id="c2")
    assert isinstance(second, Skip) and second.reason == "last_agent"


def test_penalty_stops_at_the_maximum_and_cooldown_holds() -> None:
    cfg = HintsConfig(dry_run=False, max_penalty=7, cooldown_s=100.0)
    m = [MemberView("PJSIP/agent1", "A1", 4)]
    hint = decide(cfg, DEAD_AIR, 12.0, "q", "PJSIP/agent1", m, [], T0, hint_id="h0000001",
                  call_id=None)
    assert isinstance(hint, Hint) and (hint.original_penalty, hint.applied_penalty) == (4, 7)
    ended = hint.ended("expired", T0 + 60, "restored")
    again = decide(cfg, DEAD_AIR, 12.0, "q", "PJSIP/agent1", m, [ended], T0 + 99,
                   hint_id="h0000002", call_id=None)
    assert isinstance(again, Skip) and again.reason == "cooldown"
    at_max = decide(cfg, DEAD_AIR, 12.0, "q", "PJSIP/agent1", [replace(m[0], penalty=7)],
                    [ended], T0 + 101, hint_id="h0000003", call_id=None)
    assert isinstance(at_max, Skip) and at_max.reason == "max_penalty"


def test_restore_never_undoes_what_a_person_set() -> None:
    cfg = HintsConfig(dry_run=False)
    m = MemberView("PJSIP/agent1", "A1", 1)
    hint = decide(cfg, DEAD_AIR, 12.0, "q", m.interface, [m], [], T0, hint_id="h0000001",
                  call_id=None)
    assert isinstance(hint, Hint)
    assert reconcile(hint, replace(m, penalty=6), T0 + 1) == "keep"
    assert reconcile(hint, replace(m, penalty=6), hint.expires_at) == "restore"
    assert reconcile(hint, replace(m, penalty=3), hint.expires_at) == "changed_by_person"
    assert reconcile(hint, replace(m, penalty=1), hint.expires_at) == "restored_already"
    assert reconcile(hint, None, T0 + 1) == "member_gone"
    pause = decide(cfg, COACHING, 12.0, "q", m.interface, [m, MemberView("PJSIP/agent2")], [],
                   T0, hint_id="h0000002", call_id=None)
    assert isinstance(pause, Hint)
    held = replace(m, paused=True, paused_reason="edgeqa coaching")
    assert reconcile(pause, held, pause.expires_at) == "restore"
    assert reconcile(pause, replace(held, paused_reason="lunch"), T0) == "changed_by_person"
    assert reconcile(pause, m, T0) == "restored_already"


def test_first_rule_in_order_and_threshold() -> None:
    assert first_rule([DEAD_AIR], summary(9.9)) is None
    assert first_rule([DEAD_AIR, COACHING], summary(10.0)) == (DEAD_AIR, 10.0)
    assert first_rule([COACHING, DEAD_AIR], summary(11.0)) == (COACHING, 11.0)
