"""The pure spy model: exact targets (never a prefix), policy matrix, PIN, caps, sessions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeqa.auth.model import Principal, Scope
from edgeqa.config.fields import Secret
from edgeqa.spy.config import SupervisorPhone
from edgeqa.spy.model import (
    SessionError,
    SpyDenied,
    SpySession,
    authorise,
    chanspy_options,
    check_caps,
    check_pin,
    resolve_agent,
    resolve_call,
)
from tests.unit.spy.support import TEAMS, agent_call, snapshot, spy_config


def _denied(reason: str, status: int, fn: object, *args: object) -> None:
    with pytest.raises(SpyDenied) as info:
        fn(*args)  # type: ignore[operator]
    assert (info.value.reason, info.value.status) == (reason, status)


# --- exact targets -------------------------------------------------------------------------


def test_agent1_resolves_to_its_own_channel_never_agent10s() -> None:
    snap = snapshot(agent_call("c10", "PJSIP/agent10", 10), agent_call("c1", "PJSIP/agent1", 1))
    target = resolve_agent(snap, "PJSIP/agent1", TEAMS)
    assert (target.call_id, target.agent_channel) == ("c1", "PJSIP/agent1-00000101")
    assert resolve_agent(snap, "PJSIP/agent10", TEAMS).agent_channel == "PJSIP/agent10-0000010a"


def test_agent1_not_on_a_call_while_agent10_is() -> None:
    snap = snapshot(agent_call("c10", "PJSIP/agent10", 10))
    _denied("not_on_call", 409, resolve_agent, snap, "PJSIP/agent1", TEAMS)


names = st.text(alphabet="abcdefgh0123456789", min_size=1, max_size=8)


@given(base=names, suffixes=st.lists(st.text(alphabet="0123456789-ab", min_size=1, max_size=4),
                                     min_size=1, max_size=4, unique=True))
def test_names_that_prefix_each_other_each_reach_only_their_own_channel(
        base: str, suffixes: list[str]) -> None:
    endpoints = [f"PJSIP/{base}", *(f"PJSIP/{base}{s}" for s in suffixes)]
    endpoints = list(dict.fromkeys(endpoints))
    calls = [agent_call(f"call{i}", e, i + 1, queue=None) for i, e in enumerate(endpoints)]
    snap = snapshot(*reversed(calls))
    for i, endpoint in enumerate(endpoints):
        target = resolve_agent(snap, endpoint, {})
        assert target.call_id == f"call{i}"
        assert target.agent_channel == next(
            ch["channel"] for ch in calls[i]["channels"] if ch["role"] == "agent")
    # Nobody on a call: each name alone is not on a call, even with its prefixes' calls up.
    for i, endpoint in enumerate(endpoints):
        others = snapshot(*(c for j, c in enumerate(calls) if j != i))
        with pytest.raises(SpyDenied) as info:
            resolve_agent(others, endpoint, {"t": frozenset(endpoints)})
        assert info.value.reason == "not_on_call"


def test_member_name_and_queue_interface_resolve() -> None:
    snap = snapshot(agent_call("c2", "PJSIP/agent2", 2, name="Agent Two"))
    assert resolve_agent(snap, "Agent Two", TEAMS).call_id == "c2"
    assert resolve_agent(snap, "PJSIP/agent2", TEAMS).call_id == "c2"
    _denied("unknown_agent", 404, resolve_agent, snap, "Agent Tw", TEAMS)


def test_unknown_agent_versus_known_agent_not_on_a_call() -> None:
    snap = snapshot(agents=(("PJSIP/agent3", "Three"),))
    _denied("unknown_agent", 404, resolve_agent, snap, "PJSIP/agent99", TEAMS)
    _denied("not_on_call", 409, resolve_agent, snap, "PJSIP/agent3", TEAMS)
    _denied("not_on_call", 409, resolve_agent, snap, "PJSIP/agent10", TEAMS)  # in a team


def test_a_ringing_agent_is_not_on_a_call() -> None:
    snap = snapshot(agent_call("c1", "PJSIP/agent1", 1, answered=False))
    _denied("not_on_call", 409, resolve_agent, snap, "PJSIP/agent1", TEAMS)
    _denied("not_on_call", 409, resolve_call, snap, "c1")


def test_call_id_resolves_to_its_agent_channel() -> None:
    snap = snapshot(agent_call("c10", "PJSIP/agent10", 10), agent_call("c1", "PJSIP/agent1", 1))
    assert resolve_call(snap, "c1").agent_channel == "PJSIP/agent1-00000101"
    _denied("unknown_call", 404, resolve_call, snap, "c")


# --- policy --------------------------------------------------------------------------------

ADMIN = Principal(1, "root", "admin")
SUP_NORTH = Principal(2, "lead", "supervisor", Scope(teams=frozenset({"north"})))
SUP_QUEUE = Principal(3, "q", "supervisor", Scope(queues=frozenset({"support"})))
SUP_SOUTH = Principal(4, "s", "supervisor", Scope(teams=frozenset({"south"})))
AGENT = Principal(5, "a", "agent", Scope(agent="PJSIP/agent1"))


@pytest.mark.parametrize(("phone", "agent", "principal", "allowed"), [
    ("PJSIP/super1", "PJSIP/agent1", None, True),          # feature code, team north
    ("PJSIP/super1", "PJSIP/agent10", None, False),        # agent10 is south's
    ("PJSIP/super2", "PJSIP/agent10", None, True),
    ("PJSIP/super2", "PJSIP/agent1", None, False),
    ("PJSIP/agent1", "PJSIP/agent1", None, False),         # not a supervisor phone
    ("PJSIP/super1", "PJSIP/agent1", ADMIN, True),
    ("PJSIP/super1", "PJSIP/agent1", SUP_NORTH, True),
    ("PJSIP/super1", "PJSIP/agent1", SUP_QUEUE, True),     # queue scope covers the call
    ("PJSIP/super1", "PJSIP/agent1", SUP_SOUTH, False),    # token out of scope
    ("PJSIP/super1", "PJSIP/agent1", AGENT, False),
    ("PJSIP/super2", "PJSIP/agent1", ADMIN, False),        # even admin: the phone's teams
    ("PJSIP/super2", "PJSIP/agent10", SUP_NORTH, False),
])
def test_policy_matrix(phone: str, agent: str, principal: Principal | None,
                       allowed: bool) -> None:
    snap = snapshot(agent_call("c1", "PJSIP/agent1", 1), agent_call("c10", "PJSIP/agent10", 10,
                                                                     queue="sales"))
    target = resolve_agent(snap, agent, TEAMS)
    if allowed:
        assert authorise(spy_config(), TEAMS, phone, target, principal).endpoint == phone
    else:
        _denied("unauthorised", 403, authorise, spy_config(), TEAMS, phone, target, principal)


def test_pin() -> None:
    phone = SupervisorPhone("PJSIP/super1", frozenset({"north"}), Secret("4321"))
    assert check_pin(phone, "4321")
    assert not any(check_pin(phone, x) for x in ("", "432", "43210", "1234", None, "４３２１"))
    assert check_pin(SupervisorPhone("PJSIP/s", frozenset()), None)


def _session(sid: str, agent_channel: str, agent: str = "PJSIP/agent1") -> SpySession:
    return SpySession(sid, "PJSIP/super1", agent, "c1", agent_channel, "listen", "", 1.0,
                      "api:lead#2", "api", "127.0.0.1")


def test_caps_per_agent_and_in_all() -> None:
    snap = snapshot(agent_call("c1", "PJSIP/agent1", 1), agent_call("c10", "PJSIP/agent10", 10))
    one, ten = resolve_agent(snap, "PJSIP/agent1", TEAMS), resolve_agent(snap, "PJSIP/agent10",
                                                                          TEAMS)
    cfg = spy_config(max_per_agent=1, max_total=2)
    on_one = _session("aaaaaaaa", one.agent_channel)
    check_caps(cfg, [], one)
    _denied("too_many_spies", 409, check_caps, cfg, [on_one], one)
    check_caps(cfg, [on_one], ten)  # agent10 is another agent, however its name starts
    on_ten = _session("bbbbbbbb", ten.agent_channel, "PJSIP/agent10")
    _denied("too_many_spies", 409, check_caps, spy_config(max_per_agent=5, max_total=2),
            [on_one, on_ten], one)
    on_one.end(2.0, "ended")  # an ended spy counts no more
    check_caps(cfg, [on_one], one)


def test_session_modes_record_every_change_and_who() -> None:
    s = _session("aaaaaaaa", "PJSIP/agent1-00000101")
    assert s.state == "pending" and [m.mode for m in s.modes] == ["listen"]
    s.connected("PJSIP/super1-00000009")
    assert s.change_mode("whisper", 2.0, "dtmf:PJSIP/super1")
    assert not s.change_mode("whisper", 2.5, "api:lead#2")  # no change, not recorded
    assert s.change_mode("barge", 3.0, "api:lead#2")
    assert [(m.mode, m.by) for m in s.modes] == [
        ("listen", "api:lead#2"), ("whisper", "dtmf:PJSIP/super1"), ("barge", "api:lead#2")]
    assert s.end(4.0, "hangup") and not s.end(5.0, "again")
    assert (s.state, s.ended_at, s.result) == ("ended", 4.0, "hangup")
    with pytest.raises(SessionError):
        s.change_mode("listen", 6.0, "x:y")
    with pytest.raises(SessionError):
        s.connected("PJSIP/super1-0000000a")


def test_chanspy_options() -> None:
    assert [chanspy_options(m) for m in ("listen", "whisper", "barge")] == [
        "qEdu", "qEduw", "qEduB"]
