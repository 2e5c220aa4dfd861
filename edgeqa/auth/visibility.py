"""Pure: what of the live snapshot and of the event stream each principal sees.

- admin and feed: everything.
- supervisor: the calls of its queues and of its teams' agents (every event naming them),
  its queues (queue.*), the agents of its queues and teams (agent.updated).
- agent: its own calls (every event naming them) and its own agent.updated; no queues.
- every stream reader: the lifecycle events that carry no call (LIFECYCLE_TYPES); a client
  needs them to know when to fetch the snapshot again.
- other events without a call (recording.disk_low, stream.events_dropped): admin and feed.
- audit.entry, spy.* and route.decided (AGENT_HIDDEN_TYPES): as above (a supervisor, for the
  calls in its scope), but never an agent, even about its own call: it would learn that it is being
  listened to. For the same reason an agent's /v1/calls has no ``spies`` and no supervisor
  channel, and it gets no leg.* event about a supervisor's channel (hidden_from_agent).
- hint.* (issue 13; they carry no call at the top level): admin and feed; a supervisor, for
  its queues and its teams' agents; an agent, its own hints only (sees_hint).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgeqa.auth.model import CallFacts, Principal, call_facts, sees_call, team_members
from edgeqa.calls.model import ROLE_SUPERVISOR

#: Events every stream reader gets: no call, no person, only the daemon's and links' state.
LIFECYCLE_TYPES = frozenset({"daemon.started", "daemon.stopping", "asterisk.connected",
                             "asterisk.disconnected", "resync.completed"})
#: Event types an agent never gets, even about its own calls.
AGENT_HIDDEN_TYPES = frozenset({"audit.entry", "spy.started", "spy.mode_changed", "spy.ended",
                                "spy.denied",
                                # a caller's past calls and agents (issue 13): not for agents
                                "route.decided"})
#: The tracker's role of a spying supervisor's channel.
SUPERVISOR_ROLE = ROLE_SUPERVISOR
#: Payload keys whose object names the event's call (call.*, leg.*, queue.caller_*).
_CALL_HOLDERS = ("call", "channel", "leg", "caller")


def sees_type(principal: Principal, type_: str) -> bool:
    """False when ``principal`` may not see events of ``type_`` at all (AGENT_HIDDEN_TYPES)."""
    return not (principal.role == "agent" and type_ in AGENT_HIDDEN_TYPES)


def hidden_from_agent(data: Mapping[str, Any]) -> bool:
    """A leg.* event about a spying supervisor's channel: an agent never gets it."""
    channel = data.get("channel")
    return isinstance(channel, Mapping) and channel.get("role") == SUPERVISOR_ROLE


def _without_spies(call: Mapping[str, Any]) -> dict[str, Any]:
    """``call`` as an agent sees it: no spies, no supervisor channel."""
    out = {k: v for k, v in call.items() if k != "spies"}
    if isinstance(call.get("channels"), list):
        out["channels"] = [ch for ch in call["channels"]
                           if not (isinstance(ch, Mapping) and ch.get("role") == SUPERVISOR_ROLE)]
    return out


def event_call_id(data: Mapping[str, Any]) -> str | None:
    """The call an event payload is about, if any."""
    if isinstance(data.get("call_id"), str):
        return str(data["call_id"])
    for key in _CALL_HOLDERS:
        holder = data.get(key)
        if isinstance(holder, Mapping) and isinstance(holder.get("call_id"), str):
            return str(holder["call_id"])
    return None


def event_call(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The whole call object an event carries (call.started/updated/ended), if any."""
    call = data.get("call")
    return call if isinstance(call, Mapping) and isinstance(call.get("call_id"), str) else None


def _queue_name(data: Mapping[str, Any]) -> str | None:
    queue = data.get("queue")
    if isinstance(queue, Mapping):
        queue = queue.get("name")
    return queue if isinstance(queue, str) else None


def sees_agent(principal: Principal, agent: Mapping[str, Any],
               teams: Mapping[str, frozenset[str]]) -> bool:
    """Whether ``principal`` sees an agent (``$defs.agent``: interface, name, queues)."""
    if principal.role in ("admin", "feed"):
        return True
    names = {agent.get("interface"), agent.get("name")} - {None, ""}
    scope = principal.scope
    if principal.role == "agent":
        return scope.agent in names
    if principal.role != "supervisor":
        return False
    queues = {q.get("queue") for q in agent.get("queues") or () if isinstance(q, Mapping)}
    return bool(queues & scope.queues or names & team_members(scope, teams))


def sees_uncalled_event(principal: Principal, type_: str, data: Mapping[str, Any],
                        teams: Mapping[str, frozenset[str]]) -> bool:
    """Whether ``principal`` sees an event that names no call (see the module docstring)."""
    if principal.role in ("admin", "feed") or type_ in LIFECYCLE_TYPES:
        return principal.role != "metrics"
    if type_.startswith("queue.") and principal.role == "supervisor":
        return _queue_name(data) in principal.scope.queues
    if type_ == "agent.updated" and isinstance(data.get("agent"), Mapping):
        return sees_agent(principal, data["agent"], teams)
    if type_.startswith("hint."):
        hint = data.get("hint")
        return sees_hint(principal, hint if isinstance(hint, Mapping) else data, teams)
    return False


def sees_hint(principal: Principal, hint: Mapping[str, Any],
              teams: Mapping[str, frozenset[str]]) -> bool:
    """Whether ``principal`` sees a hint (or a skipped one): its ``queue``, its member's
    ``interface`` and ``agent`` name. An agent sees its own hints, never another's."""
    if principal.role in ("admin", "feed"):
        return True
    names = {hint.get("interface"), hint.get("agent")} - {None, ""}
    scope = principal.scope
    if principal.role == "agent":
        return scope.agent is not None and scope.agent in names
    if principal.role != "supervisor":
        return False
    return hint.get("queue") in scope.queues or bool(names & team_members(scope, teams))


def filter_snapshot(principal: Principal, snap: Mapping[str, Any],
                    teams: Mapping[str, frozenset[str]]) -> dict[str, Any]:
    """The /v1/calls snapshot cut down to what ``principal`` sees."""
    if principal.role == "admin":
        return dict(snap)
    out = dict(snap)
    out["calls"] = [c for c in snap.get("calls", ())
                    if sees_call(principal, call_facts(c), teams)]
    out["queues"] = [q for q in snap.get("queues", ())
                     if principal.role == "supervisor" and q.get("name") in principal.scope.queues]
    out["agents"] = [a for a in snap.get("agents", ()) if sees_agent(principal, a, teams)]
    if principal.role == "agent":  # never told it is being listened to (as audit.entry)
        out["calls"] = [_without_spies(c) for c in out["calls"]]
    return out


__all__ = [
    "AGENT_HIDDEN_TYPES",
    "LIFECYCLE_TYPES",
    "SUPERVISOR_ROLE",
    "CallFacts",
    "event_call",
    "event_call_id",
    "filter_snapshot",
    "hidden_from_agent",
    "sees_agent",
    "sees_hint",
    "sees_type",
    "sees_uncalled_event",
]
