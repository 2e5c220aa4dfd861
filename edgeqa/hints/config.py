"""The [hints] section: rules (a call summary's figure at or above a threshold -> a penalty
or a pause for a bounded time) and the guard rails. edgeqa.config.hints reads it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

HintKind = Literal["penalty", "pause"]
HINT_KINDS: tuple[HintKind, ...] = get_args(HintKind)
#: What a rule measures on a call summary (edgeqa.call_summary/3).
Metric = Literal["dead_air_longest_s", "dead_air_total_s", "talk_over_total_s",
                 "talk_over_count", "alerts"]
METRICS: tuple[Metric, ...] = get_args(Metric)
#: Alert types of the summary (edgeqa.metrics.events.AlertType) a rule on "alerts" may count.
ALERT_TYPES = ("dead_air", "talk_over", "clipping", "too_quiet", "too_loud")
#: A rule's name: a config key, shown in events and the audit trail.
RULE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: A pause reason: it goes into AMI QueuePause (Reason) and back in PausedReason, so plain
#: text only (validated, never cleaned).
PAUSE_REASON = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}")
#: A queue name as the hints compare and send it (AMI Queue header).
QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}")
#: The highest penalty a hint may set (Asterisk takes any non-negative int).
PENALTY_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class HintRule:
    """``metric`` at or above ``at_least`` -> ``action`` for ``duration_s``: a penalty raised
    by ``penalty_step`` (up to the max), or a pause with ``reason``. ``alert_types``: which
    alerts count for the "alerts" metric."""

    name: str
    metric: Metric
    at_least: float
    action: HintKind
    duration_s: float
    penalty_step: int = 5
    reason: str = "edgeqa coaching"
    alert_types: frozenset[str] = frozenset(ALERT_TYPES)


def default_rules() -> dict[str, HintRule]:
    """Dead air and talk-over raise the penalty for 5 minutes (dry-run by default)."""
    return {
        "dead_air": HintRule("dead_air", "dead_air_longest_s", 20.0, "penalty", 300.0),
        "talk_over": HintRule("talk_over", "talk_over_total_s", 20.0, "penalty", 300.0),
    }


@dataclass(frozen=True, slots=True)
class HintsConfig:
    """``dry_run``: publish the hints, never touch the switch (the default).
    ``max_penalty``: no hint sets a penalty above it. ``max_paused_share``: the hints never
    pause more than this share of a queue's available agents, and never the last one.
    ``cooldown_s``: at least this long between two hints on one agent. ``max_duration_s``:
    every change expires within it. ``queues``: the queues hints act on (empty: all).
    ``tick_s``: how often expiries are looked for."""

    enabled: bool = True
    dry_run: bool = True
    max_penalty: int = 10
    max_paused_share: float = 0.5
    cooldown_s: float = 900.0
    max_duration_s: float = 3600.0
    queues: frozenset[str] = frozenset()
    tick_s: float = 0.25
    rules: Mapping[str, HintRule] = field(default_factory=default_rules)


KNOWN_KEYS = ("enabled", "dry_run", "max_penalty", "max_paused_share", "cooldown_s",
              "max_duration_s", "queues", "tick_s", "rules")
