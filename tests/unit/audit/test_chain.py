"""The audit trail's hash chain: `edgeqa audit verify` passes on a store written by real
actions and names the first bad row after each kind of tampering done straight in SQLite."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeqa.audit.chain import GENESIS_HASH, canonical, row_hash
from edgeqa.audit.db import CHAINED_COLUMNS, verify_store
from edgeqa.audit.model import Actor, AuditEntry
from edgeqa.auth.model import Scope
from edgeqa.auth.service import add_token, revoke_token
from edgeqa.cli import main
from edgeqa.recording.legal_hold import clear_legal_hold, set_legal_hold
from edgeqa.store import Event, Store
from edgeqa.store import db as store_db

T0 = 1733012345.0
ROWS = 8  # what _actions writes


async def _actions(store: Store) -> None:
    """A day's mix of audited actions, through the code that audits them."""
    alice, admin = Actor("cli", "alice"), Actor("api", "lead#3")
    await store.put_audit(AuditEntry(T0, alice, "pci.pause", "c1", {"t_s": 12.5},
                                     source="127.0.0.1:40112"))
    await store.put_audit(AuditEntry(T0 + 10, alice, "pci.resume", "c1", {"t_s": 22.5}))
    token_id, _ = await add_token(store, "crm", "feed", Scope(), alice, T0 + 20)
    await store.append([Event("recording.completed", T0 + 25, {
        "call_id": "c2", "leg": "agent", "path": "/r/c2.wav", "started_at": T0,
        "state": "complete"})])
    await set_legal_hold(store, "c2", "case 7 — ünïcode", admin, T0 + 30)
    await clear_legal_hold(store, "c2", admin, T0 + 40)
    await store.put_audit(AuditEntry(T0 + 50, Actor("dtmf", "PJSIP/super1"), "spy.started",
                                     "c3", {"agent": "PJSIP/agent1", "mode": "listen",
                                            "modes": [[T0 + 50, "listen", "dtmf"]]},
                                     source="PJSIP/super1-00000004"))
    await store.put_audit(AuditEntry(T0 + 60, Actor("system", "retention"),
                                     "recording.deleted", "c4", {"path": "/r/c4.wav"}))
    await revoke_token(store, token_id, alice, T0 + 70)


def _store(tmp_path: Path) -> Path:
    path = tmp_path / "edgeqa.db"

    async def write() -> None:
        store = Store(path)
        await store.open()
        try:
            await _actions(store)
        finally:
            await store.close()

    asyncio.run(write())
    return path


def _conf(tmp_path: Path) -> Path:
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "no-such-file"\n[store]\npath = "edgeqa.db"\n')
    return conf


def _rows(conn: sqlite3.Connection) -> list[dict[str, object]]:
    cols = ", ".join(CHAINED_COLUMNS)
    return [dict(zip(CHAINED_COLUMNS, r, strict=True))
            for r in conn.execute(f"SELECT {cols} FROM audit ORDER BY id")]


def _unlock(conn: sqlite3.Connection) -> None:
    """What a determined admin does first: drop the append-only triggers."""
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")


def _tampered(path: Path, tamper: Callable[[sqlite3.Connection], None]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        _unlock(conn)
        tamper(conn)
    finally:
        conn.close()


def _rehash_from(conn: sqlite3.Connection, first: int) -> None:
    """Recompute every hash from row ``first`` on (a forger who knows the algorithm)."""
    rows = _rows(conn)
    prev = GENESIS_HASH
    for row in rows:
        if int(row["id"]) >= first:  # type: ignore[call-overload]
            row["prev_hash"] = prev
            row["hash"] = row_hash(row, prev)
            conn.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?",
                         (row["prev_hash"], row["hash"], row["id"]))
        prev = str(row["hash"])


def _drop_events(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM events WHERE type = 'audit.entry'")


def edit(conn: sqlite3.Connection) -> None:
    conn.execute("""UPDATE audit SET detail = '{"t_s":99.0}' WHERE id = 2""")


def edit_and_rehash_one(conn: sqlite3.Connection) -> None:
    edit(conn)
    row = _rows(conn)[1]
    conn.execute("UPDATE audit SET hash = ? WHERE id = 2",
                 (row_hash(row, str(row["prev_hash"])),))


def edit_and_rehash_one_and_drop_log(conn: sqlite3.Connection) -> None:
    edit_and_rehash_one(conn)
    _drop_events(conn)


def edit_and_rewrite_chain(conn: sqlite3.Connection) -> None:
    edit(conn)
    _rehash_from(conn, 2)


def edit_and_rewrite_chain_and_log(conn: sqlite3.Connection) -> None:
    edit_and_rewrite_chain(conn)
    _drop_events(conn)


def delete_middle(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit WHERE id = 4")


def delete_middle_and_its_event(conn: sqlite3.Connection) -> None:
    delete_middle(conn)
    conn.execute("DELETE FROM events WHERE type = 'audit.entry' AND data LIKE '{\"id\":4,%'")


def delete_tail_then_write(conn: sqlite3.Connection) -> None:
    """The last row deleted, then edgeqa writes on: the new row links to the one before."""
    delete_tail(conn)
    store_db.put_audit(conn, AuditEntry(T0 + 99, Actor("cli", "alice"), "pci.pause", "c9"))


def delete_first(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit WHERE id = 1")


def delete_tail(conn: sqlite3.Connection) -> None:
    conn.execute(f"DELETE FROM audit WHERE id = {ROWS}")


def delete_tail_and_its_events(conn: sqlite3.Connection) -> None:
    delete_tail(conn)
    _drop_events(conn)


def reorder_pair(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE audit SET id = -1 WHERE id = 3")
    conn.execute("UPDATE audit SET id = 3 WHERE id = 4")
    conn.execute("UPDATE audit SET id = 4 WHERE id = -1")


def _insert(conn: sqlite3.Connection, row_id: int, prev: str, hashed: bool = True) -> None:
    row: dict[str, object] = {"id": row_id, "at": T0 + 5, "actor_kind": "cli",
                              "actor_name": "mallory", "action": "pci.resume", "call_id": "c1",
                              "source": None, "detail": "{}", "prev_hash": prev}
    row["hash"] = row_hash(row, prev) if hashed else None
    marks = ", ".join("?" for _ in CHAINED_COLUMNS)
    conn.execute(f"INSERT INTO audit ({', '.join(CHAINED_COLUMNS)}) VALUES ({marks})",
                 [row[c] for c in CHAINED_COLUMNS])


def insert_at_end(conn: sqlite3.Connection) -> None:
    _insert(conn, ROWS + 1, str(_rows(conn)[-1]["hash"]))


def insert_unhashed(conn: sqlite3.Connection) -> None:
    _insert(conn, ROWS + 1, str(_rows(conn)[-1]["hash"]), hashed=False)


def insert_in_middle(conn: sqlite3.Connection) -> None:
    """Make room after row 3 (ids shift up by one), slip a well-hashed row in, and remove the
    event log's heads that would give it away."""
    for row_id in range(ROWS, 3, -1):
        conn.execute("UPDATE audit SET id = ? WHERE id = ?", (row_id + 1, row_id))
    _insert(conn, 4, str(_rows(conn)[2]["hash"]))
    _drop_events(conn)


TAMPERS: dict[str, tuple[Callable[[sqlite3.Connection], None], int, str]] = {
    "edit": (edit, 2, "edited"),
    "edit_and_rehash_one": (edit_and_rehash_one, 2, "edited"),
    "edit_and_rehash_one_and_drop_log": (edit_and_rehash_one_and_drop_log, 2, "edited"),
    "edit_and_rewrite_chain": (edit_and_rewrite_chain, 2, "edited"),
    "delete_middle": (delete_middle, 4, "deleted"),
    "delete_middle_and_its_event": (delete_middle_and_its_event, 4, "deleted"),
    "delete_tail_then_write": (delete_tail_then_write, ROWS, "deleted"),
    "delete_first": (delete_first, 1, "deleted"),
    "delete_tail": (delete_tail, ROWS, "truncated"),
    "delete_tail_and_its_events": (delete_tail_and_its_events, ROWS, "truncated"),
    "reorder_pair": (reorder_pair, 3, "reordered"),
    "insert_at_end": (insert_at_end, ROWS + 1, "inserted"),
    "insert_unhashed": (insert_unhashed, ROWS + 1, "unchained"),
    "insert_in_middle": (insert_in_middle, 4, "inserted"),
}


def test_the_canonical_encoding_is_the_documented_one() -> None:
    """A known answer (docs/audit.md): the encoding and the genesis hash never change
    silently (a new encoding is a new version)."""
    row = {"id": 1, "at": 1733012345.25, "actor_kind": "cli", "actor_name": "alice",
           "action": "pci.pause", "call_id": "c1", "source": None, "detail": '{"t_s":12.5}'}
    assert GENESIS_HASH == "0" * 64
    assert canonical(row, GENESIS_HASH) == (
        b'{"action":"pci.pause","actor_kind":"cli","actor_name":"alice","at":"1733012345.250000"'
        b',"call_id":"c1","detail":"{\\"t_s\\":12.5}","id":1,"prev_hash":"' + b"0" * 64
        + b'","source":null,"v":1}')
    assert row_hash(row, GENESIS_HASH) == hashlib.sha256(canonical(row, GENESIS_HASH)).hexdigest()


def test_verify_passes_on_a_store_written_by_real_actions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _store(tmp_path)
    assert main(["audit", "verify", "-c", str(_conf(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"audit verify: {ROWS} rows verified; chain head {ROWS}:")
    assert main(["audit", "-c", str(_conf(tmp_path)), "--call", "c1"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(
        "cli:alice  pci.pause  call=c1  from=127.0.0.1:40112  t_s=12.5")
    conn = sqlite3.connect(tmp_path / "edgeqa.db")
    try:
        rows = _rows(conn)
        assert [r["id"] for r in rows] == list(range(1, ROWS + 1))
        assert rows[0]["prev_hash"] == "0" * 64 and rows[0]["source"] == "127.0.0.1:40112"
        assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
        logged = [json.loads(t) for (t,) in conn.execute(
            "SELECT data FROM events WHERE type = 'audit.entry' ORDER BY seq")]
        assert [(e["id"], e["hash"]) for e in logged] == [(r["id"], r["hash"]) for r in rows]
    finally:
        conn.close()


@pytest.mark.parametrize("name", list(TAMPERS))
def test_verify_names_the_first_bad_row(tmp_path: Path, name: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    tamper, row_id, kind = TAMPERS[name]
    _tampered(_store(tmp_path), tamper)
    assert main(["audit", "verify", "-c", str(_conf(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert f": row {row_id}: {kind}: " in err, err


def test_a_chain_rewritten_along_with_the_log_needs_a_head_kept_elsewhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What verify cannot see alone: the rows, their hashes and the event log all rewritten.
    A head noted before (from an export, or the stream) catches it."""
    path, conf = _store(tmp_path), str(_conf(tmp_path))
    assert main(["audit", "verify", "-c", conf]) == 0
    head = capsys.readouterr().out.split("chain head ")[1].strip()
    _tampered(path, edit_and_rewrite_chain_and_log)
    assert main(["audit", "verify", "-c", conf]) == 0  # undetectable from the store alone
    assert main(["audit", "verify", "-c", conf, "--head", head]) == 1
    assert f": row {ROWS}: edited: " in capsys.readouterr().err
    assert main(["audit", "verify", "-c", conf, "--head", "12:" + "0" * 64]) == 1
    assert ": row 12: truncated: " in capsys.readouterr().err


def test_the_table_refuses_update_and_delete(tmp_path: Path) -> None:
    conn = sqlite3.connect(_store(tmp_path), isolation_level=None)
    try:
        for sql in ("UPDATE audit SET detail = '{}' WHERE id = 1", "DELETE FROM audit",
                    "DELETE FROM audit WHERE id = 8"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
        assert len(_rows(conn)) == ROWS
    finally:
        conn.close()


def test_writers_in_two_processes_never_fork_the_chain(tmp_path: Path) -> None:
    """The daemon's writer thread and a CLI command (`edgeqa token add`) on its own connection
    both link to the last row inside their write transaction: the chain stays one line."""
    path = tmp_path / "edgeqa.db"
    per_writer = 40

    async def daemon_side() -> None:
        store = Store(path)
        await store.open()
        try:
            other = threading.Thread(target=cli_side)
            other.start()
            await asyncio.gather(*(store.put_audit(AuditEntry(
                T0 + i, Actor("api", "a"), "pci.pause", f"c{i}")) for i in range(per_writer)))
            await asyncio.to_thread(other.join)
        finally:
            await store.close()

    def cli_side() -> None:
        conn = store_db.open_db(path, "normal")
        try:
            for i in range(per_writer):
                store_db.put_audit(conn, AuditEntry(T0 + i, Actor("cli", "b"), "token.added"))
        finally:
            conn.close()

    asyncio.run(daemon_side())
    conn = sqlite3.connect(path)
    try:
        verifier = verify_store(conn)
        assert verifier.problem is None and verifier.count == 2 * per_writer
        assert {r["actor_name"] for r in _rows(conn)} == {"a", "b"}
    finally:
        conn.close()


def test_verify_on_a_missing_store_says_so(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "-c", str(_conf(tmp_path))]) == 1
    assert "cannot read the audit trail" in capsys.readouterr().err
