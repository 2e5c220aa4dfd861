"""Ops glue of the daemon: sd_notify datagrams, log formats, the systemd unit, check-config."""

from __future__ import annotations

import io
import json
import logging
import shlex
import socket
from pathlib import Path

import pytest

from edgeqa.cli import build_parser, main
from edgeqa.runtime.logs import setup_logging
from edgeqa.runtime.sdnotify import SdNotifier
from tests.support.paths import REPO

ROOT = REPO


def test_sd_notify_sends_datagrams(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(2.0)
        n = SdNotifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "30000000"})
        assert n.enabled and n.watchdog_interval_s == 15.0
        assert n.notify("READY=1", "STATUS=up")
        assert server.recv(1024) == b"READY=1\nSTATUS=up"
        assert n.notify("WATCHDOG=1")
        assert server.recv(1024) == b"WATCHDOG=1"


def test_sd_notify_is_inert_without_socket() -> None:
    n = SdNotifier({})
    assert not n.enabled and n.watchdog_interval_s is None
    assert n.notify("READY=1") is False
    assert SdNotifier({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_interval_s is None


def test_json_log_lines_and_no_secret_leak() -> None:
    buf = io.StringIO()
    handler = setup_logging("json", "INFO", buf)
    try:
        logging.getLogger("edgeqa.test").info("hello %s", "world", extra={"call_id": "c1"})
        line = json.loads(buf.getvalue().strip())
        assert line["msg"] == "hello world" and line["level"] == "INFO"
        assert line["logger"] == "edgeqa.test" and line["call_id"] == "c1"
        assert line["ts"].endswith("Z")
    finally:
        logging.getLogger().removeHandler(handler)


def test_text_log_format() -> None:
    buf = io.StringIO()
    handler = setup_logging("text", "WARNING", buf)
    try:
        logging.getLogger("edgeqa.test").info("hidden")
        logging.getLogger("edgeqa.test").warning("shown %d", 3)
        assert "hidden" not in buf.getvalue()
        assert "WARNING edgeqa.test: shown 3" in buf.getvalue()
    finally:
        logging.getLogger().removeHandler(handler)


def _unit() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for raw in (ROOT / "systemd" / "edgeqa.service").read_text().splitlines():
        if "=" in raw and not raw.startswith(("#", "[")):
            key, _, value = raw.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_systemd_unit_commands_parse_with_our_cli() -> None:
    unit = _unit()
    assert unit["Type"] == ["notify"]
    for key in ("ExecStart", "ExecStartPre"):
        argv = shlex.split(unit[key][0])
        assert argv[0].endswith("/edgeqa")
        args = build_parser().parse_args(argv[1:])
        assert callable(args.func)
    assert unit["RestartPreventExitStatus"] == ["2 3"]


def test_check_config_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEQA_AMI_SECRET", "a")
    monkeypatch.setenv("EDGEQA_ARI_PASSWORD", "b")
    assert main(["check-config", str(ROOT / "examples" / "edgeqa.toml")]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[api]\nport = 'x'\n")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad.resolve()}:2: api.port: must be a port number" in err


def test_run_with_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[ami\n")
    assert main(["run", "--config", str(bad)]) == 2
    assert "configuration error" in capsys.readouterr().err
