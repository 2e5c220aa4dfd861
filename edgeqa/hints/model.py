"""Pure hints model: which rule a call summary crosses, whether the guard rails let the hint
through, and what a stored hint needs once the switch is looked at again. Time is passed in.

A hint is one change to one member of one queue: its penalty raised, or a pause with a
reason, that expires. Its state: ``active`` until it ends ``expired`` (restored at its expiry
or at the daemon's stop), ``cleared`` (by a person, through the API or the CLI), ``dropped``
(the switch no longer shows what the hint set: a person changed it, or the member is gone;
left as it is) or ``failed`` (the switch refused the change).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

from edgeqa.hints.config import QUEUE_NAME, HintKind, HintRule, HintsConfig

State = Literal["active", "expired", "cleared", "dropped", "failed"]
STATES: tuple[State, ...] = get_args(State)
#: Why a rule that fired made no hint (hint.skipped "reason").
SkipReason = Literal["queue_not_hinted", "not_a_member", "active_hint", "cooldown",
                     "max_penalty", "already_paused", "pause_share", "last_agent",
                     "no_switch", "audit_failed", "switch_refused"]
SKIP_REASONS: tuple[SkipReason, ...] = get_args(SkipReason)
#: What a stored active hint needs, the switch's member in hand (reconcile()).
Verdict = Literal["keep", "restore", "restored_already", "changed_by_person", "member_gone"]
#: A member interface as it goes into AMI QueuePenalty/QueuePause (``PJSIP/agent1``,
#: ``Local/100@agents/n``): technology, slash, no separators.
INTERFACE = re.compile(r"[A-Za-z0-9]{1,16}/[A-Za-z0-9_.@+/-]{1,128}")
#: A hint id (the API's path segment).
HINT_ID = re.compile(r"[a-z0-9]{8,32}")
#: Device states (AMI Status) of a member that cannot take a call: invalid, unavailable.
UNAVAILABLE_STATUSES = frozenset({4, 5})


@dataclass(frozen=True, slots=True)
class MemberView:
    """One queue member as QueueStatus (or a QueueMember* event) shows it."""

    interface: str
    name: str = ""
    penalty: int = 0
    paused: bool = False
    paused_reason: str = ""
    status: int = 1

    @property
    def available(self) -> bool:
        """Not paused and able to take a call (its device is not invalid nor unavailable)."""
        return not self.paused and self.status not in UNAVAILABLE_STATUSES


@dataclass(frozen=True, slots=True)
class Hint:
    """One hint and what the switch showed before (``original_*``) and after (``applied_*``)."""

    id: str
    queue: str
    interface: str
    agent: str
    kind: HintKind
    rule: str
    value: float
    call_id: str | None
    dry_run: bool
    created_at: float
    expires_at: float
    original_penalty: int
    applied_penalty: int
    pause_reason: str | None = None
    state: State = "active"
    ended_at: float | None = None
    outcome: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (GET /v1/hints, hint.* events' "hint", the store's row)."""
        return asdict(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Hint:
        """A hint from its JSON form (the store's row)."""
        return Hint(**{k: data[k] for k in Hint.__dataclass_fields__ if k in data})

    def ended(self, state: State, at: float, outcome: str) -> Hint:
        """This hint ended at ``at`` in ``state`` (``outcome``: what was seen or done)."""
        return replace(self, state=state, ended_at=at, outcome=outcome)


@dataclass(frozen=True, slots=True)
class Skip:
    """A rule fired but no hint was made: ``reason`` (SKIP_REASONS) and what it was about."""

    reason: SkipReason
    message: str


# --- rules -------------------------------------------------------------------------------------


def measure(rule: HintRule, summary: Mapping[str, Any]) -> float:
    """The summary's figure for ``rule.metric`` (0 when the summary lacks it)."""
    metric = rule.metric
    if metric == "dead_air_longest_s":
        return max((_num(d.get("duration_s")) for d in _dicts(summary.get("dead_air"))),
                   default=0.0)
    if metric == "dead_air_total_s":
        return sum(_num(d.get("duration_s")) for d in _dicts(summary.get("dead_air")))
    if metric in ("talk_over_total_s", "talk_over_count"):
        block = summary.get("talk_over_summary")
        block = block if isinstance(block, Mapping) else {}
        return _num(block.get("total_s" if metric == "talk_over_total_s" else "count"))
    return float(sum(1 for a in _dicts(summary.get("alerts"))
                     if a.get("type") in rule.alert_types))


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _num(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(value)


def first_rule(rules: Iterable[HintRule], summary: Mapping[str, Any]
               ) -> tuple[HintRule, float] | None:
    """The first rule (config order) whose figure is at or above its threshold, with it."""
    for rule in rules:
        value = measure(rule, summary)
        if value >= rule.at_least:
            return rule, value
    return None


# --- guard rails -------------------------------------------------------------------------------


def decide(cfg: HintsConfig, rule: HintRule, value: float, queue: str, interface: str,
           members: Sequence[MemberView], hints: Iterable[Hint], now: float, *,
           hint_id: str, call_id: str | None) -> Hint | Skip:
    """The hint ``rule`` makes for ``interface`` in ``queue`` at ``now``, or why none.

    ``members``: the queue's members as the switch shows them now. ``hints``: every hint
    known (active ones count against the pause share; any one's ``created_at`` against the
    cooldown). A dry-run hint counts as if it had been applied."""
    if (cfg.queues and queue not in cfg.queues) or not QUEUE_NAME.fullmatch(queue):
        return Skip("queue_not_hinted", f"queue {queue!r} is not one the hints act on")
    member = next((m for m in members if m.interface == interface), None)
    if member is None or not INTERFACE.fullmatch(interface):
        return Skip("not_a_member", f"{interface} is not a member of {queue}")
    known = list(hints)
    active = [h for h in known if h.state == "active"]
    if any(h.interface == interface and h.queue == queue for h in active):
        return Skip("active_hint", f"{interface} has an active hint in {queue} already")
    last = max((h.created_at for h in known if h.interface == interface), default=None)
    if last is not None and now - last < cfg.cooldown_s:
        return Skip("cooldown", f"{interface} had a hint {now - last:.0f} s ago "
                                f"(cooldown {cfg.cooldown_s:g} s)")
    duration_s = min(rule.duration_s, cfg.max_duration_s)
    hint = Hint(id=hint_id, queue=queue, interface=interface, agent=member.name,
                kind=rule.action, rule=rule.name, value=round(value, 3), call_id=call_id,
                dry_run=cfg.dry_run, created_at=now, expires_at=now + duration_s,
                original_penalty=member.penalty, applied_penalty=member.penalty)
    if rule.action == "penalty":
        target = min(member.penalty + rule.penalty_step, cfg.max_penalty)
        if target <= member.penalty:
            return Skip("max_penalty", f"{interface}'s penalty {member.penalty} is at the "
                                       f"maximum {cfg.max_penalty} already")
        return replace(hint, applied_penalty=target)
    if member.paused:
        return Skip("already_paused", f"{interface} is paused in {queue} already")
    ours = {h.interface for h in active if h.queue == queue and h.kind == "pause"}
    available = [m for m in members if m.available and m.interface not in ours]
    pool = len(available) + len(ours)
    if len(available) - 1 < 1:
        return Skip("last_agent", f"{interface} is the last available agent of {queue}")
    if len(ours) + 1 > math.floor(cfg.max_paused_share * pool + 1e-9):
        return Skip("pause_share", f"{len(ours)} of {pool} agents of {queue} are paused by "
                                   f"hints already (max share {cfg.max_paused_share:g})")
    return replace(hint, pause_reason=rule.reason)


def paused_by_hints(hints: Iterable[Hint], queue: str) -> set[str]:
    """The members of ``queue`` an active pause hint holds."""
    return {h.interface for h in hints
            if h.state == "active" and h.kind == "pause" and h.queue == queue}


# --- restore -----------------------------------------------------------------------------------


def shows_applied(hint: Hint, member: MemberView) -> bool:
    """Whether the switch's member still shows what ``hint`` set."""
    if hint.kind == "penalty":
        return member.penalty == hint.applied_penalty
    return member.paused and member.paused_reason == (hint.pause_reason or "")


def shows_original(hint: Hint, member: MemberView) -> bool:
    """Whether the switch's member shows what it had before ``hint``."""
    if hint.kind == "penalty":
        return member.penalty == hint.original_penalty
    return not member.paused


def reconcile(hint: Hint, member: MemberView | None, now: float) -> Verdict:
    """What an active, applied (not dry-run) hint needs, the member as the switch shows it:
    kept until its expiry, restored at it, or dropped when the switch shows something else
    (never undo what a person set meanwhile)."""
    if member is None:
        return "member_gone"
    if shows_applied(hint, member):
        return "restore" if now >= hint.expires_at else "keep"
    if shows_original(hint, member):
        return "restored_already"
    return "changed_by_person"


def member_from(msg: Mapping[str, str | None] | Any) -> MemberView | None:
    """A MemberView from a QueueStatus QueueMember or a QueueMember* event (``get``)."""
    interface = msg.get("Interface") or msg.get("Location") or ""
    if not interface:
        return None
    return MemberView(interface=interface, name=msg.get("MemberName") or msg.get("Name") or "",
                      penalty=_int(msg.get("Penalty")), paused=_int(msg.get("Paused")) != 0,
                      paused_reason=msg.get("PausedReason") or "",
                      status=_int(msg.get("Status"), 1))


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
