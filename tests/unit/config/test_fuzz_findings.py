"""Issue 10's configuration fuzzing findings, one test each: a clear ConfigError, never a
traceback or a hang; private secrets; no secret echoed; every problem reported at once."""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeqa.cli import main
from edgeqa.config import ConfigError, load_config, parse_config
from edgeqa.config.model import _KNOWN_KEYS
from edgeqa.media.jitter import MAX_DEPTH_PACKETS, JitterBuffer
from tests.support.paths import REPO

ENV = {"EDGEQA_AMI_SECRET": "s3cret-ami", "EDGEQA_ARI_PASSWORD": "s3cret-ari"}
SECONDS_KEYS = [(s, k) for s, keys in _KNOWN_KEYS.items() for k in keys if k.endswith("_s")]
COUNT_KEYS = [(s, k) for s, keys in _KNOWN_KEYS.items() for k in keys
              if k.endswith(("_events", "_requests", "_packets", "_subscribers", "max_calls"))]
WAIT_S = 10.0  # a hang is reported as a failure after this, never waited out


def _secret_file(path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    path.chmod(mode)
    return path


def _error(text: str, env: dict[str, str] | None = None, source: Path | None = None
           ) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=ENV if env is None else env, source=source)
    return info.value


# -- tracebacks that were: deep TOML, non-UTF-8 secret, NUL in a path, /dev/zero -----------------


@pytest.mark.parametrize("value", ["[" * 500 + "]" * 500, "{a=" * 500 + "1" + "}" * 500])
def test_toml_nested_500_levels_is_a_config_error(value: str) -> None:
    err = _error(f"[ami]\nhost = {value}\n")
    assert "invalid TOML: arrays or inline tables nested too deeply" in str(err)


def test_secret_file_that_is_not_utf8(tmp_path: Path) -> None:
    secret = _secret_file(tmp_path / "s", b"\xff\xfe-latin1-\xe9\n")
    err = _error(f'[ami]\nsecret_file = "{secret}"\n', env={"EDGEQA_ARI_PASSWORD": "x"})
    assert (err.key, err.line) == ("ami.secret_file", 2)
    assert f"{secret} is not UTF-8 text (byte 0)" in str(err)


@pytest.mark.parametrize("section, key", [("ami", "secret_file"), ("ari", "password_file"),
                                          ("store", "path")])
def test_nul_in_a_path_is_a_config_error(section: str, key: str) -> None:
    err = _error(f'[{section}]\n{key} = "/tmp/a\\u0000b"\n', env={})
    lines = [e for e in err.errors if e.key == f"{section}.{key}"]
    assert len(lines) == 1 and "control character (U+0000)" in str(lines[0])


def test_secret_symlinked_to_dev_zero_is_refused_unread(tmp_path: Path) -> None:
    link = tmp_path / "secret"
    link.symlink_to("/dev/zero")
    err = _error(f'[ari]\npassword_file = "{link}"\n', env={"EDGEQA_AMI_SECRET": "x"})
    assert f"{link} is a character device, not a regular file" in str(err)


def test_oversized_secret_and_config_are_refused(tmp_path: Path) -> None:
    secret = _secret_file(tmp_path / "big", "x" * 5000)
    err = _error(f'[ari]\npassword_file = "{secret}"\n', env={"EDGEQA_AMI_SECRET": "x"})
    assert "5000 bytes, over the limit of 4096" in str(err)
    conf = tmp_path / "big.toml"
    conf.write_text("#" * (1024 * 1024 + 1))
    with pytest.raises(ConfigError, match="over the limit of 1048576"):
        load_config(conf, env=ENV)


# -- a FIFO as the config or as a secret: refused at once, no hang --------------------------------


def _load_in_thread(conf: Path, env: dict[str, str]) -> BaseException | None:
    """load_config(conf) in a thread; its exception, or fail if it hangs."""
    result: list[BaseException | None] = []

    def run() -> None:
        try:
            load_config(conf, env=env)
            result.append(None)
        except BaseException as exc:  # handed to the test
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT_S)
    if thread.is_alive():
        for fifo in conf.parent.iterdir():  # unblock the stuck open() so the thread can end
            if fifo.is_fifo():
                with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
                    pass
        pytest.fail(f"load_config({conf}) hung on a FIFO")
    return result[0]


def test_fifo_as_config_is_refused_without_hanging(tmp_path: Path) -> None:
    conf = tmp_path / "edgeqa.toml"
    os.mkfifo(conf)
    err = _load_in_thread(conf, ENV)
    assert isinstance(err, ConfigError)
    assert f"{conf} is a FIFO, not a regular file" in str(err)


def test_fifo_as_secret_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "ami.secret"
    os.mkfifo(fifo, 0o600)
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "ami.secret"\n')
    err = _load_in_thread(conf, {"EDGEQA_ARI_PASSWORD": "x"})
    assert isinstance(err, ConfigError) and err.key == "ami.secret_file"
    assert f"{fifo} is a FIFO, not a regular file" in str(err)


# -- secret files open to group or others are refused, as ssh does -------------------------------


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o620, 0o601, 0o700 | 0o010])
def test_secret_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    secret = _secret_file(tmp_path / "s", "hunter2\n", mode)
    err = _error(f'[ami]\nsecret_file = "{secret}"\n', env={"EDGEQA_ARI_PASSWORD": "x"})
    assert str(err).endswith(f"{secret} is readable or writable by group or others "
                             f"(mode {mode:04o}): run chmod 600 {secret}")
    assert "hunter2" not in str(err)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_private_secret_is_accepted(tmp_path: Path, mode: int) -> None:
    secret = _secret_file(tmp_path / "s", "hunter2\n", mode)
    cfg = parse_config(f'[ami]\nsecret_file = "{secret}"\n', env={"EDGEQA_ARI_PASSWORD": "x"})
    assert cfg.ami.secret.reveal() == "hunter2"


# -- ari.url with credentials: refused, never echoed ---------------------------------------------


@pytest.mark.parametrize("url", ["http://edgeqa:hunter2@127.0.0.1:8088/ari",
                                 "https://hunter2@pbx.example/ari", "http://u:hunter2@h:99999/",
                                 "http://u:hunter2@[::1/ari"])
def test_ari_url_with_credentials_is_refused_and_not_echoed(
        tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    err = _error(f'[ari]\nurl = "{url}"\n')
    assert err.key == "ari.url" and "must not carry credentials" in str(err)
    assert "hunter2" not in str(err)
    conf = tmp_path / "c.toml"
    conf.write_text(f'[ari]\nurl = "{url}"\n')
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", str(conf)]) == 2
    out, errs = capsys.readouterr()
    assert "hunter2" not in out + errs and "ari.url: must not carry credentials" in errs


@pytest.mark.parametrize("url, problem", [
    ("http://127.0.0.1:99999/ari", "is not a URL"), ("ws://127.0.0.1/ari", "http://"),
    ("http:///ari", "has no host"), ("http://h/ari?x=1", "no query"),
    ("http://h/ari#", "no query or fragment"), ("http://h/a\nb", "control character")])
def test_bad_ari_urls_are_config_errors(url: str, problem: str) -> None:
    escaped = url.replace("\n", "\\n")
    err = _error(f'[ari]\nurl = "{escaped}"\n')
    assert err.key == "ari.url" and problem in str(err)


def test_check_config_ok_line_shows_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", str(REPO / "examples" / "edgeqa.toml")]) == 0
    out, errs = capsys.readouterr()
    assert "OK" in out and not any(v in out + errs for v in ENV.values())


# -- `$` matched before a trailing newline: fullmatch everywhere ---------------------------------


@pytest.mark.parametrize("app", ["edgeqa\n", "edgeqa\r\n", "\nedgeqa", "a" * 65, "ed qa"])
def test_ari_app_must_match_whole(app: str) -> None:
    escaped = app.replace("\n", "\\n").replace("\r", "\\r")
    assert _error(f'[ari]\napp = "{escaped}"\n').key == "ari.app"


@given(app=st.text(min_size=1, max_size=70))
def test_ari_app_accepted_iff_a_whole_name(app: str) -> None:
    if "\ud800" <= max(app) or any(unicodedata.category(c) == "Cs" for c in app):
        return
    toml = "".join(f"\\U{ord(c):08X}" for c in app)
    whole = re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", app) is not None
    try:
        cfg = parse_config(f'[ari]\napp = "{toml}"\n', env=ENV)
    except ConfigError as err:
        assert not whole and err.key == "ari.app"
    else:
        assert whole and cfg.ari.app == app


def test_no_regex_in_edgeqa_anchors_with_dollar() -> None:
    # `$` also matches before a trailing newline: validations use fullmatch (or \Z).
    found = []
    for path in (REPO / "edgeqa").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"""re\.compile\(\s*r?["'].*\$["']""", line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert found == []


# -- every string key: no control character, over the whole code point range ---------------------


@given(char=st.integers(min_value=1, max_value=0x10FFFF).filter(
    lambda c: not 0xD800 <= c <= 0xDFFF).map(chr))
def test_a_control_character_in_any_string_is_refused(char: str) -> None:
    text = f'[ami]\nhost = "h\\U{ord(char):08X}x"\nusername = "u\\U{ord(char):08X}"\n'
    if unicodedata.category(char) == "Cc":
        err = _error(text)
        assert [e.key for e in err.errors] == ["ami.host", "ami.username"]
        assert f"control character (U+{ord(char):04X})" in str(err)
    else:
        cfg = parse_config(text, env=ENV)
        assert cfg.ami.host == f"h{char}x"


# -- numbers: finite, within per-key bounds -------------------------------------------------------


@pytest.mark.parametrize("section, key", SECONDS_KEYS)
@pytest.mark.parametrize("value", ["inf", "+inf", "-inf", "nan", "1e300"])
def test_every_seconds_key_must_be_finite_and_bounded(section: str, key: str, value: str) -> None:
    err = _error(f"[{section}]\n{key} = {value}\n")
    assert [e.key for e in err.errors] == [f"{section}.{key}"]
    assert err.line == 2


@pytest.mark.parametrize("section, key", [(s, k) for s, k in SECONDS_KEYS if k != "tick_s"])
def test_every_seconds_key_accepts_a_sane_value(section: str, key: str) -> None:
    cfg = parse_config(f"[{section}]\n{key} = 2.5\n", env=ENV)
    assert getattr(getattr(cfg, section), key) == 2.5


def test_jitter_depth_is_bounded_by_the_jitter_buffer() -> None:
    err = _error("[live]\njitter_depth_packets = 1000\n")
    assert err.key == "live.jitter_depth_packets"
    assert f"must be from 1 to {MAX_DEPTH_PACKETS}, got 1000" in str(err)
    cfg = parse_config(f"[live]\njitter_depth_packets = {MAX_DEPTH_PACKETS}\n", env=ENV)
    assert JitterBuffer(cfg.live.jitter_depth_packets).depth_packets == MAX_DEPTH_PACKETS


@pytest.mark.parametrize("section, key", COUNT_KEYS)
def test_every_count_key_is_bounded(section: str, key: str) -> None:
    assert COUNT_KEYS  # the selection found the keys
    err = _error(f"[{section}]\n{key} = {10**13}\n")
    assert err.key == f"{section}.{key}" and "must be from 1 to" in str(err)


# -- check-config reports every problem, one line each with its key ------------------------------


def test_check_config_reports_every_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEQA_AMI_SECRET", raising=False)
    monkeypatch.delenv("EDGEQA_ARI_PASSWORD", raising=False)
    secret = _secret_file(tmp_path / "ari.secret", "pw\n", 0o644)
    conf = tmp_path / "bad.toml"
    conf.write_text(
        "[ami]\nport = 99999\nping_interval_s = inf\n"
        f'[ari]\napp = "edgeqa\\n"\npassword_file = "{secret}"\n'
        "[live]\njitter_depth_packets = 1000\ntypo_key = 1\n"
        "[nosuch]\n"
    )
    assert main(["check-config", str(conf)]) == 2
    lines = capsys.readouterr().err.splitlines()
    where = f"edgeqa: {conf.resolve()}"
    assert lines == [
        f"{where}:1: ami.secret_file: missing: set ami.secret_file or $EDGEQA_AMI_SECRET",
        f"{where}:2: ami.port: must be a port number 1-65535, got 99999",
        f"{where}:3: ami.ping_interval_s: must be a finite number, got inf",
        f"{where}:5: ari.app: must not contain a control character (U+000A)",
        f"{where}:6: ari.password_file: {secret} is readable or writable by group or others "
        f"(mode 0644): run chmod 600 {secret}",
        f"{where}:8: live.jitter_depth_packets: must be from 1 to {MAX_DEPTH_PACKETS}, got 1000",
        f"{where}:9: live.typo_key: unknown key (known: {', '.join(_KNOWN_KEYS['live'])})",
        f"{where}:10: nosuch: unknown section (known: {', '.join(_KNOWN_KEYS)})",
    ]


def test_one_error_is_still_one_config_error() -> None:
    err = _error("[api]\nport = 'x'\n")
    assert type(err) is ConfigError and err.errors == (err,)
    assert str(err) == "<config>:2: api.port: must be a port number 0-65535, got 'x'"
