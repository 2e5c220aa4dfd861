"""[hints] (rules, guard rails, every problem named) and who reads hint.* events: an agent
its own hints only, a supervisor those of its queues and teams."""

from __future__ import annotations

import pytest

from edgeqa.auth.model import Principal, Scope
from edgeqa.auth.visibility import event_call_id, sees_uncalled_event
from edgeqa.config import ConfigError
from edgeqa.config.model import parse_config

BASE = """
[ami]
secret_file = "x"
[ari]
password_file = "y"
"""
ENV = {"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}


def test_defaults_are_dry_run_with_bounded_rules() -> None:
    cfg = parse_config(BASE, env=ENV).hints
    assert cfg.enabled and cfg.dry_run
    assert all(r.duration_s <= cfg.max_duration_s for r in cfg.rules.values())


def test_rules_and_rails_are_read() -> None:
    cfg = parse_config(BASE + """
[hints]
dry_run = false
max_penalty = 7
max_paused_share = 0.25
cooldown_s = 60
queues = ["hints"]
[hints.rules.coach]
metric = "alerts"
alert_types = ["clipping", "too_loud"]
at_least = 2
action = "pause"
duration_s = 120
reason = "edgeqa coaching"
""", env=ENV).hints
    assert (cfg.dry_run, cfg.max_penalty, cfg.max_paused_share) == (False, 7, 0.25)
    (rule,) = cfg.rules.values()
    assert (rule.name, rule.action, rule.alert_types) == ("coach", "pause",
                                                          frozenset({"clipping", "too_loud"}))


@pytest.mark.parametrize(("body", "says"), [
    ('max_paused_share = 2', "max_paused_share"),
    ('[hints.rules.x]\nmetric = "mood"\nat_least = 1', "metric must be one of"),
    ('[hints.rules.x]\nmetric = "alerts"\nat_least = 1\naction = "fire"', "penalty or pause"),
    ('[hints.rules.x]\nmetric = "alerts"\nat_least = 1\nduration_s = 99999',
     "above max_duration_s"),
    ('[hints.rules.x]\nmetric = "alerts"\nat_least = 1\naction = "pause"\n'
     'reason = "a\\r\\nAction: Originate"', "reason must be"),
    ('queues = ["sup port"]', "queue name"),
])
def test_bad_values_are_named(body: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + "[hints]\n" + body + "\n", env=ENV)
    assert says in str(err.value)


HINT = {"hint": {"id": "0123456789abcdef", "queue": "hints", "interface": "PJSIP/agent2",
                 "agent": "Agent Two", "call_id": "c1"}}
TEAMS = {"north": frozenset({"Agent Two"})}


@pytest.mark.parametrize(("principal", "sees"), [
    (Principal(1, "admin", "admin"), True),
    (Principal(2, "crm", "feed"), True),
    (Principal(3, "m", "metrics"), False),
    (Principal(4, "agent2", "agent", Scope(agent="PJSIP/agent2")), True),
    (Principal(5, "agent3", "agent", Scope(agent="PJSIP/agent3")), False),
    (Principal(6, "q", "supervisor", Scope(queues=frozenset({"hints"}))), True),
    (Principal(7, "t", "supervisor", Scope(teams=frozenset({"north"}))), True),
    (Principal(8, "o", "supervisor", Scope(queues=frozenset({"support"}))), False),
])
def test_hint_events_per_role(principal: Principal, sees: bool) -> None:
    assert event_call_id(HINT) is None  # never judged by the call: a transfer has 2 agents
    for type_ in ("hint.applied", "hint.expired"):
        assert sees_uncalled_event(principal, type_, HINT, TEAMS) is sees
    skipped = {"hint": {k: v for k, v in HINT["hint"].items() if k != "id"}
               | {"reason": "cooldown"}}
    assert event_call_id(skipped) is None
    assert sees_uncalled_event(principal, "hint.skipped", skipped, TEAMS) is sees
