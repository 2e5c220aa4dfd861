"""The audit trail on a real daemon (sandbox Asterisk): entries written by the daemon and by a
CLI process beside it form one chain, reach the stream as audit.entry, `edgeqa audit verify`
passes on the live store, and fails once a row is deleted or edited in the database.

Run: EDGEQA_SANDBOX_PORT_BASE=24000 .venv/bin/pytest -q tests/integration/test_audit_chain.py
"""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from tests.support.daemon import EVENT_TIMEOUT_S, add_token, is_type, make_daemon
from tests.support.hygiene import no_leaks  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]


def _cli(proc: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeqa", *args, "--config", str(proc.config)],
                          capture_output=True, text=True, timeout=60)


def _store(proc: DaemonProcess) -> Path:
    return proc.config.parent / "edgeqa.db"


async def test_the_chain_of_a_running_daemon_verifies_until_a_row_is_touched(
        running_sandbox: Sandbox, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    proc = make_daemon(running_sandbox, tmp_path, live=False, record=False)
    proc.start()
    try:
        await blocking(proc.wait_ready)
        col = collect(proc.api_url)
        await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        await blocking(add_token, proc, "lead", "supervisor", "queue:support")
        added = await col.wait_for(lambda e: e["type"] == "audit.entry"
                                   and e["data"]["detail"].get("name") == "lead",
                                   EVENT_TIMEOUT_S)  # written by the CLI process
        assert added["data"]["action"] == "token.added"
        assert added["data"]["actor"]["kind"] == "cli"
        listing = await blocking(_cli, proc, "token", "list")
        token_id = next(line.split()[0] for line in listing.stdout.splitlines()
                        if line.split()[1] == "lead")
        revoke = await blocking(_cli, proc, "token", "revoke", token_id)
        assert revoke.returncode == 0, revoke.stderr
        await col.wait_for(lambda e: e["type"] == "audit.entry"
                           and e["data"]["action"] == "token.revoked", EVENT_TIMEOUT_S)
        verified = await blocking(_cli, proc, "audit", "verify")  # beside the running daemon
        assert verified.returncode == 0, verified.stderr
        logged = [e["data"] for e in col.events if e["type"] == "audit.entry"]
        assert f"chain head {logged[-1]['id']}:{logged[-1]['hash']}" in verified.stdout
        assert [e["id"] for e in logged] == list(range(1, len(logged) + 1))
        assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(logged))
    finally:
        assert await blocking(proc.stop) == 0
    conn = sqlite3.connect(_store(proc), isolation_level=None)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit WHERE id = 2")
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute("DELETE FROM audit WHERE id = 2")
    finally:
        conn.close()
    broken = await blocking(_cli, proc, "audit", "verify")
    assert broken.returncode == 1 and ": row 2: deleted: " in broken.stderr, broken.stderr
