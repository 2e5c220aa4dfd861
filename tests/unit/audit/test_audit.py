"""The audit trail: entries are validated, committed durably, filtered, paged and listed."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from edgeqa.audit.model import ACTOR_NAME_MAX_CHARS, Actor, AuditEntry
from edgeqa.cli import main
from edgeqa.store import Store
from edgeqa.store.db import audit

T0 = 1733012345.0  # 2024-12-01 00:19:05 UTC


@pytest.mark.parametrize(("kind", "name"), [
    ("root", "alice"), ("cli", ""), ("cli", " alice"), ("cli", "al\nice"), ("cli", "é"),
    ("cli", "x" * (ACTOR_NAME_MAX_CHARS + 1))])
def test_bad_actors_are_refused(kind: str, name: str) -> None:
    with pytest.raises(ValueError, match="actor"):
        Actor(kind, name)  # type: ignore[arg-type]


@pytest.mark.parametrize("action", ["pause", "PCI.pause", "pci.", ".pause", "pci pause"])
def test_bad_actions_are_refused(action: str) -> None:
    with pytest.raises(ValueError, match="audit action"):
        AuditEntry(T0, Actor("cli", "alice"), action)


def test_actor_forms() -> None:
    actor = Actor("dtmf", "PJSIP/agent1-00000001")
    assert str(actor) == "dtmf:PJSIP/agent1-00000001"
    assert actor.to_dict() == {"kind": "dtmf", "name": "PJSIP/agent1-00000001"}
    assert Actor("cli", "x" * ACTOR_NAME_MAX_CHARS).name  # the limit itself is allowed


def _entries() -> list[AuditEntry]:
    alice, job = Actor("cli", "alice"), Actor("system", "retention")
    return [AuditEntry(T0, alice, "pci.pause", "c1", {"t_s": 12.5}),
            AuditEntry(T0 + 10, alice, "pci.resume", "c1", {"t_s": 22.5}),
            AuditEntry(T0 + 86400, job, "recording.deleted", "c2", {"path": "/r/c2.wav"}),
            AuditEntry(T0 + 86401, Actor("api", "anonymous"), "legal_hold.set", "c3")]


def _store(tmp_path: Path) -> Path:
    db = tmp_path / "edgeqa.db"

    async def write() -> None:
        store = Store(db)
        await store.open()
        try:
            ids = [await store.put_audit(e) for e in _entries()]
            assert ids == sorted(ids) and len(set(ids)) == 4
            got = await store.audit(call_id="c1")
            assert [g["action"] for g in got] == ["pci.pause", "pci.resume"]
            assert got[0]["detail"] == {"t_s": 12.5} and got[0]["actor_name"] == "alice"
        finally:
            await store.close()

    asyncio.run(write())
    return db


def test_entries_are_committed_before_put_audit_returns(tmp_path: Path) -> None:
    db = tmp_path / "edgeqa.db"

    async def write_and_read_from_another_connection() -> None:
        store = Store(db)
        await store.open()
        try:
            await store.put_audit(_entries()[0])
            other = sqlite3.connect(db)  # a second reader sees the committed row at once
            try:
                assert other.execute("SELECT action FROM audit").fetchall() == [("pci.pause",)]
            finally:
                other.close()
        finally:
            await store.close()

    asyncio.run(write_and_read_from_another_connection())


def test_filters_and_pages(tmp_path: Path) -> None:
    conn = sqlite3.connect(_store(tmp_path))
    try:
        def actions(**filters: object) -> list[str]:
            return [e["action"] for e in audit(conn, **filters)]  # type: ignore[arg-type]

        assert actions(action="pci.") == ["pci.pause", "pci.resume"]
        assert actions(action="pci") == []  # exact unless it ends with "."
        assert actions(action="recording.deleted") == ["recording.deleted"]
        assert actions(since=T0 + 5, until=T0 + 86401) == ["pci.resume", "recording.deleted"]
        first = audit(conn, limit=2)
        rest = audit(conn, after_id=first[-1]["id"])
        assert [e["action"] for e in first + rest] == actions()
        assert len(actions()) == 4
    finally:
        conn.close()


def test_cli_lists_and_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _store(tmp_path)
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "no-such-file"\n[store]\npath = "edgeqa.db"\n')
    assert main(["audit", "-c", str(conf)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2024-12-01 00:19:05.000  cli:alice  pci.pause  call=c1  t_s=12.5"
    assert out[3] == "2024-12-02 00:19:06.000  api:anonymous  legal_hold.set  call=c3"
    assert main(["audit", "-c", str(conf), "--call", "c2", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["detail"] == {"path": "/r/c2.wav"}
    assert main(["audit", "-c", str(conf), "--since", "2024-12-02", "--action", "legal_hold."]) == 0
    assert capsys.readouterr().out.count("\n") == 1


def test_cli_on_a_missing_store_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "no-such-file"\n[store]\npath = "none.db"\n')
    assert main(["audit", "-c", str(conf)]) == 1
    assert "cannot read the audit trail" in capsys.readouterr().err
