"""Shared checks for the tests that compare live, offline and true metrics of real calls."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

#: The spec's boundary tolerance (docs/metrics.md, "Tolerances" and "Live versus offline").
BOUNDARY_TOL_S = 0.5
#: Channels that the live taps create: none may outlive a call.
HELPER_PREFIXES = ("Snoop/", "UnicastRTP/")


def complete(items: list[Any], end_s: float) -> list[Any]:
    """Intervals that ended at least 1 s before the shorter recording did."""
    return [item for item in items if item[1] <= end_s - 1.0]


def assert_close(got: list[Any], want: list[Any], what: str) -> None:
    """Same count, and each (start, end) within BOUNDARY_TOL_S of its counterpart."""
    assert len(got) == len(want), (what, got, want)
    for g, w in zip(got, want, strict=True):
        assert abs(g[0] - w[0]) <= BOUNDARY_TOL_S and abs(g[1] - w[1]) <= BOUNDARY_TOL_S, \
            (what, g, w)


def stored_envelopes(db_path: Path) -> list[dict[str, Any]]:
    """Every event the daemon's store holds (across its runs), as stream envelopes."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT seq, type, at, schema, data FROM events ORDER BY seq")
        return [{"seq": r[0], "type": r[1], "at": r[2], "schema": r[3],
                 "data": json.loads(r[4])} for r in rows]
    finally:
        conn.close()


def stored_checkpoints(db_path: Path) -> dict[str, float]:
    """The live checkpoints the daemon's store still holds: covered_to_s per call_id."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT call_id, covered_to_s FROM checkpoints").fetchall())
    finally:
        conn.close()


def of_call(envelopes: list[dict[str, Any]], call_id: str,
            *types: str) -> list[dict[str, Any]]:
    """The envelopes of ``types`` about ``call_id`` (metric events and call.* alike)."""
    out = []
    for env in envelopes:
        data = env["data"]
        cid = data.get("call_id", (data.get("call") or {}).get("call_id"))
        if cid == call_id and (not types or env["type"] in types):
            out.append(env)
    return out


async def live_and_offline(box: Any, tmp_path: Path, collect: Any, calls_dir: Path,
                           fixture: str, talk_s: float, *, tap: str = "auto") -> dict[str, Any]:
    """One fixture call (``calls_dir/<fixture>.{customer,agent}.wav`` played by the phones)
    through a fresh daemon on ``tap``: its live ``call.summary`` summary ("live"), the offline
    analysis of what the phones heard ("offline"), the tap the daemon reported ("tap") and how
    far the daemon's call time 0 lies after the phones' audio start ("offset_s")."""
    import asyncio
    import time

    from edgeqa.analyze.offline import load_pair, run_call
    from edgeqa.sandbox.demo.runner import in_thread
    from tests.support.daemon import EVENT_TIMEOUT_S, fixture_call, make_daemon
    from tests.support.unavailable import unavailable

    if tap == "capture" and os.geteuid() != 0:
        unavailable("host RTP capture needs root (CAP_NET_RAW)")
    talk_started: list[float] = []

    async def talk(_col: Any) -> None:
        talk_started.append(time.time())
        await asyncio.sleep(talk_s)

    out = tmp_path / "call"
    proc = make_daemon(box, tmp_path, tap=tap)
    proc.start()
    try:
        col, connected = await fixture_call(box, proc, calls_dir, out, collect, talk,
                                            fixture=fixture)
        call_id = connected["data"]["call"]["call_id"]
        summary = await col.wait_for(
            lambda e: e["type"] == "call.summary" and e["data"]["call_id"] == call_id,
            EVENT_TIMEOUT_S)
        health = proc.get("/v1/health")
    finally:
        status = await in_thread(proc.stop)
    assert status == 0, proc.log()
    offline = run_call(load_pair(out / f"{fixture}.agent_heard.wav",
                                 out / f"{fixture}.customer_heard.wav"))
    # What the daemon streamed and the offline summary, beside the recordings, to read after.
    (tmp_path / "events.json").write_text(json.dumps(col.events))
    (tmp_path / "offline.json").write_text(json.dumps(offline))
    return {"live": summary["data"]["summary"], "offline": offline,
            "tap": (health.get("live") or {}).get("tap"),
            "offset_s": round(summary["data"]["started_at"] - talk_started[0], 3),
            "events": col.events}
