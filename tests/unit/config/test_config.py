"""Config: TOML -> frozen dataclasses, with errors naming file, key and line; secrets hidden."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgeqa.config import ConfigError, Secret, load_config, parse_config, with_overrides
from edgeqa.config.fields import find_key_line
from tests.support.paths import REPO

EXAMPLE = REPO / "examples" / "edgeqa.toml"
ENV = {"EDGEQA_AMI_SECRET": "s3cret-ami", "EDGEQA_ARI_PASSWORD": "s3cret-ari"}


def _secret_file(path: Path, text: str) -> None:
    """A secret file as an admin makes one: readable by its owner only (0600)."""
    path.write_text(text)
    path.chmod(0o600)


def test_example_config_is_valid_and_complete() -> None:
    cfg = load_config(EXAMPLE, env=ENV)
    assert cfg.ami.port == 5038
    assert cfg.ami.secret.reveal() == "s3cret-ami"
    assert cfg.ari.password.reveal() == "s3cret-ari"
    assert cfg.api.host == "127.0.0.1"
    assert cfg.store.synchronous == "full"
    assert cfg.logging.format == "text"
    assert cfg.source == EXAMPLE.resolve()


def test_defaults_with_empty_file() -> None:
    cfg = parse_config("", env=ENV)
    assert cfg.ami.host == "127.0.0.1"
    assert cfg.ari.url == "http://127.0.0.1:8088/ari"
    assert cfg.api.subscriber_queue_max_events == 1000


def test_config_is_frozen() -> None:
    cfg = parse_config("", env=ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.ami.port = 1  # type: ignore[misc]


def test_repr_hides_secrets() -> None:
    cfg = parse_config("", env=ENV)
    text = repr(cfg) + str(cfg.ami.secret)
    assert "s3cret" not in text
    assert "Secret('***')" in text


def test_secret_from_file_relative_to_config(tmp_path: Path) -> None:
    _secret_file(tmp_path / "ami.secret", "from-file\n")
    _secret_file(tmp_path / "ari.secret", "ari-file\n")
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "ami.secret"\n[ari]\npassword_file = "ari.secret"\n')
    cfg = load_config(conf, env={})
    assert cfg.ami.secret == Secret("from-file")
    assert cfg.ari.password.reveal() == "ari-file"


def test_env_wins_over_file(tmp_path: Path) -> None:
    _secret_file(tmp_path / "ami.secret", "from-file\n")
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "ami.secret"\n')
    cfg = load_config(conf, env=ENV)
    assert cfg.ami.secret.reveal() == "s3cret-ami"


def test_missing_secret_names_key_and_env() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("[ami]\nport = 5038\n", env={"EDGEQA_ARI_PASSWORD": "x"})
    assert err.value.key == "ami.secret_file"
    assert "EDGEQA_AMI_SECRET" in str(err.value)
    assert err.value.line == 1  # the [ami] table, since the key is absent


def test_unreadable_secret_file(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('\n[ami]\nsecret_file = "/nonexistent/x"\n')
    with pytest.raises(ConfigError) as err:
        load_config(conf, env={})
    assert str(err.value).startswith(f"{conf.resolve()}:3: ami.secret_file: cannot read")


def test_inline_secret_is_rejected() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config('[ami]\nsecret = "oops"\n', env=ENV)
    assert err.value.key == "ami.secret" and err.value.line == 2
    assert "oops" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "key", "line", "fragment"),
    [
        ("[ami]\nhost = '127.0.0.1'\nport = 70000\n", "ami.port", 3, "port number"),
        ("[ami]\nport = true\n", "ami.port", 2, "port number"),
        ("[api]\n\nsubscriber_queue_max_events = 0\n", "api.subscriber_queue_max_events", 3,
         ">= 1"),
        ("[logging]\nformat = 'xml'\n", "logging.format", 2, "text, json"),
        ("[store]\nsynchronous = 'off'\n", "store.synchronous", 2, "full, normal"),
        ("[tracker]\nsweep_interval_s = -1\n", "tracker.sweep_interval_s", 2, "> 0"),
        ("[ari]\nurl = 'ws://x'\n", "ari.url", 2, "http://"),
        ("[ari]\napp = 'a b'\n", "ari.app", 2, "letters"),
        ("[ami]\nprot = 1\n", "ami.prot", 2, "unknown key"),
        ("[amy]\nport = 1\n", "amy", 1, "unknown section"),
        ("ami = 3\n", "ami", 1, "must be a table"),
        ("ami.port = 'x'\n", "ami.port", 1, "port number"),
    ],
)
def test_errors_name_key_and_line(text: str, key: str, line: int, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, env=ENV)
    assert err.value.key == key
    assert err.value.line == line
    assert fragment in err.value.message


def test_syntax_error_has_line(tmp_path: Path) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text("[ami]\nport = 5038\nhost = \n")
    with pytest.raises(ConfigError) as err:
        load_config(conf, env=ENV)
    assert err.value.line == 3
    assert "invalid TOML" in str(err.value)
    assert str(err.value).startswith(str(conf.resolve()) + ":3:")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml", env=ENV)


def test_cli_overrides_win() -> None:
    cfg = parse_config("[logging]\nformat = 'text'\n", env=ENV)
    over = with_overrides(cfg, log_format="json", log_level="debug")
    assert (over.logging.format, over.logging.level) == ("json", "DEBUG")
    assert cfg.logging.format == "text"


def test_find_key_line_handles_tables_and_comments() -> None:
    text = "# c\n[ami] # x\nport = 1\n[ari]\nport = 2\n"
    assert find_key_line(text, ("ari", "port")) == 5
    assert find_key_line(text, ("ami", "port")) == 3
    assert find_key_line(text, ("ami",)) == 2
    assert find_key_line(text, ("api", "port")) is None


def test_secret_file_expands_credentials_directory(tmp_path: Path) -> None:
    _secret_file(tmp_path / "ami.secret", "cred\n")
    text = '[ami]\nsecret_file = "${CREDENTIALS_DIRECTORY}/ami.secret"\n'
    cfg = parse_config(text, env={"CREDENTIALS_DIRECTORY": str(tmp_path),
                                  "EDGEQA_ARI_PASSWORD": "x"})
    assert cfg.ami.secret.reveal() == "cred"


def test_secret_file_must_be_one_line(tmp_path: Path) -> None:
    _secret_file(tmp_path / "s", "a\nb\n")
    with pytest.raises(ConfigError, match="exactly one non-empty line"):
        parse_config(f'[ami]\nsecret_file = "{tmp_path / "s"}"\n', env={"EDGEQA_ARI_PASSWORD": "x"})


def test_live_section_defaults_and_example() -> None:
    live = parse_config("", env=ENV).live
    assert (live.enabled, live.rtp_port, live.jitter_depth_packets, live.max_calls,
            live.stasis_timeout_s, live.tick_s) == (True, 4000, 5, 500, 5.0, 0.5)
    assert (live.tap, live.capture_port_start, live.capture_port_end) == ("auto", 10000, 20000)
    assert live.checkpoint_interval_s == 5.0
    assert load_config(EXAMPLE, env=ENV).live == live
    assert parse_config("[live]\ncheckpoint_interval_s = 2.5\n",
                        env=ENV).live.checkpoint_interval_s == 2.5
    assert parse_config("[live]\nenabled = false\nrtp_port = 0\n", env=ENV).live.enabled is False


@pytest.mark.parametrize("text,error", [
    ("enabled = 1", "<config>:2: live.enabled: must be true or false, got 1"),
    ("tick_s = 2.0", "<config>:2: live.tick_s: must be <= 1.0"),
    ("checkpoint_interval_s = 0", "<config>:2: live.checkpoint_interval_s: must be"),
    ("rtp_port = 70000", "<config>:2: live.rtp_port: must be a port number 0-65535"),
    ("max_call = 3", "<config>:2: live.max_call: unknown key"),
    ("max_calls = 1001", "<config>:2: live.max_calls: must be from 1 to 1000, got 1001"),
    ('tap = "sniff"', "<config>:2: live.tap: must be one of auto, capture, snoop"),
    ("capture_port_start = 0", "<config>:2: live.capture_port_start: must be a port number"),
    ("capture_port_start = 20000\ncapture_port_end = 10000",
     "<config>:3: live.capture_port_end: must be >= capture_port_start 20000"),
])
def test_live_section_errors(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"[live]\n{text}\n", env=ENV)
    assert str(info.value).startswith(error)


def test_recording_defaults_and_example() -> None:
    rec = parse_config("", env=ENV).recording
    assert rec.enabled and rec.format == "wav" and rec.queues == rec.exclude_agents == ()
    assert str(rec.asterisk_dir) == str(rec.daemon_dir) == "/var/spool/asterisk/monitor/edgeqa"
    example = load_config(EXAMPLE, env=ENV).recording
    assert example == dataclasses.replace(rec)
    chroot = parse_config('[recording]\nasterisk_dir = "/var/rec/"\n'
                          'daemon_dir = "/srv/ast/var/rec"\nqueues = ["sales", "support"]\n'
                          'exclude_agents = ["PJSIP/agent9", "Agent One"]', env=ENV).recording
    assert str(chroot.asterisk_dir) == "/var/rec" and str(chroot.daemon_dir) == "/srv/ast/var/rec"
    assert chroot.queues == ("sales", "support")
    assert chroot.exclude_agents == ("PJSIP/agent9", "Agent One")


@pytest.mark.parametrize(("body", "message"), [
    ('asterisk_dir = "rec"', "recording.asterisk_dir: must be an absolute path"),
    ('asterisk_dir = "/var/rec,x"', "recording.asterisk_dir: must be an absolute path"),
    ('asterisk_dir = "/var/r(e)c"', "recording.asterisk_dir: must be an absolute path"),
    ('daemon_dir = "/var/my rec"', "recording.daemon_dir: must be an absolute path"),
    ('daemon_dir = "/var/../etc"', "recording.daemon_dir: must be an absolute path"),
    ('daemon_dir = "/var/${X}"', "recording.daemon_dir: must be an absolute path"),
    ('queues = "sales"', "recording.queues: must be a list of strings"),
    ('queues = ["sa\\nles"]', "recording.queues: each entry must be a queue name"),
    ('queues = [""]', "recording.queues: each entry must be a queue name"),
    ('exclude_agents = [1]', "recording.exclude_agents: each entry must be an agent name"),
    ('format = "mp3"', "recording.format: must be one of wav, wav16"),
    ('close_timeout_s = 0', "recording.close_timeout_s: must be > 0"),
    ('enable = true', "recording.enable: unknown key"),
])
def test_recording_errors_name_the_key_and_line(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"[recording]\n{body}\n", env=ENV)
    assert message in str(err.value) and err.value.line == 2, str(err.value)
