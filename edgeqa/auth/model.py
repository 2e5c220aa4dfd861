"""Pure access model: roles, scopes, principals, and may-principal-P-do-X-on-call-C checks.

A call is judged from the tracker's JSON form of it (``Call.to_dict``, also what call.*
events and the store's calls table carry): its queue(s) and its parties (the endpoints and
agent interfaces/names of its non-supervisor channels). A supervisor listening in does not
make a call its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from edgeqa.audit.model import Actor

Role = Literal["admin", "supervisor", "agent", "feed", "metrics"]
ROLES: tuple[Role, ...] = get_args(Role)
#: A token's name: what it is for or whom it belongs to (shown in the audit trail).
TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
#: A queue, team or agent in a scope: printable, bounded (compared, never sent to Asterisk).
SCOPE_VALUE = re.compile(r"[^\x00-\x1f\x7f]{1,80}")
#: The name of the admin token the daemon issues itself for CLI commands on its host.
LOCAL_TOKEN_NAME = "local"

#: What a request may do (the API maps each route to one of these).
Action = Literal["health", "calls.read", "stream.read", "pci.change", "recording.download",
                 "legal_hold.change", "session.logout", "spy.read", "spy.change",
                 "hints.read", "hints.change"]
#: Roles allowed each action; call-scoped ones are further checked against the call.
ALLOWED: Mapping[str, frozenset[Role]] = {
    "health": frozenset(ROLES),
    "calls.read": frozenset({"admin", "supervisor", "agent"}),
    "stream.read": frozenset({"admin", "supervisor", "agent", "feed"}),
    "pci.change": frozenset({"admin", "supervisor", "agent"}),
    "recording.download": frozenset({"admin", "supervisor"}),
    "legal_hold.change": frozenset({"admin"}),
    "session.logout": frozenset(ROLES),
    # Spies: the supervisor's scope is checked against the target by edgeqa.api.spy.
    "spy.read": frozenset({"admin", "supervisor"}),
    "spy.change": frozenset({"admin", "supervisor"}),
    # Routing hints (issue 13): a supervisor's scope is checked by edgeqa.api.hints.
    "hints.read": frozenset({"admin", "supervisor"}),
    "hints.change": frozenset({"admin", "supervisor"}),
}


class ScopeError(ValueError):
    """A role and scope that do not fit together (the message says why)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """A supervisor's queues and teams; an agent's identity (``PJSIP/agent1`` or its member
    name); nothing for the other roles."""

    queues: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    agent: str | None = None

    def to_json(self) -> str:
        """The JSON stored in the tokens table."""
        return json.dumps({"queues": sorted(self.queues), "teams": sorted(self.teams),
                           "agent": self.agent}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Scope:
        """Read what to_json wrote."""
        data = json.loads(text)
        return cls(frozenset(data.get("queues", ())), frozenset(data.get("teams", ())),
                   data.get("agent"))

    def describe(self) -> str:
        """``queue:support team:north agent:PJSIP/agent1`` (``-`` if empty)."""
        words = [f"queue:{q}" for q in sorted(self.queues)]
        words += [f"team:{t}" for t in sorted(self.teams)]
        words += [f"agent:{self.agent}"] if self.agent else []
        return " ".join(words) or "-"


def make_scope(role: str, scopes: Iterable[str], agent: str | None) -> Scope:
    """Validate ``role`` with its ``queue:NAME``/``team:NAME`` scopes and agent identity."""
    if role not in ROLES:
        raise ScopeError(f"role {role!r} is not one of {', '.join(ROLES)}")
    queues: set[str] = set()
    teams: set[str] = set()
    for item in scopes:
        kind, sep, value = item.partition(":")
        if not sep or kind not in ("queue", "team") or not SCOPE_VALUE.fullmatch(value):
            raise ScopeError(f"scope {item!r} must be queue:NAME or team:NAME")
        (queues if kind == "queue" else teams).add(value)
    if agent is not None and not SCOPE_VALUE.fullmatch(agent):
        raise ScopeError(f"agent {agent!r} must be 1-80 printable characters")
    if role == "supervisor" and not (queues or teams):
        raise ScopeError("a supervisor needs at least one --scope queue:NAME or team:NAME")
    if role != "supervisor" and (queues or teams):
        raise ScopeError(f"only a supervisor has --scope, not {role}")
    if role == "agent" and agent is None:
        raise ScopeError("an agent needs --agent ID (e.g. PJSIP/agent1 or its member name)")
    if role != "agent" and agent is not None:
        raise ScopeError(f"only an agent has --agent, not {role}")
    return Scope(frozenset(queues), frozenset(teams), agent)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is: the token (``token_id``, ``name``) with its role and scope."""

    token_id: int
    name: str
    role: Role
    scope: Scope = field(default_factory=Scope)

    @property
    def actor(self) -> Actor:
        """The audit actor of this principal's API actions: ``api:<name>#<token id>``."""
        return Actor("api", f"{self.name}#{self.token_id}")


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What access checks need of a call: its queues and its parties."""

    queues: frozenset[str] = frozenset()
    parties: frozenset[str] = frozenset()

    def merged(self, other: CallFacts) -> CallFacts:
        """Both facts together (a call keeps every queue and party it ever had)."""
        return CallFacts(self.queues | other.queues, self.parties | other.parties)


def call_facts(call: Mapping[str, Any]) -> CallFacts:
    """The facts of a call in its JSON form (``Call.to_dict``)."""
    queues: set[str] = set()
    parties: set[str] = set()
    for key in ("queue",):
        if isinstance(call.get(key), str):
            queues.add(call[key])
    for key in ("agent_interface", "agent_name"):
        if isinstance(call.get(key), str) and call[key]:
            parties.add(call[key])
    for channel in call.get("channels") or ():
        if not isinstance(channel, Mapping) or channel.get("role") == "supervisor":
            continue
        if isinstance(channel.get("queue"), str):
            queues.add(channel["queue"])
        for key in ("endpoint", "agent_interface"):
            if isinstance(channel.get(key), str) and channel[key]:
                parties.add(channel[key])
    return CallFacts(frozenset(queues), frozenset(parties))


def recording_facts(rows: Iterable[Mapping[str, Any]]) -> CallFacts:
    """The facts of a call from its recordings rows (``queue``, ``agent`` columns)."""
    rows = list(rows)
    return CallFacts(frozenset(r["queue"] for r in rows if isinstance(r.get("queue"), str)),
                     frozenset(r["agent"] for r in rows if isinstance(r.get("agent"), str)))


def team_members(scope: Scope, teams: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """Every agent of the scope's teams (a team the configuration lacks has none)."""
    return frozenset().union(*(teams.get(t, frozenset()) for t in scope.teams))


def sees_call(principal: Principal, facts: CallFacts,
              teams: Mapping[str, frozenset[str]]) -> bool:
    """Whether ``principal`` may see (and, if its role allows the action, act on) the call."""
    role, scope = principal.role, principal.scope
    if role in ("admin", "feed"):
        return True
    if role == "supervisor":
        return bool(facts.queues & scope.queues or facts.parties & team_members(scope, teams))
    if role == "agent":
        return scope.agent is not None and scope.agent in facts.parties
    return False


def may(principal: Principal, action: str, facts: CallFacts | None,
        teams: Mapping[str, frozenset[str]]) -> bool:
    """Whether ``principal`` may do ``action`` (on the call with ``facts``, if call-scoped;
    an unknown call, ``facts`` None, only for admin)."""
    if principal.role not in ALLOWED.get(action, frozenset()):
        return False
    if action not in ("pci.change", "recording.download", "legal_hold.change"):
        return True
    if principal.role == "admin":
        return True
    return facts is not None and sees_call(principal, facts, teams)
