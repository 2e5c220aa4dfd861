"""GET /v1/calls/{id}/recording over loopback: a real store, real WAV files, aiohttp's Range."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from edgeqa.api import StreamSettings, make_app
from edgeqa.recording.events import Recording
from edgeqa.recording.playback import StereoCache
from edgeqa.recording.stereo import build_stereo
from edgeqa.store import Store
from edgeqa.stream import StreamHub
from tests.support.api import FakeView, admin_headers, authority
from tests.unit.recording.calls import as_dicts, leg_rows, store_rows

CALL = "1733012345.7"
LIVE = "1733012345.9"


class Env:
    def __init__(self, client: TestClient[Any, Any], want: bytes, store: Store) -> None:
        self.client, self.want, self.store = client, want, store


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    def files() -> tuple[list[Recording], bytes]:
        rows = leg_rows(tmp_path, CALL) + leg_rows(tmp_path, LIVE,
                                                   states=("recording", "recording"))
        build_stereo(CALL, as_dicts(rows[:2]), tmp_path / "want.wav")
        return rows, (tmp_path / "want.wav").read_bytes()

    rows, want = await asyncio.to_thread(files)
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    await store_rows(store, rows)
    hub = StreamHub(store.read_after, last_seq=0)
    cache = StereoCache(lambda cid: store.recordings(call_id=cid), tmp_path / "cache")
    app = make_app(FakeView(), hub, StreamSettings(), cache, auth=authority(store))
    client = TestClient(TestServer(app, host="127.0.0.1"), headers=await admin_headers(store))
    await client.start_server()
    try:
        yield Env(client, want, store)
    finally:
        hub.close()
        await client.close()
        await store.close()


URL = f"/v1/calls/{CALL}/recording"


async def test_full_get_is_the_stereo_file(env: Env) -> None:
    r = await env.client.get(URL)
    assert r.status == 200 and await r.read() == env.want
    assert r.headers["Content-Type"] == "audio/wav"
    assert r.headers["Content-Disposition"] == f'attachment; filename="{CALL}-stereo.wav"'
    assert r.headers["Accept-Ranges"] == "bytes"
    assert int(r.headers["Content-Length"]) == len(env.want) == 44 + 800 * 4


async def test_a_range_gets_206_and_exactly_those_bytes(env: Env) -> None:
    r = await env.client.get(URL, headers={"Range": "bytes=100-1099"})
    assert r.status == 206 and await r.read() == env.want[100:1100]
    assert r.headers["Content-Range"] == f"bytes 100-1099/{len(env.want)}"
    r = await env.client.get(URL, headers={"Range": "bytes=-4"})
    assert r.status == 206 and await r.read() == env.want[-4:]
    downloads = await env.store.audit(action="recording.downloaded")
    assert [(a["call_id"], a["actor_name"], a["detail"]) for a in downloads] == [
        (CALL, "admin#1", {"range": "bytes=100-1099"}), (CALL, "admin#1", {"range": "bytes=-4"})]
    assert {a["source"] for a in downloads} == {"127.0.0.1"}  # from where (docs/audit.md)


async def test_a_range_past_the_end_is_416(env: Env) -> None:
    r = await env.client.get(URL, headers={"Range": f"bytes={len(env.want)}-"})
    assert r.status == 416
    assert r.headers["Content-Range"] == f"bytes */{len(env.want)}"


@pytest.mark.parametrize(("call_id", "status", "error", "message"), [
    ("9.9", 404, "not_found", "no recording of call 9.9 in the store"),
    (LIVE, 409, "recording", f"call {LIVE}: the customer leg is still recording"),
])
async def test_unknown_and_in_progress(env: Env, call_id: str, status: int, error: str,
                                       message: str) -> None:
    r = await env.client.get(f"/v1/calls/{call_id}/recording")
    assert r.status == status
    assert await r.json() == {"error": error, "message": message}


async def test_a_tampered_leg_is_404_with_the_reason(env: Env, tmp_path: Path) -> None:
    leg = tmp_path / f"{CALL}-customer.wav"
    await asyncio.to_thread(lambda: leg.write_bytes(leg.read_bytes()[:-1] + b"\x55"))
    r = await env.client.get(URL)
    body = await r.json()
    assert r.status == 404 and body["error"] == "no_recording"
    assert "changed since it was recorded" in body["message"]


async def test_without_recording_the_route_is_404(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    hub = StreamHub(store.read_after, last_seq=0)
    client = TestClient(TestServer(make_app(FakeView(), hub, StreamSettings(),
                                            auth=authority(store)),
                                   host="127.0.0.1"), headers=await admin_headers(store))
    await client.start_server()
    try:
        r = await client.get(URL)
        assert r.status == 404
        assert (await r.json())["message"] == "recording is not enabled on this daemon"
    finally:
        hub.close()
        await client.close()
        await store.close()
