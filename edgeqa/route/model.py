"""Sans-I/O routing decision: from a caller number, its past calls (newest first) and the time,
the queue priority, the target queue and the agent to offer first (docs/routing.md).

Rules (edgeqa.route.config.RouteConfig), each a name in ``Decision.reasons``:
- ``vip``: the caller is on the VIP list;
- ``care``: the caller's last call had dead air or talk-over at or beyond the thresholds;
- ``repeat``: the caller called at least ``repeat_min_calls`` times in the window;
- ``prefer``: the last agent who had a good call with the caller, if free in the target queue.

Precedence: the priority is the highest of the dialplan's and every matching rule's; the queue
is the first set of vip_queue (vip), care_queue (care), the dialplan's, default_queue. The
offer never changes the priority or the queue.

No I/O, no clock: ``now`` is an argument. Everything a Decision holds is checked against the
patterns of edgeqa.route.config before it is built, so ``variables()`` is safe for the dialplan.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgeqa.route.config import CALLER_NUMBER, MAX_PRIO, QUEUE_NAME, RouteConfig

#: An agent interface as app_queue names a member (``PJSIP/agent1``): set in ROUTE_AGENT.
AGENT_INTERFACE = re.compile(r"[A-Za-z0-9]{1,16}/[A-Za-z0-9_.@+-]{1,64}")
#: The rule names, in precedence order.
RULES = ("vip", "care", "repeat", "prefer")
#: Longest caller ID text looked at: anything longer is not a number.
MAX_CALLER_TEXT = 64
#: Highest member penalty offered (app_queue's penalty is an int; the dialplan compares it).
MAX_PENALTY = 1_000_000
#: The channel variables the handler sets (one MSet), in order.
VARIABLES = ("QUEUE_PRIO", "ROUTE_QUEUE", "ROUTE_AGENT", "ROUTE_PENALTY", "ROUTE_OFFER_S",
             "ROUTE_REASON")
_SEPARATORS = str.maketrans("", "", " -.()")


def normalise_caller(raw: object) -> str | None:
    """The caller number ``raw`` (outside input: the caller ID) as the history keys it, or None
    when it is not a number (``anonymous``, empty, letters, control characters, too long).

    Visual separators (space, ``-``, ``.``, parentheses) are dropped; what is left must be an
    optional ``+`` and 1..32 digits."""
    if not isinstance(raw, str) or len(raw) > MAX_CALLER_TEXT:
        return None
    text = raw.strip().translate(_SEPARATORS)
    if not CALLER_NUMBER.fullmatch(text):
        return None
    return text


@dataclass(frozen=True, slots=True)
class PastCall:
    """One ended call of the caller, as the caller history keeps it. ``dead_air_s`` and
    ``talk_over_s`` are None when the call had no summary."""

    call_id: str
    ended_at: float
    agent: str | None
    queue: str | None
    dead_air_s: float | None
    talk_over_s: float | None
    partial: bool = False
    #: The summary's own word: heard whole, no dead_air or talk_over alert (None: no summary).
    good: bool | None = None


@dataclass(frozen=True, slots=True)
class MemberView:
    """What the daemon sees of one queue member now: its penalty, and whether it could take a
    call (logged in, not paused, its device not in use)."""

    penalty: int
    ready: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """What the route sets. ``queue`` "" keeps the dialplan's queue; ``agent`` None: no offer."""

    prio: int
    queue: str
    agent: str | None
    penalty: int | None
    offer_s: int
    reasons: tuple[str, ...]

    def variables(self) -> list[tuple[str, str]]:
        """(name, value) of VARIABLES: values of the patterns above only (no ``,|"\\${}``)."""
        return [("QUEUE_PRIO", str(self.prio)), ("ROUTE_QUEUE", self.queue),
                ("ROUTE_AGENT", self.agent or ""),
                ("ROUTE_PENALTY", "" if self.penalty is None else str(self.penalty)),
                ("ROUTE_OFFER_S", str(self.offer_s if self.agent else 0)),
                ("ROUTE_REASON", "+".join(self.reasons))]


def needs_care(call: PastCall, cfg: RouteConfig) -> bool:
    """The call had dead air or talk-over at or beyond the thresholds."""
    return ((call.dead_air_s is not None and call.dead_air_s >= cfg.care_dead_air_s)
            or (call.talk_over_s is not None and call.talk_over_s >= cfg.care_talk_over_s))


def was_good(call: PastCall, cfg: RouteConfig) -> bool:
    """A good call: an agent took it, its summary heard it whole with no dead_air or talk_over
    alert, and it stayed under both thresholds."""
    return (call.agent is not None and call.good is True and call.dead_air_s is not None
            and call.talk_over_s is not None and not call.partial
            and not needs_care(call, cfg))


def clamp_prio(value: int) -> int:
    """A priority within 0..MAX_PRIO."""
    return max(0, min(MAX_PRIO, value))


def parse_prio(raw: object) -> int:
    """The dialplan's own QUEUE_PRIO (an AGI argument: outside input): 0 unless 1..4 digits."""
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,4}", raw):
        return int(raw)
    return 0


def parse_queue(raw: object) -> str:
    """The dialplan's queue (an AGI argument): "" unless a plain queue name."""
    return raw if isinstance(raw, str) and QUEUE_NAME.fullmatch(raw) else ""


def decide(cfg: RouteConfig, caller: str | None, history: Sequence[PastCall], now: float, *,
           base_prio: int = 0, base_queue: str = "",
           member: Callable[[str, str], MemberView | None] = lambda q, a: None) -> Decision:
    """The decision for ``caller`` (normalised, or None) with ``history`` (its calls, newest
    first; only the first ``cfg.history_rows`` are looked at) at wall time ``now``.

    ``member(queue, agent)`` is what the daemon sees of ``agent`` in ``queue`` now (None: not a
    member). ``base_prio``/``base_queue``: what the dialplan had set."""
    reasons: list[str] = []
    prio = clamp_prio(base_prio)
    queue = base_queue if QUEUE_NAME.fullmatch(base_queue) else cfg.default_queue
    recent = [c for c in history[:cfg.history_rows] if c.ended_at <= now]
    vip = caller is not None and caller in cfg.vip_numbers
    last = recent[0] if recent else None
    care = last is not None and now - last.ended_at <= cfg.care_within_h * 3600.0 \
        and needs_care(last, cfg)
    repeat_since = now - cfg.repeat_within_h * 3600.0
    repeat = sum(1 for c in recent if c.ended_at >= repeat_since) >= cfg.repeat_min_calls
    if vip:
        reasons.append("vip")
        prio = max(prio, cfg.vip_prio)
    if care:
        reasons.append("care")
        prio = max(prio, cfg.care_prio)
    if repeat:
        reasons.append("repeat")
        prio = max(prio, cfg.repeat_prio)
    if vip and cfg.vip_queue:
        queue = cfg.vip_queue
    elif care and cfg.care_queue:
        queue = cfg.care_queue
    agent, penalty = _preferred(cfg, recent, now, queue, member)
    if agent is not None:
        reasons.append("prefer")
    offer_s = math.ceil(cfg.prefer_offer_s) if agent is not None else 0  # Queue(): whole s
    return Decision(clamp_prio(prio), queue, agent, penalty, offer_s, tuple(reasons))


def _preferred(cfg: RouteConfig, recent: Sequence[PastCall], now: float, queue: str,
               member: Callable[[str, str], MemberView | None]) -> tuple[str | None, int | None]:
    if not cfg.prefer_agent or not queue or cfg.prefer_offer_s <= 0:
        return None, None
    since = now - cfg.prefer_within_h * 3600.0
    for call in recent:
        if call.ended_at < since:
            break
        if not was_good(call, cfg) or call.agent is None \
                or not AGENT_INTERFACE.fullmatch(call.agent):
            continue
        seen = member(queue, call.agent)
        if seen is None or not seen.ready or not 0 <= seen.penalty <= MAX_PENALTY:
            return None, None  # the agent the caller last had well is not free: no offer
        return call.agent, seen.penalty
    return None, None


def fallback(cfg: RouteConfig, caller: str | None, *, base_prio: int = 0,
             base_queue: str = "") -> Decision:
    """The decision without history (a lookup that failed or came late): the VIP rule only."""
    return decide(cfg, caller, (), 0.0, base_prio=base_prio, base_queue=base_queue)
