"""Pure spy model: who may spy on whom (supervisor phone -> teams -> agents, and the token's
scope), the PIN, the caps, the agent's EXACT live channel, and the session's modes.

Targets are resolved from the tracker's snapshot (``CallTracker.snapshot()``: calls in their
JSON form). An agent identity (``PJSIP/agent1``, its queue interface or its member name) is
compared for equality with a channel's endpoint (the channel name without its ``-<seq>``),
its agent interface, or its call's agent name: never as a prefix, so agent1 never reaches
agent10. ChanSpy then gets that one channel's full name.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from edgeqa.auth.model import Principal, call_facts, sees_call, team_members
from edgeqa.spy.config import SpyConfig, SupervisorPhone

Mode = Literal["listen", "whisper", "barge"]
MODES: tuple[Mode, ...] = get_args(Mode)
#: ChanSpy's DTMF mode switches (option d): 4 listen, 5 whisper, 6 barge (app_chanspy.c).
DIGIT_OF: Mapping[Mode, str] = {"listen": "4", "whisper": "5", "barge": "6"}
MODE_OF_DIGIT: Mapping[str, Mode] = {d: m for m, d in DIGIT_OF.items()}
#: ChanSpy options: q quiet, E exit when the spied channel hangs up, d DTMF mode switches,
#: u the target is one full channel name (never a prefix, and no waiting for a gone channel);
#: then w whisper or B barge (listen adds nothing).
BASE_OPTIONS = "qEdu"
MODE_OPTION: Mapping[Mode, str] = {"listen": "", "whisper": "w", "barge": "B"}

Via = Literal["feature_code", "api", "cli"]
Reason = Literal["unauthorised", "wrong_pin", "unknown_agent", "unknown_call", "not_on_call",
                 "too_many_spies"]
#: The HTTP status of each denial (spy_api.md).
STATUS_OF: Mapping[Reason, int] = {
    "unauthorised": 403, "wrong_pin": 403, "unknown_agent": 404, "unknown_call": 404,
    "not_on_call": 409, "too_many_spies": 409}
#: A session id: what the API and the AGI script path carry.
SESSION_ID = re.compile(r"[a-z0-9]{8,32}")
#: The reason a supervisor gives: printable, bounded (it goes into the audit trail).
REASON_TEXT = re.compile(r"[^\x00-\x1f\x7f]{0,200}")
#: The digits a feature code carries after its prefix (the dialplan allows 1-6).
AGENT_DIGITS = re.compile(r"[0-9]{1,6}")
#: Mode changes kept per session (the audit trail has every one).
MAX_MODE_CHANGES = 256


class SpyDenied(Exception):
    """A spy that is not allowed: ``reason`` (spy_api.md) and its HTTP ``status``."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.status = STATUS_OF[reason]


@dataclass(frozen=True, slots=True)
class Target:
    """What a spy attaches to: the call, its agent's exact channel, and the agent's names."""

    call_id: str
    agent: str
    agent_channel: str
    identities: frozenset[str]
    call: Mapping[str, Any]


def chanspy_options(mode: Mode) -> str:
    """``qEd`` + ``w``/``B``/nothing."""
    return BASE_OPTIONS + MODE_OPTION[mode]


def parse_mode(value: object) -> Mode:
    """A mode from outside; ValueError names the ones there are."""
    for mode in MODES:
        if value == mode:
            return mode
    raise ValueError(f"mode must be one of {', '.join(MODES)}, got {value!r}")


def check_pin(phone: SupervisorPhone, given: str | None) -> bool:
    """Whether ``given`` is the phone's PIN (a phone without a PIN needs none); in constant
    time for PINs of equal length."""
    if phone.pin is None:
        return True
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), phone.pin.reveal().encode())


# --- targets -------------------------------------------------------------------------------


def _live_calls(snap: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in snap.get("calls", ()) if isinstance(c, Mapping) and c.get("ended_at")
            is None]


def _spyable(channel: Mapping[str, Any]) -> bool:
    """A live, answered channel that is not a supervisor's."""
    return (channel.get("ended_at") is None and channel.get("state") == "up"
            and channel.get("role") != "supervisor")


def channel_identities(call: Mapping[str, Any], channel: Mapping[str, Any]) -> frozenset[str]:
    """The names an agent channel answers to: its endpoint, its agent interface, and (if it is
    the call's agent) the call's agent name."""
    names = {channel.get("endpoint"), channel.get("agent_interface")}
    if channel.get("role") == "agent" and call.get("agent_name") and (
            call.get("agent_interface") in (None, channel.get("agent_interface"),
                                            channel.get("endpoint"))):
        names.add(call.get("agent_name"))
    return frozenset(n for n in names if isinstance(n, str) and n)


def _newest(found: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]
            ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    return max(found, key=lambda cc: (cc[1].get("answered_at") or 0.0,
                                      cc[1].get("started_at") or 0.0, str(cc[1].get("channel"))))


def known_agents(snap: Mapping[str, Any], teams: Mapping[str, frozenset[str]]) -> set[str]:
    """Every agent name the daemon knows: queue members, configured teams, calls' agents."""
    names: set[str] = set().union(*teams.values()) if teams else set()
    for agent in snap.get("agents", ()):
        if isinstance(agent, Mapping):
            names.update(v for v in (agent.get("interface"), agent.get("name"))
                         if isinstance(v, str) and v)
    for call in _live_calls(snap):
        for channel in call.get("channels") or ():
            if isinstance(channel, Mapping) and channel.get("role") == "agent":
                names |= channel_identities(call, channel)
    return names


def resolve_agent(snap: Mapping[str, Any], agent: str,
                  teams: Mapping[str, frozenset[str]]) -> Target:
    """The ONE live channel of ``agent`` (exact name equality); SpyDenied unknown_agent or
    not_on_call. With several (a transfer in flight), the newest answered."""
    found = [(call, channel) for call in _live_calls(snap)
             for channel in call.get("channels") or ()
             if isinstance(channel, Mapping) and _spyable(channel)
             and channel.get("role") in ("agent", "callee", "unknown")
             and agent in channel_identities(call, channel)]
    if not found:
        if agent not in known_agents(snap, teams):
            raise SpyDenied("unknown_agent", f"no agent {agent!r} is known")
        raise SpyDenied("not_on_call", f"agent {agent!r} is not on a call")
    call, channel = _newest(found)
    return Target(str(call["call_id"]), agent, str(channel["channel"]),
                  channel_identities(call, channel), call)


def resolve_call(snap: Mapping[str, Any], call_id: str) -> Target:
    """The agent channel of call ``call_id``; SpyDenied unknown_call or not_on_call."""
    call = next((c for c in _live_calls(snap) if c.get("call_id") == call_id), None)
    if call is None:
        raise SpyDenied("unknown_call", f"no call {call_id!r} is up")
    found = [(call, ch) for ch in call.get("channels") or ()
             if isinstance(ch, Mapping) and _spyable(ch) and ch.get("role") == "agent"]
    if not found:
        raise SpyDenied("not_on_call", f"call {call_id!r} has no agent on it")
    _, channel = _newest(found)
    names = channel_identities(call, channel)
    agent = str(channel.get("endpoint") or channel["channel"])
    return Target(call_id, agent, str(channel["channel"]), names, call)


# --- policy ----------------------------------------------------------------------------------


def phone_covers(phone: SupervisorPhone, target: Target,
                 teams: Mapping[str, frozenset[str]]) -> bool:
    """Whether the phone's teams hold the target's agent (by any of its names)."""
    members = frozenset().union(*(teams.get(t, frozenset()) for t in phone.teams))
    return bool(members & target.identities)


def authorise(cfg: SpyConfig, teams: Mapping[str, frozenset[str]], supervisor: str,
              target: Target, principal: Principal | None) -> SupervisorPhone:
    """The supervisor phone, if it may spy on ``target``: it is in [spy.supervisors], its
    teams hold the agent, and (API/CLI) the token is admin or a supervisor whose scope covers
    the call. SpyDenied unauthorised otherwise."""
    phone = cfg.supervisors.get(supervisor)
    if phone is None:
        raise SpyDenied("unauthorised", f"{supervisor!r} is not a supervisor phone")
    if principal is not None and principal.role != "admin" and not (
            principal.role == "supervisor"
            and sees_call(principal, call_facts(target.call), teams)):
        raise SpyDenied("unauthorised", f"the token {principal.name!r} does not cover this "
                                        "agent")
    if not phone_covers(phone, target, teams):
        raise SpyDenied("unauthorised", f"{supervisor} may not spy on {target.agent}")
    return phone


def agent_names(snap: Mapping[str, Any], agent: str) -> frozenset[str]:
    """``agent`` and the other name its queue membership gives it (interface <-> member name):
    configuration, not where the agent is."""
    names = {agent}
    for member in snap.get("agents", ()):
        if isinstance(member, Mapping) and agent in (member.get("interface"), member.get("name")):
            names.update(v for v in (member.get("interface"), member.get("name"))
                         if isinstance(v, str) and v)
    return frozenset(names)


def authorise_name(cfg: SpyConfig, teams: Mapping[str, frozenset[str]], supervisor: str,
                   names: frozenset[str], principal: Principal | None) -> None:
    """Before the live state is looked at (a request by agent name): the phone's teams must
    name the agent, and a token that is not admin must be a supervisor whose teams name it
    (or who has queues, judged on the call by authorise). SpyDenied unauthorised otherwise,
    so that a denial never tells where an agent is (not_on_call would)."""
    phone = cfg.supervisors.get(supervisor)
    if phone is None:
        raise SpyDenied("unauthorised", f"{supervisor!r} is not a supervisor phone")
    members = frozenset().union(*(teams.get(t, frozenset()) for t in phone.teams))
    if not members & names:
        raise SpyDenied("unauthorised", f"{supervisor} may not spy on {min(names)}")
    if principal is not None and principal.role != "admin" and not (
            principal.role == "supervisor"
            and (principal.scope.queues or team_members(principal.scope, teams) & names)):
        raise SpyDenied("unauthorised", f"the token {principal.name!r} does not cover this "
                                        "agent")


def check_caps(cfg: SpyConfig, active: Iterable[SpySession], target: Target) -> None:
    """SpyDenied too_many_spies if the agent or the whole switch has its cap of spies."""
    sessions = [s for s in active if s.ended_at is None]
    if len(sessions) >= cfg.max_total:
        raise SpyDenied("too_many_spies", f"{cfg.max_total} spies are running already")
    on_agent = [s for s in sessions
                if s.agent_channel == target.agent_channel or s.agent in target.identities]
    if len(on_agent) >= cfg.max_per_agent:
        raise SpyDenied("too_many_spies", f"{target.agent} has {cfg.max_per_agent} spies "
                                          "already")


# --- the session -----------------------------------------------------------------------------


class SessionError(Exception):
    """A change a session in its state cannot take (ended already)."""


@dataclass(frozen=True, slots=True)
class ModeChange:
    """The mode at wall time ``at``, set by ``by`` (``dtmf:PJSIP/super1``, ``api:lead#3``)."""

    at: float
    mode: Mode
    by: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"at": self.at, "mode": self.mode, "by": self.by}


@dataclass(slots=True)
class SpySession:
    """One spy: decided (``pending`` until ChanSpy runs), ``active``, then ``ended``."""

    id: str
    supervisor: str
    agent: str
    call_id: str
    agent_channel: str
    mode: Mode
    reason: str
    started_at: float
    actor: str
    via: Via
    origin: str
    spyer_channel: str | None = None
    ended_at: float | None = None
    result: str | None = None
    state: Literal["pending", "active", "ended"] = "pending"
    modes: list[ModeChange] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.modes:
            self.modes.append(ModeChange(self.started_at, self.mode, self.actor))

    def connected(self, spyer_channel: str) -> None:
        """ChanSpy runs on ``spyer_channel``."""
        if self.state == "ended":
            raise SessionError(f"spy {self.id} has ended")
        self.spyer_channel, self.state = spyer_channel, "active"

    def change_mode(self, mode: Mode, at: float, by: str) -> bool:
        """Note the mode ``by`` set at ``at``; False if it is the mode already."""
        if self.state == "ended":
            raise SessionError(f"spy {self.id} has ended")
        if mode == self.mode:
            return False
        self.mode = mode
        if len(self.modes) >= MAX_MODE_CHANGES:
            del self.modes[1]  # keep the first mode; the audit trail has every change
        self.modes.append(ModeChange(at, mode, by))
        return True

    def end(self, at: float, result: str) -> bool:
        """End the session at ``at`` (``result``: why); False if it had ended already."""
        if self.state == "ended":
            return False
        self.state, self.ended_at, self.result = "ended", max(at, self.started_at), result
        return True

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (GET /v1/spy, spy.* events' "spy")."""
        return {"id": self.id, "supervisor": self.supervisor, "agent": self.agent,
                "call_id": self.call_id, "agent_channel": self.agent_channel,
                "spyer_channel": self.spyer_channel, "mode": self.mode, "state": self.state,
                "modes": [m.to_dict() for m in self.modes], "reason": self.reason,
                "started_at": self.started_at, "ended_at": self.ended_at,
                "actor": self.actor, "via": self.via, "from": self.origin,
                "result": self.result}

    def audit_detail(self, result: str) -> dict[str, Any]:
        """The audit entry's detail (spy_api.md): session, who, via, from, target, mode."""
        return {"session": self.id, "supervisor": self.supervisor, "via": self.via,
                "from": self.origin, "agent": self.agent, "call_id": self.call_id,
                "agent_channel": self.agent_channel, "mode": self.mode,
                "reason": self.reason, "result": result}
