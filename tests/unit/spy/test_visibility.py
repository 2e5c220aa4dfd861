"""Who reads the spy.* events: those who see the call (issue 10's filtering); a denial that
names no call goes to admin and feed only."""

from __future__ import annotations

from edgeqa.auth.model import Principal, Scope, call_facts, sees_call
from edgeqa.auth.visibility import (
    event_call_id,
    filter_snapshot,
    hidden_from_agent,
    sees_type,
    sees_uncalled_event,
)
from tests.unit.spy.support import TEAMS, agent_call, snapshot

NORTH = Principal(2, "lead", "supervisor", Scope(teams=frozenset({"north"})))
SOUTH = Principal(3, "s", "supervisor", Scope(teams=frozenset({"south"})))
FEED = Principal(4, "crm", "feed")


def test_spy_events_follow_their_call() -> None:
    call = agent_call("c1", "PJSIP/agent1", 1)
    data = {"call_id": "c1", "spy": {"id": "0123456789abcdef", "call_id": "c1"}}
    assert event_call_id(data) == "c1"
    assert sees_call(NORTH, call_facts(call), TEAMS)
    assert not sees_call(SOUTH, call_facts(call), TEAMS)


def test_a_denial_without_a_call_is_for_admin_and_feed() -> None:
    data = {"call_id": None, "supervisor": "PJSIP/super1", "agent": "PJSIP/agent7",
            "mode": "listen", "reason": "unknown_agent", "via": "api",
            "by": {"kind": "api", "name": "lead#2"}}
    assert event_call_id(data) is None
    assert sees_uncalled_event(FEED, "spy.denied", data, TEAMS)
    assert not sees_uncalled_event(NORTH, "spy.denied", data, TEAMS)


def test_calls_snapshot_spies_go_with_their_call() -> None:
    one = {**agent_call("c1", "PJSIP/agent1", 1), "spies": [{"supervisor": "PJSIP/super1"}]}
    ten = {**agent_call("c10", "PJSIP/agent10", 10), "spies": []}
    north = filter_snapshot(NORTH, snapshot(one, ten), TEAMS)
    assert [(c["call_id"], c["spies"]) for c in north["calls"]] == [
        ("c1", [{"supervisor": "PJSIP/super1"}])]


AGENT1 = Principal(5, "agent1", "agent", Scope(agent="PJSIP/agent1"))


def test_an_agent_is_never_told_it_is_being_listened_to() -> None:
    """No spy.* events, no spies or supervisor channel in its /v1/calls, no leg.* event
    about the supervisor's channel, even on its own call."""
    one = agent_call("c1", "PJSIP/agent1", 1)
    spyer = {"channel": "PJSIP/super1-0000000b", "role": "supervisor", "spy_mode": "listen"}
    one = {**one, "channels": [*one["channels"], spyer], "spies": [{"supervisor": "super1"}]}
    assert sees_call(AGENT1, call_facts(one), TEAMS)
    for type_ in ("spy.started", "spy.mode_changed", "spy.ended", "spy.denied",
                  "audit.entry"):
        assert not sees_type(AGENT1, type_)
        assert sees_type(NORTH, type_)
    assert hidden_from_agent({"call_id": "c1", "channel": spyer})
    assert not hidden_from_agent({"call_id": "c1", "channel": one["channels"][0]})
    mine = filter_snapshot(AGENT1, snapshot(one), TEAMS)["calls"]
    assert [c["call_id"] for c in mine] == ["c1"]
    assert "spies" not in mine[0]
    assert all(ch.get("role") != "supervisor" for ch in mine[0]["channels"])
    assert len(mine[0]["channels"]) == len(one["channels"]) - 1
    theirs = filter_snapshot(NORTH, snapshot(one), TEAMS)["calls"]
    assert theirs[0]["spies"] and spyer in theirs[0]["channels"]
