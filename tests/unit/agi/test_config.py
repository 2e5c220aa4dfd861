"""[agi]: defaults, loopback only, bounded limits, and the limits the server gets."""

from __future__ import annotations

import pytest

from edgeqa.agi import AgiLimits
from edgeqa.config import ConfigError, parse_config

ENV = {"EDGEQA_AMI_SECRET": "s", "EDGEQA_ARI_PASSWORD": "p"}


def test_defaults() -> None:
    agi = parse_config("", env=ENV).agi
    assert (agi.enabled, agi.host, agi.port) == (True, "127.0.0.1", 4573)
    assert agi.limits == AgiLimits()


def test_keys_reach_the_limits() -> None:
    agi = parse_config("[agi]\nenabled = false\nhost = \"::1\"\nport = 0\nmax_sessions = 8\n"
                       "env_timeout_s = 1.5\ncommand_timeout_s = 2.5\nmax_line_bytes = 4096\n"
                       "max_env_lines = 64\n", env=ENV).agi
    assert (agi.enabled, agi.host, agi.port) == (False, "::1", 0)
    assert agi.limits == AgiLimits(max_sessions=8, env_timeout_s=1.5, command_timeout_s=2.5,
                                   max_line_bytes=4096, max_env_lines=64)


@pytest.mark.parametrize(("text", "key", "words"), [
    ('host = "0.0.0.0"', "agi.host", "must be a loopback address"),
    ('host = "192.168.1.5"', "agi.host", "must be a loopback address"),
    ("port = 70000", "agi.port", "port number"),
    ("max_sessions = 0", "agi.max_sessions", "integer >= 1"),
    ("max_line_bytes = 100", "agi.max_line_bytes", "from 1024"),
    ("env_timeout_s = 0", "agi.env_timeout_s", ""),
    ("nope = 1", "agi.nope", "unknown"),
])
def test_bad_values_are_named(text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"[agi]\n{text}\n", env=ENV)
    assert [e.key for e in err.value.errors] == [key]
    assert words in str(err.value) and err.value.line == 2
