"""[route]: the rules as configured, and a clear error naming each bad key."""

from __future__ import annotations

import pytest

from edgeqa.config import ConfigError, parse_config
from edgeqa.route.config import RouteConfig

ENV = {"EDGEQA_AMI_SECRET": "s", "EDGEQA_ARI_PASSWORD": "p"}


def test_defaults_and_values() -> None:
    assert parse_config("", env=ENV).route == RouteConfig()
    cfg = parse_config('[route]\ndeadline_ms = 30\nvip_numbers = ["5551001", "+4420"]\n'
                       'vip_prio = 20\nvip_queue = "vip"\nprefer_offer_s = 5\n', env=ENV).route
    assert cfg.deadline_ms == 30 and cfg.vip_numbers == frozenset({"5551001", "+4420"})
    assert (cfg.vip_prio, cfg.vip_queue, cfg.prefer_offer_s) == (20, "vip", 5.0)


@pytest.mark.parametrize(("text", "key"), [
    ('vip_numbers = ["555-1001"]', "route.vip_numbers"),
    ('vip_numbers = ["5551001,QUEUE_PRIO=9"]', "route.vip_numbers"),
    ('vip_queue = "support,rb(x)"', "route.vip_queue"),
    ("deadline_ms = 0", "route.deadline_ms"),
    ("deadline_ms = 5000", "route.deadline_ms"),
    ("vip_prio = -1", "route.vip_prio"),
    ("repeat_within_h = 0", "route.repeat_within_h"),
    ("repeat_min_calls = 0", "route.repeat_min_calls"),
    ("history_rows = 100000", "route.history_rows"),
    ("prefer_offer_s = true", "route.prefer_offer_s"),
    ("prefer_offer_s = 0.5", "route.prefer_offer_s"),
    ("prefer_offer_s = 121", "route.prefer_offer_s"),
    ("nonsense = 1", "route.nonsense"),
])
def test_bad_values_are_named(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"[route]\n{text}\n", env=ENV)
    assert key in str(info.value)
