"""`edgeqa recordings purge | legal-hold` on a store file, and the listing's marks."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeqa.cli import main
from edgeqa.recording.events import Recording, event_for
from edgeqa.store import Store

T0 = 1733012345.0  # 2024-12-01 00:19:05 UTC
#: c1 ended 31.5 days before, c2 30.5 days.
LATER = "2025-01-01T12:00:00"


def _setup(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """A store with one complete leg of c1 (started at T0) and of c2 (a day later)."""
    files, events = {}, []
    for n, (call_id, when) in enumerate((("c1", T0), ("c2", T0 + 86400))):
        path = files[call_id] = tmp_path / f"{call_id}.wav"
        path.write_bytes(bytes([n]) * 100)
        events.append(event_for(Recording(call_id, "customer", str(path), when, "sales",
                                          "Alice", when + 5, "pcm_s16le/8000", 100, "0" * 64,
                                          "complete"), when + 5))

    async def write() -> None:
        store = Store(tmp_path / "edgeqa.db")
        await store.open()
        try:
            await store.append(events)
        finally:
            await store.close()

    asyncio.run(write())
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "no-such-file"\n[store]\npath = "edgeqa.db"\n')
    return conf, files


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket listening on a loopback port, as a running daemon's API would."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s


def _conf(tmp_path: Path, port: int) -> tuple[str, dict[str, Path]]:
    conf, files = _setup(tmp_path)
    conf.write_text(conf.read_text() + f'[api]\nport = {port}\n[recording]\n'
                    'retention_days = 31\n')
    return str(conf), files


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _audit(tmp_path: Path) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        store = Store(tmp_path / "edgeqa.db")
        await store.open()
        try:
            return await store.audit()
        finally:
            await store.close()
    return asyncio.run(read())


def test_purge_dry_run_then_purge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf, files = _conf(tmp_path, _free_port())
    assert main(["recordings", "purge", "--dry-run", "--now", LATER, "-c", conf]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f"would delete  c1  customer  {files['c1']}  (retention: older than 31 days (global))"]
    assert "1 files due as of 2025-01-01 12:00:00 UTC" in out.err
    assert files["c1"].exists()
    assert main(["recordings", "-c", conf, "purge", "--now", LATER]) == 0
    assert "1 files deleted, 0 already gone, 0 failed" in capsys.readouterr().err
    assert not files["c1"].exists() and files["c2"].exists()
    assert main(["recordings", "-c", conf]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  c1  customer  deleted  " in lines[0] and "(retention: older than 31" in lines[0]
    [entry] = _audit(tmp_path)
    assert (entry["action"], entry["call_id"], entry["actor_kind"]) == (
        "recording.deleted", "c1", "cli")


def test_purge_refuses_while_the_daemon_answers(
        tmp_path: Path, listener: socket.socket, capsys: pytest.CaptureFixture[str]) -> None:
    conf, files = _conf(tmp_path, listener.getsockname()[1])
    assert main(["recordings", "purge", "--now", LATER, "-c", conf]) == 1
    assert "the daemon is running" in capsys.readouterr().err
    assert files["c1"].exists() and _audit(tmp_path) == []
    assert main(["recordings", "purge", "--dry-run", "--now", LATER, "-c", conf]) == 0


def test_legal_hold_set_listed_spared_and_cleared(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "alice")
    conf, files = _conf(tmp_path, _free_port())
    assert main(["recordings", "legal-hold", "c1", "--reason", "case 9", "-c", conf]) == 0
    assert capsys.readouterr().out == "call c1: on legal hold (case 9)\n"
    assert main(["recordings", "legal-hold", "c1", "--reason", "other", "-c", conf]) == 0
    assert "already on legal hold (set by cli:alice: case 9)" in capsys.readouterr().out
    assert main(["recordings", "legal-hold", "nope", "--reason", "x", "-c", conf]) == 1
    assert "call nope has no recordings" in capsys.readouterr().err
    assert main(["recordings", "-c", conf]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("  [legal hold]") and not lines[1].endswith("[legal hold]")
    assert main(["recordings", "purge", "--now", LATER, "-c", conf]) == 0
    assert files["c1"].exists()
    assert main(["recordings", "legal-hold", "c1", "--clear", "-c", conf]) == 0
    assert main(["recordings", "legal-hold", "c1", "--clear", "-c", conf]) == 1
    assert "not on legal hold" in capsys.readouterr().err
    assert [(a["action"], a["actor_name"]) for a in _audit(tmp_path)] == [
        ("legal_hold.set", "alice"), ("legal_hold.cleared", "alice")]


def test_no_store_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[store]\npath = "missing.db"\n')
    assert main(["recordings", "legal-hold", "c1", "--clear", "-c", str(conf)]) == 1
    assert "no store at" in capsys.readouterr().err and not (tmp_path / "missing.db").exists()
