"""route.decided names a caller's past agents and why it was prioritised: admin, feed and
supervisors (for the calls they see) get it, an agent never does, even about its own call."""

from __future__ import annotations

from edgeqa.auth.model import Principal, Scope
from edgeqa.auth.visibility import AGENT_HIDDEN_TYPES, sees_type


def test_route_decisions_are_hidden_from_agents_only() -> None:
    assert "route.decided" in AGENT_HIDDEN_TYPES
    agent = Principal(3, "a1", "agent", Scope(agent="PJSIP/agent1"))
    lead = Principal(2, "lead", "supervisor", Scope(queues=frozenset({"support"})))
    assert not sees_type(agent, "route.decided")
    assert sees_type(lead, "route.decided")
    assert sees_type(agent, "call.ended")
