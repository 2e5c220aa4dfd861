"""The daemon's own lifecycle events, as it stores and streams them, fit their schemas.

The real Daemon runs on loopback with Asterisk unreachable (both links point at a closed port,
so they only retry) and its API on an ephemeral port; it is stopped as a signal would stop it.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

from edgeqa import __version__
from edgeqa.app import EXIT_OK, Daemon
from edgeqa.config import parse_config
from edgeqa.store import Store
from tests.support.schemas import envelope_errors

ENV = {"EDGEQA_AMI_SECRET": "s3cret-ami", "EDGEQA_ARI_PASSWORD": "s3cret-ari"}
TIMEOUT_S = 10.0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_started_and_stopping_as_streamed_fit_their_schemas(tmp_path: Path) -> None:
    port, db = _closed_port(), tmp_path / "edgeqa.db"
    cfg = parse_config(
        f'[store]\npath = "{db}"\n[api]\nport = 0\n[live]\nenabled = false\n'
        f'[ami]\nport = {port}\nbackoff_initial_s = 0.05\nbackoff_max_s = 0.1\n'
        f'[ari]\nurl = "http://127.0.0.1:{port}/ari"\nbackoff_initial_s = 0.05\n'
        f'backoff_max_s = 0.1\n', env=ENV)
    daemon = Daemon(cfg)
    run = asyncio.create_task(daemon.run())
    async with asyncio.timeout(TIMEOUT_S):
        # seq 1: the audit.entry of the local token's token.added; 2: daemon.started.
        while daemon.hub is None or daemon.hub.last_seq < 2:
            assert not run.done(), run.result()
            await asyncio.sleep(0.01)
    daemon.request_stop()
    assert await asyncio.wait_for(run, TIMEOUT_S) == EXIT_OK

    store = Store(db)
    await store.open()
    try:
        stored = await store.read_after(0, 100)
    finally:
        await store.close()
    envelopes = [json.loads(s.envelope_json()) for s in stored]
    assert [e["type"] for e in envelopes] == ["audit.entry", "daemon.started", "daemon.stopping"]
    assert [(e["seq"], found) for e in envelopes if (found := envelope_errors(e))] == []
    audited, started, stopping = (e["data"] for e in envelopes)
    assert audited["action"] == "token.added" and audited["id"] == 1
    assert started["version"] == __version__ and started["resume_from"] == 1
    assert started["api"] == f"http://127.0.0.1:{daemon.api_address[1]}/v1/"  # type: ignore[index]
    assert stopping == {"reason": "signal"}
