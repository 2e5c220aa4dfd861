"""Cost of the audit trail's hash chain: put_audit (chained, with its audit.entry event) against
a plain single-event commit, and `edgeqa audit verify`'s rate over a large table."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgeqa.audit.db import verify_store
from edgeqa.audit.model import Actor, AuditEntry
from edgeqa.store import Event, Store
from edgeqa.store import db as store_db

WRITES = 300
VERIFY_ROWS = 100_000
#: Table sizes `edgeqa audit verify` runs on as a whole process; the marginal rate between
#: them is what a user gets per row, with start-up dropped out.
CLI_ROWS = (50_000, 100_000)


def _entry(i: int) -> AuditEntry:
    return AuditEntry(1733012345.0 + i, Actor("api", "lead#3"), "spy.mode_changed",
                      f"1733012345.{i}", {"agent": "PJSIP/agent1", "mode": "whisper",
                                          "by": "dtmf"}, source="PJSIP/super1-00000004")


async def _commit_costs(path: Path) -> tuple[float, float]:
    """(median s per put_audit, median s per single-event append), synchronous=full."""
    store = Store(path)
    await store.open()
    try:
        audit, plain = [], []
        for i in range(WRITES):
            t0 = time.perf_counter()
            await store.put_audit(_entry(i))
            audit.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await store.append([Event("agent.updated", 1.0 + i, {"i": i})])
            plain.append(time.perf_counter() - t0)
        return statistics.median(audit), statistics.median(plain)
    finally:
        await store.close()


def _verify_rate(path: Path) -> tuple[float, float]:
    """(rows written per s in one transaction loop, rows verified per s)."""
    conn = store_db.open_db(path, "normal")
    t0 = time.perf_counter()
    for i in range(VERIFY_ROWS):
        store_db.put_audit(conn, _entry(i))
    written = VERIFY_ROWS / (time.perf_counter() - t0)
    conn.close()
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    t0 = time.perf_counter()
    verifier = verify_store(ro)
    elapsed = time.perf_counter() - t0
    ro.close()
    assert verifier.problem is None and verifier.count == VERIFY_ROWS
    return written, VERIFY_ROWS / elapsed


def _fill(path: Path, rows: int) -> None:
    conn = store_db.open_db(path, "normal")
    for i in range(rows):
        store_db.put_audit(conn, _entry(i))
    conn.close()


def _cli_seconds(directory: Path, rows: int) -> float:
    """Wall seconds of one whole `edgeqa audit verify` process on a store of ``rows`` rows
    (the best of 3 runs: the machine is shared)."""
    directory.mkdir()
    _fill(directory / "edgeqa.db", rows)
    conf = directory / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "no-such-file"\n[store]\npath = "edgeqa.db"\n')
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "edgeqa", "audit", "verify", "-c",
                               str(conf)], capture_output=True, text=True, timeout=600)
        best = min(best, time.perf_counter() - t0)
        assert done.returncode == 0, done.stdout + done.stderr
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        audit_s, plain_s = asyncio.run(_commit_costs(Path(tmp) / "a.db"))
        print(f"put_audit (chained + audit.entry, synchronous=full): {audit_s * 1e3:.2f} ms "
              f"median; a one-event append: {plain_s * 1e3:.2f} ms; ratio "
              f"{audit_s / plain_s:.2f}")
        written, verified = _verify_rate(Path(tmp) / "b.db")
        print(f"{VERIFY_ROWS} rows: written {written:,.0f}/s (synchronous=normal, one "
              f"transaction each); verify {verified:,.0f} rows/s "
              f"({VERIFY_ROWS / verified:.2f} s for {VERIFY_ROWS})")
        small, large = (_cli_seconds(Path(tmp) / f"cli{n}", n) for n in CLI_ROWS)
        marginal = (CLI_ROWS[1] - CLI_ROWS[0]) / (large - small)
        print(f"`edgeqa audit verify` as a whole process: {small:.2f} s for {CLI_ROWS[0]} rows, "
              f"{large:.2f} s for {CLI_ROWS[1]}; marginal {marginal:,.0f} rows/s "
              f"(start-up and I/O included, start-up dropped out)")


if __name__ == "__main__":
    main()
