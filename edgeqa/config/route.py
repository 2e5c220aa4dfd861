"""Reading the [route] section (edgeqa.route.config): the routing rules of the FastAGI route."""

from __future__ import annotations

from edgeqa.config.fields import FieldReader, shown
from edgeqa.route.config import (
    CALLER_NUMBER,
    MAX_HISTORY_ROWS,
    MAX_PRIO,
    MAX_WINDOW_H,
    QUEUE_NAME,
    RouteConfig,
)

#: Longest deadline the route may be given: a call waits for it before Queue().
MAX_DEADLINE_MS = 2000
#: Longest first offer to the preferred agent (the others wait behind that caller meanwhile).
MAX_OFFER_S = 120


def _int(r: FieldReader, key: str, default: int, low: int, high: int) -> int:
    value = r.table.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        r.fail(key, f"must be an integer from {low} to {high}, got {shown(value)}")
        return default
    return value


def _queue(r: FieldReader, key: str) -> str:
    value = r.table.get(key, "")
    if value != "" and not (isinstance(value, str) and QUEUE_NAME.fullmatch(value)):
        r.fail(key, f'must be "" (the dialplan\'s queue) or a queue name of 1-64 of '
                    f"A-Z a-z 0-9 _ . -, got {shown(value)}")
        return ""
    return str(value)


def _hours(r: FieldReader, key: str, default: float) -> float:
    value = r.number(key, default)
    if not 0 < value <= MAX_WINDOW_H:
        r.fail(key, f"must be hours > 0 and at most {MAX_WINDOW_H:g}, got {value!r}")
        return default
    return value


def _offer(r: FieldReader) -> float:
    value = r.positive("prefer_offer_s", RouteConfig().prefer_offer_s)
    if not 1.0 <= value <= MAX_OFFER_S:
        r.fail("prefer_offer_s", f"must be from 1 to {MAX_OFFER_S} s, got {value!r}")
        return RouteConfig().prefer_offer_s
    return value


def read_route(r: FieldReader) -> RouteConfig:
    """[route]: rules, thresholds and the deadline (edgeqa.route.config.RouteConfig)."""
    d = RouteConfig()
    vip = r.names("vip_numbers", CALLER_NUMBER, "a caller number (+ and 1-32 digits)")
    return RouteConfig(
        enabled=r.flag("enabled", d.enabled),
        deadline_ms=_int(r, "deadline_ms", d.deadline_ms, 1, MAX_DEADLINE_MS),
        default_queue=_queue(r, "default_queue"),
        vip_numbers=frozenset(vip),
        vip_prio=_int(r, "vip_prio", d.vip_prio, 0, MAX_PRIO),
        vip_queue=_queue(r, "vip_queue"),
        repeat_within_h=_hours(r, "repeat_within_h", d.repeat_within_h),
        repeat_min_calls=_int(r, "repeat_min_calls", d.repeat_min_calls, 1, MAX_HISTORY_ROWS),
        repeat_prio=_int(r, "repeat_prio", d.repeat_prio, 0, MAX_PRIO),
        care_within_h=_hours(r, "care_within_h", d.care_within_h),
        care_dead_air_s=r.positive("care_dead_air_s", d.care_dead_air_s),
        care_talk_over_s=r.positive("care_talk_over_s", d.care_talk_over_s),
        care_prio=_int(r, "care_prio", d.care_prio, 0, MAX_PRIO),
        care_queue=_queue(r, "care_queue"),
        prefer_agent=r.flag("prefer_agent", d.prefer_agent),
        prefer_within_h=_hours(r, "prefer_within_h", d.prefer_within_h),
        prefer_offer_s=_offer(r),
        history_rows=_int(r, "history_rows", d.history_rows, 1, MAX_HISTORY_ROWS),
    )
