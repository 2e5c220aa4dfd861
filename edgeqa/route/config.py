"""The [route] section: the rules the FastAGI ``route`` handler decides by (edgeqa.route.model).

edgeqa.config.route reads the section; every value that reaches the dialplan is checked here
(a queue name, a priority, an offer time), so the handler only ever sends validated values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: A caller number as the rules and the caller history key it: an optional ``+`` then digits.
CALLER_NUMBER = re.compile(r"\+?[0-9]{1,32}")
#: A queue name that goes into a channel variable and then into Queue(): no dialplan syntax.
QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: Highest QUEUE_PRIO the rules set (app_queue takes any int; four digits is plenty).
MAX_PRIO = 9999
#: Longest look-back of the history rules (a year): bounds the index range a lookup reads.
MAX_WINDOW_H = 24.0 * 366
#: Most past calls a decision reads (the newest first): bounds a lookup's cost.
MAX_HISTORY_ROWS = 1000


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """``deadline_ms``: the handler answers within this, history or not.
    ``vip_numbers``: callers (CALLER_NUMBER) given ``vip_prio`` and ``vip_queue``.
    ``repeat_*``: a caller with at least ``repeat_min_calls`` calls in the last ``repeat_within_h``
    hours gets ``repeat_prio``.
    ``care_*``: a caller whose last call (within ``care_within_h``) had at least
    ``care_dead_air_s`` of dead air or ``care_talk_over_s`` of talk-over gets ``care_prio`` and
    ``care_queue``.
    ``prefer_*``: the last agent who had a good call (under both care thresholds, not partial)
    with the caller within ``prefer_within_h`` hours is offered first for ``prefer_offer_s``
    seconds, if the daemon sees it free in the target queue.
    ``history_rows``: most past calls of one caller a decision reads.
    A queue left empty ("") keeps the dialplan's queue."""

    enabled: bool = True
    deadline_ms: int = 50
    default_queue: str = ""
    vip_numbers: frozenset[str] = field(default_factory=frozenset)
    vip_prio: int = 10
    vip_queue: str = ""
    repeat_within_h: float = 24.0
    repeat_min_calls: int = 1
    repeat_prio: int = 5
    care_within_h: float = 72.0
    care_dead_air_s: float = 10.0
    care_talk_over_s: float = 5.0
    care_prio: int = 7
    care_queue: str = ""
    prefer_agent: bool = True
    prefer_within_h: float = 168.0
    prefer_offer_s: float = 8.0
    history_rows: int = 50


KNOWN_KEYS = tuple(RouteConfig.__dataclass_fields__)
