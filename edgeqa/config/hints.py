"""Reading the [hints] section (edgeqa.hints.config): guard rails and [hints.rules.NAME]."""

from __future__ import annotations

import math
from typing import Any

from edgeqa.config.fields import FieldReader, shown
from edgeqa.hints.config import (
    ALERT_TYPES,
    HINT_KINDS,
    METRICS,
    PAUSE_REASON,
    PENALTY_LIMIT,
    QUEUE_NAME,
    RULE_NAME,
    HintKind,
    HintRule,
    HintsConfig,
    Metric,
    default_rules,
)

RULE_KEYS = frozenset({"metric", "at_least", "action", "duration_s", "penalty_step", "reason",
                       "alert_types"})


def _rule(r: FieldReader, name: str, spec: Any, max_duration_s: float) -> HintRule | None:
    where = f"rules.{name}"
    if not isinstance(spec, dict) or set(spec) - RULE_KEYS:
        r.fail("rules", f"{where}: must be a table of {', '.join(sorted(RULE_KEYS))}")
        return None
    metric, action = spec.get("metric"), spec.get("action", "penalty")
    if metric not in METRICS:
        r.fail("rules", f"{where}.metric must be one of {', '.join(METRICS)}, "
                        f"got {shown(metric)}")
        return None
    if action not in HINT_KINDS:
        r.fail("rules", f"{where}.action must be penalty or pause, got {shown(action)}")
        return None
    at_least, duration_s = spec.get("at_least"), spec.get("duration_s", 300.0)
    for key, value in (("at_least", at_least), ("duration_s", duration_s)):
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value <= 0:
            r.fail("rules", f"{where}.{key} must be a number > 0, got {shown(value)}")
            return None
    assert isinstance(at_least, int | float) and isinstance(duration_s, int | float)
    if duration_s > max_duration_s:
        r.fail("rules", f"{where}.duration_s {duration_s:g} is above max_duration_s "
                        f"{max_duration_s:g}: every change must expire within it")
        return None
    step = spec.get("penalty_step", 5)
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= PENALTY_LIMIT:
        r.fail("rules", f"{where}.penalty_step must be an integer >= 1, got {shown(step)}")
        return None
    reason = spec.get("reason", "edgeqa coaching")
    if not isinstance(reason, str) or not PAUSE_REASON.fullmatch(reason):
        r.fail("rules", f"{where}.reason must be 1-64 of letters, digits, space and _ . : -, "
                        f"got {shown(reason)}")
        return None
    types = spec.get("alert_types", list(ALERT_TYPES))
    if not isinstance(types, list) or not types or not all(t in ALERT_TYPES for t in types):
        r.fail("rules", f"{where}.alert_types must be a list of {', '.join(ALERT_TYPES)}")
        return None
    kind: HintKind = action
    measured: Metric = metric
    return HintRule(name, measured, float(at_least), kind, float(duration_s), step, reason,
                    frozenset(types))


def read_hints(r: FieldReader) -> HintsConfig:
    """The [hints] section; a rule lasting longer than max_duration_s is refused."""
    max_duration_s = r.positive("max_duration_s", 3600.0)
    share = r.number("max_paused_share", 0.5)
    if not 0 <= share <= 1:
        r.fail("max_paused_share", f"must be from 0 to 1, got {share!r}")
        share = 0.5
    max_penalty = r.count("max_penalty", 10)
    table = r.table.get("rules")
    rules = default_rules()
    if table is not None:
        rules = {}
        if not isinstance(table, dict):
            r.fail("rules", "must be a table of NAME = { metric = ..., at_least = ..., "
                            "action = \"penalty\"|\"pause\", duration_s = ... }")
        else:
            for name, spec in table.items():
                if not RULE_NAME.fullmatch(name):
                    r.fail("rules", f"{shown(name)}: a rule name is a-z, 0-9 and _")
                    continue
                rule = _rule(r, name, spec, max_duration_s)
                if rule is not None:
                    rules[name] = rule
    return HintsConfig(enabled=r.flag("enabled", True), dry_run=r.flag("dry_run", True),
                       max_penalty=max_penalty, max_paused_share=share,
                       cooldown_s=r.positive("cooldown_s", 900.0),
                       max_duration_s=max_duration_s,
                       queues=frozenset(r.names("queues", QUEUE_NAME, "a queue name")),
                       tick_s=r.positive("tick_s", 0.25), rules=rules)
