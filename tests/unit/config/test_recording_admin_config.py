"""[recording] retention and disk guard keys: defaults, a full example, errors with their line."""

from __future__ import annotations

import pytest

from edgeqa.config import ConfigError, load_config, parse_config
from tests.support.paths import REPO

ENV = {"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}
EXAMPLE = REPO / "examples" / "edgeqa.toml"


def test_defaults_keep_forever_and_guard_one_gib() -> None:
    rec = parse_config("", env=ENV).recording
    assert (rec.retention_days, rec.queue_retention_days, rec.retention_interval_s) == (
        None, (), 3600.0)
    assert (rec.min_free_mb, rec.min_free_percent, rec.disk_check_interval_s) == (
        1024.0, 0.0, 30.0)
    example = load_config(EXAMPLE, env=ENV).recording
    assert (example.retention_days, example.min_free_mb) == (None, 1024.0)


def test_all_keys() -> None:
    rec = parse_config('[recording]\nretention_days = 90\nretention_interval_s = 600\n'
                       'min_free_mb = 0\nmin_free_percent = 2.5\ndisk_check_interval_s = 5\n'
                       '[recording.queue_retention_days]\nsupport = 30\n"VIP line" = 365.5\n',
                       env=ENV).recording
    assert rec.retention_days == 90 and rec.retention_interval_s == 600
    assert rec.queue_retention_days == (("support", 30.0), ("VIP line", 365.5))
    assert (rec.min_free_mb, rec.min_free_percent, rec.disk_check_interval_s) == (0, 2.5, 5)


@pytest.mark.parametrize(("body", "message"), [
    ("retention_days = 0", "recording.retention_days: must be > 0"),
    ('retention_days = "30"', "recording.retention_days: must be a number"),
    ("retention_interval_s = -1", "recording.retention_interval_s: must be > 0"),
    ("queue_retention_days = 30", "recording.queue_retention_days: must be a table"),
    ("[recording.queue_retention_days]\nsupport = 0",
     "recording.queue_retention_days: support: must be days > 0"),
    ("[recording.queue_retention_days]\nsupport = true",
     "recording.queue_retention_days: support: must be days > 0"),
    ('[recording.queue_retention_days]\n"a\\tb" = 1',
     "recording.queue_retention_days: 'a\\tb' is not a queue name"),
    ("min_free_mb = -1", "recording.min_free_mb: must be >= 0"),
    ("min_free_percent = 100", "recording.min_free_percent: must be >= 0 and < 100"),
    ("disk_check_interval_s = 0", "recording.disk_check_interval_s: must be > 0"),
])
def test_errors_name_the_key(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"[recording]\n{body}\n", env=ENV)
    assert message in str(err.value)
    assert err.value.line is not None
