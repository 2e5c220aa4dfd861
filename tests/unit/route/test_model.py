"""The routing rules: caller-number validation (outside input), each rule, their precedence,
the preferred agent only when free, and that every variable value is safe for the dialplan."""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from edgeqa.agi.codec import exec_data
from edgeqa.route.config import CALLER_NUMBER, MAX_PRIO, RouteConfig
from edgeqa.route.model import (
    MemberView,
    PastCall,
    decide,
    fallback,
    normalise_caller,
    parse_prio,
    parse_queue,
)

NOW = 1_800_000_000.0
H = 3600.0
CFG = RouteConfig(vip_numbers=frozenset({"5551001"}), vip_prio=10, repeat_prio=5, care_prio=7,
                  repeat_within_h=24, care_within_h=72, prefer_within_h=168,
                  care_dead_air_s=10.0, care_talk_over_s=5.0, prefer_offer_s=8)


def call(ago_h: float, agent: str | None = "PJSIP/agent2", dead: float | None = 0.0,
         over: float | None = 0.0, partial: bool = False, good: bool | None = True,
         queue: str | None = "support") -> PastCall:
    return PastCall(f"c{ago_h}", NOW - ago_h * H, agent, queue, dead, over, partial, good)


def free(penalty: int = 2) -> MemberView:
    return MemberView(penalty, True)


def test_caller_numbers_are_normalised_or_refused() -> None:
    assert normalise_caller("5551001") == "5551001"
    assert normalise_caller(" +44 (20) 7946-0018 ") == "+442079460018"
    for bad in ("", "anonymous", "unknown", "555\n1001", "555;1001", "55,5", "${EXTEN}",
                "+", "++1", "1" * 33, None, 5551001, "555\x001"):
        assert normalise_caller(bad) is None, bad


@given(st.text(max_size=80))
def test_any_caller_id_is_a_number_or_none(raw: str) -> None:
    out = normalise_caller(raw)
    assert out is None or CALLER_NUMBER.fullmatch(out)
    if out is not None:  # nothing but separators was dropped
        assert re.sub(r"[^0-9+]", "", raw) == out


@given(st.text(max_size=80), st.lists(st.builds(
    PastCall, st.text(max_size=8), st.floats(NOW - 400 * H, NOW),
    st.one_of(st.none(), st.text(max_size=90)), st.one_of(st.none(), st.text(max_size=70)),
    st.one_of(st.none(), st.floats(0, 100)), st.one_of(st.none(), st.floats(0, 100)),
    st.booleans(), st.one_of(st.none(), st.booleans())), max_size=5),
    st.text(max_size=70), st.text(max_size=8))
def test_variables_are_always_safe_for_the_dialplan(raw: str, history: list[PastCall],
                                                    queue: str, prio: str) -> None:
    history.sort(key=lambda c: -c.ended_at)
    d = decide(CFG, normalise_caller(raw), history, NOW, base_prio=parse_prio(prio),
               base_queue=parse_queue(queue), member=lambda q, a: free())
    exec_data("MSet", tuple(f"{k}={v}" for k, v in d.variables()))  # raises if unsafe
    for name, value in d.variables():
        assert re.fullmatch(r"[A-Za-z0-9_./@+-]*", value), (name, value)
    assert 0 <= d.prio <= MAX_PRIO


def test_no_rule_no_history_keeps_the_dialplan_defaults() -> None:
    d = decide(CFG, "5559999", [], NOW, base_prio=3, base_queue="support")
    assert (d.prio, d.queue, d.agent, d.offer_s, d.reasons) == (3, "support", None, 0, ())
    assert dict(d.variables()) == {"QUEUE_PRIO": "3", "ROUTE_QUEUE": "support",
                                   "ROUTE_AGENT": "", "ROUTE_PENALTY": "", "ROUTE_OFFER_S": "0",
                                   "ROUTE_REASON": ""}


def test_vip_is_config_only_and_survives_a_missing_history() -> None:
    assert fallback(CFG, "5551001").prio == 10
    assert fallback(CFG, "5551001").reasons == ("vip",)
    assert fallback(CFG, None).reasons == ()


def test_repeat_within_the_window_only() -> None:
    assert decide(CFG, "1", [call(23.9)], NOW).reasons == ("repeat",)
    assert decide(CFG, "1", [call(24.1)], NOW).reasons == ()
    two = replace(CFG, repeat_min_calls=2)
    assert decide(two, "1", [call(1)], NOW).reasons == ()
    assert decide(two, "1", [call(1), call(2)], NOW).reasons == ("repeat",)


def test_care_looks_at_the_last_call_only() -> None:
    assert "care" in decide(CFG, "1", [call(30, dead=10.0)], NOW).reasons
    assert "care" in decide(CFG, "1", [call(30, over=5.0)], NOW).reasons
    assert "care" not in decide(CFG, "1", [call(30, dead=9.9, over=4.9)], NOW).reasons
    assert "care" not in decide(CFG, "1", [call(1), call(30, dead=60.0)], NOW).reasons
    assert "care" not in decide(CFG, "1", [call(73, dead=60.0)], NOW).reasons
    assert "care" not in decide(CFG, "1", [call(30, dead=None, over=None)], NOW).reasons


def test_precedence_highest_prio_and_first_queue() -> None:
    cfg = replace(CFG, vip_queue="vip", care_queue="care")
    both = decide(cfg, "5551001", [call(2, dead=30.0)], NOW, base_queue="support")
    assert both.reasons == ("vip", "care", "repeat") and both.prio == 10
    assert both.queue == "vip"
    care = decide(cfg, "5551002", [call(2, dead=30.0)], NOW, base_queue="support")
    assert (care.prio, care.queue) == (7, "care")
    assert decide(cfg, "5551002", [], NOW, base_prio=50).prio == 50  # the dialplan's higher
    assert decide(replace(cfg, care_prio=20), "5551001", [call(2, dead=30.0)], NOW).prio == 20


@given(st.booleans(), st.booleans(), st.booleans(), st.integers(0, 9999),
       st.integers(0, 9999), st.integers(0, 9999), st.integers(0, 9999))
def test_prio_is_the_highest_matching(vip: bool, care: bool, repeat: bool, base: int,
                                      vp: int, cp: int, rp: int) -> None:
    cfg = replace(CFG, vip_prio=vp, care_prio=cp, repeat_prio=rp, repeat_within_h=10,
                  prefer_agent=False)
    history = [call(5 if repeat else 20, dead=30.0 if care else 0.0)]
    d = decide(cfg, "5551001" if vip else "5550000", history, NOW, base_prio=base)
    expected = max([base] + [p for on, p in ((vip, vp), (care, cp), (repeat, rp)) if on])
    assert d.prio == expected
    assert d.reasons == tuple(n for n, on in (("vip", vip), ("care", care),
                                               ("repeat", repeat)) if on)


def test_preferred_agent_is_the_last_good_one_and_only_when_free() -> None:
    history = [call(1, agent="PJSIP/agent3", dead=40.0, good=False),  # a bad call
               call(2, agent="PJSIP/agent2"), call(3, agent="PJSIP/agent1")]
    seen: list[tuple[str, str]] = []

    def member(queue: str, agent: str) -> MemberView | None:
        seen.append((queue, agent))
        return free(2)

    d = decide(CFG, "1", history, NOW, base_queue="support", member=member)
    assert (d.agent, d.penalty, d.offer_s) == ("PJSIP/agent2", 2, 8)
    assert "prefer" in d.reasons and seen == [("support", "PJSIP/agent2")]
    assert dict(d.variables())["ROUTE_OFFER_S"] == "8"
    assert decide(replace(CFG, prefer_offer_s=2.5), "1", history, NOW, base_queue="support",
                  member=member).offer_s == 3  # Queue() takes whole seconds
    busy = decide(CFG, "1", history, NOW, base_queue="support",
                  member=lambda q, a: MemberView(2, False))
    assert busy.agent is None and "prefer" not in busy.reasons
    assert decide(CFG, "1", history, NOW, base_queue="support",
                  member=lambda q, a: None).agent is None  # not a member of that queue
    assert decide(CFG, "1", history, NOW, member=lambda q, a: free()).agent is None  # no queue
    old = [call(200, agent="PJSIP/agent2")]
    assert decide(CFG, "1", old, NOW, base_queue="support",
                  member=lambda q, a: free()).agent is None
    partial = [call(2, agent="PJSIP/agent2", partial=True)]
    assert decide(CFG, "1", partial, NOW, base_queue="support",
                  member=lambda q, a: free()).agent is None
    odd = [call(2, agent="PJSIP/agent2,evil")]
    assert decide(CFG, "1", odd, NOW, base_queue="support",
                  member=lambda q, a: free()).agent is None


def test_history_is_bounded_and_future_rows_ignored() -> None:
    cfg = replace(CFG, history_rows=2, repeat_min_calls=3)
    many = [call(h) for h in (1, 2, 3, 4)]
    assert "repeat" not in decide(cfg, "1", many, NOW).reasons  # only 2 rows are read
    assert decide(CFG, "1", [call(-1)], NOW).reasons == ()  # a clock step: not counted


def test_dialplan_arguments_are_checked() -> None:
    assert parse_prio("7") == 7 and parse_prio("-1") == 0 and parse_prio("1e3") == 0
    assert parse_prio("12345") == 0 and parse_prio(None) == 0
    assert parse_queue("support") == "support" and parse_queue("a,b") == ""
    assert parse_queue("x" * 65) == ""
