"""[spy]: supervisors with teams of [auth.teams] and private PIN files; every problem named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeqa.config import ConfigError
from edgeqa.config.model import parse_config

BASE = """
[ami]
secret_file = "x"
[ari]
password_file = "y"
[auth.teams]
north = ["PJSIP/agent1"]
"""
ENV = {"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}


def test_supervisors_and_pin(tmp_path: Path) -> None:
    pin = tmp_path / "super1.pin"
    pin.write_text("2468\n")
    os.chmod(pin, 0o600)
    cfg = parse_config(BASE + f"""
[spy]
max_per_agent = 2
[spy.supervisors]
"PJSIP/super1" = {{ teams = ["north"], pin_file = "{pin}" }}
"PJSIP/super2" = {{ teams = ["north"] }}
""", env=ENV)
    phones = cfg.spy.supervisors
    assert phones["PJSIP/super1"].pin is not None
    assert phones["PJSIP/super1"].pin.reveal() == "2468"
    assert "2468" not in repr(cfg)
    assert phones["PJSIP/super2"].pin is None and cfg.spy.max_per_agent == 2
    assert cfg.spy.codes["whisper"] == "*223"


@pytest.mark.parametrize(("snippet", "problem"), [
    ('"PJSIP/super1" = { teams = ["west"] }', "team west is not in [auth.teams]"),
    ('"super1" = { teams = ["north"] }', "must be an endpoint"),
    ('"PJSIP/super1,x" = { teams = ["north"] }', "must be an endpoint"),
    ('"PJSIP/super1" = { teams = [] }', "non-empty list"),
    ('"PJSIP/super1" = { teams = ["north"], pin = "1" }', "must be {"),
    ('"PJSIP/super1" = { teams = ["north"], pin_file = "PIN" }', "group or others"),
    ('"PJSIP/super1" = { teams = ["north"], pin_file = "BAD" }', "1-16 digits"),
])
def test_problems_are_named(tmp_path: Path, snippet: str, problem: str) -> None:
    (tmp_path / "PIN").write_text("1234")
    os.chmod(tmp_path / "PIN", 0o644)
    (tmp_path / "BAD").write_text("12a4")
    os.chmod(tmp_path / "BAD", 0o600)
    text = BASE + "[spy.supervisors]\n" + snippet.replace(
        '"PIN"', f'"{tmp_path / "PIN"}"').replace('"BAD"', f'"{tmp_path / "BAD"}"')
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=ENV)
    assert problem in str(info.value) and "spy.supervisors" in str(info.value)


def test_bad_caps_and_codes() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + '[spy]\nmax_total = 0\ncodes = { listen = "*2", whisper = "*2", '
                            'barge = "x" }\nagent_endpoint = "PJSIP/agent"\n', env=ENV)
    text = str(info.value)
    assert "spy.max_total" in text and "spy.codes" in text and "spy.agent_endpoint" in text
