"""[api] cross-site guard and connection bound keys: defaults, the example, refusals."""

from __future__ import annotations

import pytest

from edgeqa.config import ConfigError, load_config, parse_config
from tests.support.paths import REPO

ENV = {"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}


def test_defaults() -> None:
    api = parse_config("", env=ENV).api
    assert (api.allowed_hosts, api.allowed_origins) == ((), ())
    assert (api.header_timeout_s, api.idle_timeout_s) == (10.0, 30.0)
    assert (api.max_connections, api.max_subscribers_per_token) == (256, 16)
    assert load_config(REPO / "examples" / "edgeqa.toml", env=ENV).api == api


def test_values_are_read() -> None:
    api = parse_config('[api]\nallowed_hosts = ["pbx.example", "proxy.example:443"]\n'
                       'allowed_origins = ["https://dash.example"]\nheader_timeout_s = 1.5\n'
                       "idle_timeout_s = 2\nmax_connections = 9\nmax_subscribers_per_token = 3\n",
                       env=ENV).api
    assert api.allowed_hosts == ("pbx.example", "proxy.example:443")
    assert api.allowed_origins == ("https://dash.example",)
    assert (api.header_timeout_s, api.idle_timeout_s) == (1.5, 2.0)
    assert (api.max_connections, api.max_subscribers_per_token) == (9, 3)


@pytest.mark.parametrize(("line", "key", "words"), [
    ('allowed_origins = ["*"]', "api.allowed_origins", "no '*'"),
    ('allowed_origins = ["null"]', "api.allowed_origins", "'null'"),
    ('allowed_origins = ["https://dash.example/app"]', "api.allowed_origins", "no path"),
    ('allowed_origins = "https://dash.example"', "api.allowed_origins", "list of strings"),
    ('allowed_hosts = ["*.example"]', "api.allowed_hosts", "no wildcards"),
    ('allowed_hosts = ["http://pbx.example"]', "api.allowed_hosts", "not a host name"),
    ('allowed_hosts = ["pbx\\u0000.example"]', "api.allowed_hosts", "a host name"),
    ("header_timeout_s = 0", "api.header_timeout_s", "> 0"),
    ("idle_timeout_s = -1", "api.idle_timeout_s", "> 0"),
    ("max_connections = 0", "api.max_connections", ">= 1"),
    ("max_subscribers_per_token = true", "api.max_subscribers_per_token", ">= 1"),
])
def test_refusals_name_key_and_line(line: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"[api]\nport = 8765\n{line}\n", env=ENV)
    assert info.value.key == key
    assert info.value.line == 3
    assert words in info.value.message


def test_the_example_s_route_and_hints_are_the_defaults() -> None:
    """examples/edgeqa.toml spells out [route] and [hints] with the defaults' values."""
    from edgeqa.hints.config import HintsConfig
    from edgeqa.route.config import RouteConfig

    cfg = load_config(REPO / "examples" / "edgeqa.toml", env=ENV)
    assert cfg.route == RouteConfig()
    hints = cfg.hints
    assert (hints.enabled, hints.dry_run, hints.max_penalty, hints.max_paused_share,
            hints.cooldown_s, hints.max_duration_s, hints.queues) == (
        True, True, 10, 0.5, 900.0, 3600.0, frozenset())
    assert hints == HintsConfig()
