"""Signed exports (round trip, tampering, wrong key), store migration 6 on a v5 store with
rows, audit.entry on the stream in commit order, and random action sequences with one tamper."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeqa.audit.chain import GENESIS_HASH, row_hash
from edgeqa.audit.db import CHAINED_COLUMNS, verify_store
from edgeqa.audit.export import ExportProblem, build_export, check_export
from edgeqa.audit.model import ACTOR_KINDS, Actor, AuditEntry
from edgeqa.cli import main
from edgeqa.store import Event, Store
from edgeqa.store import db as store_db
from edgeqa.store.schema import MIGRATIONS, migrate
from edgeqa.stream import StreamHub, Subscription
from edgeqa.stream.pipeline import EventPipeline
from tests.support.schemas import envelope_errors

T0 = 1733012345.0  # 2024-12-01 00:19:05 UTC
DAY = 86400.0
TIMEOUT_S = 10.0


def _conf(tmp_path: Path) -> Path:
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "no-such-file"\n[store]\npath = "edgeqa.db"\n')
    return conf


def _write(path: Path, entries: list[AuditEntry]) -> None:
    async def write() -> None:
        store = Store(path)
        await store.open()
        try:
            for entry in entries:
                await store.put_audit(entry)
        finally:
            await store.close()

    asyncio.run(write())


def _three_days(tmp_path: Path) -> Path:
    path = tmp_path / "edgeqa.db"
    alice = Actor("cli", "alice")
    _write(path, [AuditEntry(T0 + day * DAY + i, alice, "pci.pause", f"c{day}.{i}",
                             {"t_s": i + 0.5}) for day in range(3) for i in range(4)])
    return path


def _rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    cols = ", ".join(CHAINED_COLUMNS)
    return [dict(zip(CHAINED_COLUMNS, r, strict=True))
            for r in conn.execute(f"SELECT {cols} FROM audit ORDER BY id")]


def test_export_round_trip_and_the_key_file(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _three_days(tmp_path)
    conf, out = str(_conf(tmp_path)), tmp_path / "day2.json"
    assert main(["audit", "keygen", "-c", conf]) == 0
    key = tmp_path / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert main(["audit", "keygen", "-c", conf]) == 1  # never replaced
    assert "exists" in capsys.readouterr().err
    assert main(["audit", "export", "-c", conf, "--since", "2024-12-02", "--until",
                 "2024-12-03", "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    doc = json.loads(out.read_text())
    assert (doc["first_id"], doc["last_id"], doc["count"]) == (5, 8, 4)
    assert [r["call_id"] for r in doc["rows"]] == [f"c1.{i}" for i in range(4)]
    assert doc["signature"]["alg"] == "hmac-sha256"
    assert main(["audit", "verify-export", "-c", conf, str(out)]) == 0
    assert "4 rows verified (5..8)" in capsys.readouterr().out
    # Offline: the file and a copy of the key, no configuration, no store.
    copy = tmp_path / "auditor.key"
    copy.write_bytes(key.read_bytes())
    copy.chmod(0o600)
    (tmp_path / "edgeqa.db").unlink()
    assert main(["audit", "verify-export", str(out), "--key", str(copy)]) == 0
    assert main(["audit", "export", "-c", conf, "--out", str(out)]) == 1  # exists


def test_export_refuses_a_store_that_does_not_verify(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _three_days(tmp_path)
    conf = str(_conf(tmp_path))
    assert main(["audit", "keygen", "-c", conf]) == 0
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET call_id = 'x' WHERE id = 6")
    conn.close()
    out = tmp_path / "x.json"
    assert main(["audit", "export", "-c", conf, "--out", str(out)]) == 1
    assert "does not verify, nothing exported: row 6: edited" in capsys.readouterr().err
    assert not out.exists()


def _signed(tmp_path: Path) -> tuple[dict[str, Any], bytes]:
    conn = sqlite3.connect(_three_days(tmp_path))
    try:
        rows = _rows(conn)[2:9]
    finally:
        conn.close()
    key = bytes(range(32))
    return build_export(rows, since=None, until=None, created_at=T0, key=key), key


def _edit_row(doc: dict[str, Any]) -> None:
    doc["rows"][3]["detail"] = '{"t_s":0.0}'


def _edit_and_rehash_row(doc: dict[str, Any]) -> None:
    row = doc["rows"][3]
    row["call_id"] = "other"
    row["hash"] = row_hash(row, row["prev_hash"])


def _drop_row(doc: dict[str, Any]) -> None:
    del doc["rows"][3]
    doc["count"] -= 1


def _drop_last_row(doc: dict[str, Any]) -> None:
    del doc["rows"][-1]


def _swap_rows(doc: dict[str, Any]) -> None:
    rows = doc["rows"]
    rows[2], rows[3] = rows[3], rows[2]


def _duplicate_row(doc: dict[str, Any]) -> None:
    doc["rows"][4] = dict(doc["rows"][3])


def _widen_range(doc: dict[str, Any]) -> None:
    doc["since"] = 0.0


def _move_head(doc: dict[str, Any]) -> None:
    doc["head_hash"] = doc["rows"][-2]["hash"]


def _forge_signature(doc: dict[str, Any]) -> None:
    doc["signature"]["value"] = "0" * 64


TAMPERED = {"edit_row": (_edit_row, "row 6: edited"),
            "edit_and_rehash_row": (_edit_and_rehash_row, "row 6: edited"),
            "drop_row": (_drop_row, "signature does not match"),
            "drop_last_row": (_drop_last_row, "the header says 7 rows"),
            "swap_rows": (_swap_rows, "row 5: deleted"),
            "duplicate_row": (_duplicate_row, "row 6: reordered: it comes after row 6"),
            "widen_range": (_widen_range, "signature does not match"),
            "move_head": (_move_head, "signature does not match"),
            "forge_signature": (_forge_signature, "signature does not match")}


def test_a_good_export_checks(tmp_path: Path) -> None:
    doc, key = _signed(tmp_path)
    assert check_export(json.loads(json.dumps(doc)), key) == 7


@pytest.mark.parametrize("name", list(TAMPERED))
def test_a_tampered_export_is_refused(tmp_path: Path, name: str) -> None:
    tamper, message = TAMPERED[name]
    doc, key = _signed(tmp_path)
    doc = json.loads(json.dumps(doc))
    tamper(doc)
    with pytest.raises(ExportProblem, match=message):
        check_export(doc, key)


def test_an_export_checked_with_another_key_is_refused(tmp_path: Path) -> None:
    doc, _ = _signed(tmp_path)
    with pytest.raises(ExportProblem, match="not with this key"):
        check_export(doc, bytes(32))


def test_verify_export_on_a_bad_file_says_why(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "k"
    key.write_text("ab" * 32 + "\n")
    key.chmod(0o644)
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert main(["audit", "verify-export", str(junk), "--key", str(key)]) == 1
    assert "chmod 600" in capsys.readouterr().err
    key.chmod(0o600)
    assert main(["audit", "verify-export", str(junk), "--key", str(key)]) == 1
    assert "is not JSON" in capsys.readouterr().err
    junk.write_text('{"format": "edgeqa.audit_export", "version": 1}')
    assert main(["audit", "verify-export", str(junk), "--key", str(key)]) == 1
    assert "missing fields" in capsys.readouterr().err


def _v5_store(path: Path) -> None:
    """A store as edgeqa with 5 migrations left it, with audit rows (one at the same time)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for step in MIGRATIONS[:5]:
            assert isinstance(step, str)
            for statement in step.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute("PRAGMA user_version = 5")
        for i, (action, call) in enumerate([("pci.pause", "c1"), ("pci.resume", "c1"),
                                            ("token.added", None), ("legal_hold.set", "c2")]):
            conn.execute("INSERT INTO audit (at, actor_kind, actor_name, action, call_id, detail)"
                         " VALUES (?, 'cli', 'alice', ?, ?, ?)",
                         (T0 + min(i, 2), action, call, json.dumps({"i": i})))
    finally:
        conn.close()


def test_migration_6_chains_the_rows_of_a_v5_store(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "edgeqa.db"
    _v5_store(path)
    _write(path, [AuditEntry(T0 + 9, Actor("api", "lead#2"), "spy.started", "c3",
                             {"mode": "listen"}, source="127.0.0.1:5000")])
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 6
        rows = _rows(conn)
        assert [r["action"] for r in rows] == ["pci.pause", "pci.resume", "token.added",
                                               "legal_hold.set", "spy.started"]
        prev = GENESIS_HASH
        for row in rows:  # chained in id order, the new row linked to the migrated ones
            assert row["prev_hash"] == prev and row["hash"] == row_hash(row, prev)
            prev = row["hash"]
        assert [r["source"] for r in rows] == [None] * 4 + ["127.0.0.1:5000"]
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit WHERE id = 1")
    finally:
        conn.close()
    assert main(["audit", "verify", "-c", str(_conf(tmp_path))]) == 0
    assert "5 rows verified" in capsys.readouterr().out
    assert main(["audit", "-c", str(_conf(tmp_path)), "--action", "pci."]) == 0
    assert capsys.readouterr().out.count("\n") == 2  # the listing reads them as before


@contextlib.asynccontextmanager
async def _streaming(path: Path) -> AsyncIterator[tuple[Store, EventPipeline, StreamHub,
                                                        Subscription]]:
    """A store, the daemon's pipeline and hub on it, and one live reader."""
    store = Store(path, synchronous="normal")
    await store.open()
    try:
        hub = StreamHub(store.read_after, last_seq=0, subscriber_queue_max_events=100)
        pipe = EventPipeline(store, hub, clock=lambda: T0)
        sub = hub.subscribe(None)
        task = asyncio.create_task(pipe.run())
        yield store, pipe, hub, sub
        pipe.close()
        await asyncio.wait_for(task, TIMEOUT_S)
        sub.close()
    finally:
        await store.close()


async def test_audit_entries_are_published_in_commit_order_between_batches(
        tmp_path: Path) -> None:
    async with _streaming(tmp_path / "s.db") as (store, pipe, hub, sub):
        for i in range(5):
            pipe.submit([Event("agent.updated", T0 + i, {"i": i})])
            await store.put_audit(AuditEntry(T0 + i, Actor("api", "a#1"), "pci.pause",
                                             f"c{i}", {"i": i}, source="127.0.0.1:1"))
        await asyncio.wait_for(pipe.flush(), TIMEOUT_S)
        got = [await asyncio.wait_for(sub.next(), TIMEOUT_S) for _ in range(10)]
        assert [e.seq for e in got] == list(range(1, 11))
        assert hub.stats.gaps == 0 and hub.stats.lagged == 0
        audited = [e for e in got if e.type == "audit.entry"]
        assert [e.data["id"] for e in audited] == [1, 2, 3, 4, 5]
        assert [errs for e in audited if (errs := envelope_errors(e.envelope()))] == []
        first = audited[0].data
        assert first["actor"] == {"kind": "api", "name": "a#1"}
        assert first["source"] == "127.0.0.1:1" and first["prev_hash"] == GENESIS_HASH


def test_an_entry_that_cannot_be_encoded_leaves_no_row(tmp_path: Path) -> None:
    conn = store_db.open_db(tmp_path / "s.db", "normal")
    try:
        with pytest.raises(ValueError):
            store_db.put_audit(conn, AuditEntry(T0, Actor("cli", "a"), "pci.pause", None,
                                                {"x": float("nan")}))
        assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    finally:
        conn.close()


# --- random action sequences, then one tamper -------------------------------------------

_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_ENTRIES = st.lists(st.builds(
    AuditEntry,
    at=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    actor=st.builds(Actor, kind=st.sampled_from(ACTOR_KINDS),
                    name=st.from_regex(r"[!-~][ -~]{0,20}", fullmatch=True)),
    action=st.sampled_from(["pci.pause", "pci.resume", "recording.downloaded", "spy.started",
                            "spy.mode_changed", "token.added", "legal_hold.set"]),
    call_id=st.none() | st.from_regex(r"[0-9]{10}\.[0-9]{1,3}", fullmatch=True),
    detail=st.dictionaries(st.text(max_size=5), st.integers() | _TEXT | st.floats(
        allow_nan=False, allow_infinity=False) | st.none(), max_size=3),
    source=st.none() | st.from_regex(r"[!-~]{1,20}", fullmatch=True)), min_size=2, max_size=12)

TAMPER_KINDS = ("edit", "delete", "swap", "insert", "truncate")


def _tamper(conn: sqlite3.Connection, kind: str, at: int, n: int) -> None:
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    target = at % n + 1
    if kind == "edit":
        conn.execute("UPDATE audit SET actor_name = actor_name || 'x' WHERE id = ?", (target,))
    elif kind == "delete":
        conn.execute("DELETE FROM audit WHERE id = ?", (target,))
    elif kind == "truncate":
        conn.execute("DELETE FROM audit WHERE id = ?", (n,))
        conn.execute("DELETE FROM events WHERE type = 'audit.entry'")
    elif kind == "swap":
        other = target % n + 1
        conn.execute("UPDATE audit SET id = -1 WHERE id = ?", (target,))
        conn.execute("UPDATE audit SET id = ? WHERE id = ?", (target, other))
        conn.execute("UPDATE audit SET id = ? WHERE id = -1", (other,))
    else:  # a copy of a row, well hashed, at the end
        row = _rows(conn)[target - 1]
        row.update(id=n + 1, prev_hash=_rows(conn)[-1]["hash"])
        row["hash"] = row_hash(row, row["prev_hash"])
        conn.execute(f"INSERT INTO audit ({', '.join(CHAINED_COLUMNS)}) VALUES "
                     f"({', '.join('?' for _ in CHAINED_COLUMNS)})",
                     [row[c] for c in CHAINED_COLUMNS])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=_ENTRIES, kind=st.sampled_from(TAMPER_KINDS), at=st.integers(0, 100))
def test_any_sequence_verifies_and_any_one_tamper_is_found(
        entries: list[AuditEntry], kind: str, at: int) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(conn)
        for entry in entries:
            store_db.put_audit(conn, entry)
        clean = verify_store(conn)
        assert clean.problem is None and clean.count == len(entries)
        _tamper(conn, kind, at, len(entries))
        found = verify_store(conn).problem
        assert found is not None, (kind, at)
    finally:
        conn.close()


def test_an_empty_range_is_not_exported() -> None:
    with pytest.raises(ExportProblem, match="no audit entries"):
        build_export([], since=None, until=None, created_at=T0, key=bytes(32))


def test_the_key_file_is_where_the_config_says(tmp_path: Path) -> None:
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "x"\n[store]\npath = "db/edgeqa.db"\n'
                    '[audit]\nsigning_key_file = "keys/audit.key"\n')
    assert main(["audit", "keygen", "-c", str(conf)]) == 0
    key = tmp_path / "keys" / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    assert not (tmp_path / "db" / "audit.key").exists()


async def test_an_entry_written_by_another_process_reaches_the_stream(tmp_path: Path) -> None:
    """`edgeqa token add` writes the store file itself: its audit.entry reaches the daemon's
    readers within CATCH_UP_INTERVAL_S even when nothing else happens, in order, and no stream
    is closed."""
    async with _streaming(tmp_path / "s.db") as (_, pipe, hub, sub):
        def cli() -> None:
            conn = store_db.open_db(tmp_path / "s.db", "normal")
            try:
                store_db.put_audit(conn, AuditEntry(T0, Actor("cli", "root"), "token.added"))
            finally:
                conn.close()

        await asyncio.to_thread(cli)
        got = [await asyncio.wait_for(sub.next(), TIMEOUT_S)]
        await asyncio.to_thread(cli)
        pipe.submit([Event("agent.updated", T0, {"i": 1})])  # finds the next one before it
        got += [await asyncio.wait_for(sub.next(), TIMEOUT_S) for _ in range(2)]
        assert [(e.seq, e.type) for e in got] == [(1, "audit.entry"), (2, "audit.entry"),
                                                  (3, "agent.updated")]
        assert hub.stats.lagged == 0
