"""The recordings table: one row per leg file, kept at its latest recording.* event; filters."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edgeqa.recording.events import Recording, event_for
from edgeqa.store import MIGRATIONS, Store

T0 = 1733012345.0


def _rec(call_id: str, leg: str, **kw: object) -> Recording:
    base: dict[str, object] = {"path": f"/r/{call_id}-{leg}.wav", "started_at": T0,
                               "queue": "sales", "agent": "PJSIP/agent1"}
    base.update(kw)
    return Recording(call_id, leg, **base)  # type: ignore[arg-type]


async def test_rows_follow_their_latest_event_and_filter(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        await store.append([event_for(_rec("c1", "customer"), T0),
                            event_for(_rec("c1", "agent"), T0),
                            event_for(_rec("c2", "customer", started_at=T0 + 86400,
                                           queue="support", agent="Bob"), T0 + 86400)])
        assert {r["state"] for r in await store.recordings(state="recording")} == {"recording"}
        done = _rec("c1", "customer", ended_at=T0 + 9, codec="pcm_s16le/8000", size=44,
                    sha256="ab" * 32, state="complete")
        await store.append([event_for(done, T0 + 9),
                            event_for(_rec("c1", "agent", ended_at=T0 + 9, state="corrupt",
                                           reason="no data chunk"), T0 + 9)])
        rows = await store.recordings()
        assert [(r["call_id"], r["leg"], r["state"]) for r in rows] == [
            ("c1", "agent", "corrupt"), ("c1", "customer", "complete"),
            ("c2", "customer", "recording")]
        assert rows[1] == done.to_dict()
        assert [r["call_id"] for r in await store.recordings(state="recording")] == ["c2"]
        assert [r["call_id"] for r in await store.recordings(agent="Bob")] == ["c2"]
        assert len(await store.recordings(queue="sales")) == 2
        assert len(await store.recordings(since=T0 + 1)) == 1
        assert len(await store.recordings(until=T0 + 1)) == 2
        types = [e.type for e in await store.read_after(0, 10)]
        assert types == ["recording.started"] * 3 + ["recording.completed", "recording.failed"]
    finally:
        await store.close()


def test_migration_3_adds_the_recordings_table(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db")
    try:
        from edgeqa.store.schema import migrate

        assert migrate(conn) == len(MIGRATIONS) >= 6
        cols = [r[1] for r in conn.execute("PRAGMA table_info(recordings)")]
        assert cols[:9] == ["call_id", "leg", "path", "started_at", "ended_at", "codec", "size",
                            "sha256", "state"]
    finally:
        conn.close()
