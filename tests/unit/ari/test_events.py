"""ARI frame decoding, URLs and the client's frame bookkeeping (no sockets)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from edgeqa.ari.client import AriClient, _ari_root, _events_url
from edgeqa.ari.events import AriFrameError, decode_frame, event_filter_body
from edgeqa.ari.rest import AriTimeoutError

STASIS_START = {"type": "StasisStart", "application": "edgeqa",
                "channel": {"id": "1795327440.0", "name": "PJSIP/caller-00000000"}}


def test_decode_whole_frame() -> None:
    text = json.dumps(STASIS_START)
    event = decode_frame(text)
    assert event.type == "StasisStart" and event.channel_id == "1795327440.0"
    assert decode_frame(text.encode()).body == STASIS_START


def test_decode_every_transcript_line(data_dir: Path) -> None:
    lines = (data_dir / "asterisk" / "ari_call.jsonl").read_text().splitlines()
    events = [decode_frame(line) for line in lines]
    assert len(events) == 357
    assert sum(e.type == "StasisStart" for e in events) == 4


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON list, not an object"),
        ('"StasisStart"', "JSON str, not an object"),
        ("{}", "no string 'type'"),
        ('{"type": 5}', "no string 'type'"),
        ('{"type": ""}', "no string 'type'"),
        (b"\xff\xfe{", "not JSON"),
        (json.dumps(STASIS_START) + " trailing", "not JSON"),
    ],
)
def test_decode_rejects_malformed(frame: str | bytes, message: str) -> None:
    with pytest.raises(AriFrameError, match=message):
        decode_frame(frame)


def test_decode_truncated_frames_byte_by_byte() -> None:
    text = json.dumps(STASIS_START)
    for cut in range(len(text)):
        with pytest.raises(AriFrameError):
            decode_frame(text[:cut])


def test_decode_refuses_frames_over_the_limit() -> None:
    text = json.dumps(STASIS_START)
    assert decode_frame(text, max_frame_bytes=len(text)).type == "StasisStart"
    with pytest.raises(AriFrameError, match=f"exceeds {len(text) - 1} bytes"):
        decode_frame(text, max_frame_bytes=len(text) - 1)


def test_event_filter_body() -> None:
    assert event_filter_body(("ChannelVarset",)) == {"disallowed": [{"type": "ChannelVarset"}]}


def test_urls() -> None:
    assert _ari_root("http://127.0.0.1:8088") == "http://127.0.0.1:8088/ari"
    assert _ari_root("http://127.0.0.1:8088/ari/") == "http://127.0.0.1:8088/ari"
    assert _events_url("http://127.0.0.1:8088/ari", "edge qa") == (
        "ws://127.0.0.1:8088/ari/events?app=edge%20qa")
    assert _events_url("https://pbx:8089/ari", "edgeqa").startswith("wss://pbx:8089/ari/events")


def _client(received: list[Any]) -> AriClient:
    return AriClient("http://127.0.0.1:1/ari", "u", "p", "edgeqa", on_event=received.append)


async def test_malformed_frames_are_counted_logged_and_skipped(
        caplog: pytest.LogCaptureFixture) -> None:
    received: list[Any] = []
    client = _client(received)
    with caplog.at_level(logging.ERROR, logger="edgeqa.ari.client"):
        for frame in ("nope", "[]", '{"no": "type"}', json.dumps(STASIS_START)):
            client._on_frame(frame)
    assert client.stats.frames == 4 and client.stats.frames_malformed == 3
    assert received == [STASIS_START]
    assert sum("malformed frame" in r.getMessage() for r in caplog.records) == 3
    await client.close()


async def test_callback_errors_do_not_escape() -> None:
    def boom(event: Any) -> None:
        raise RuntimeError("consumer bug")

    client = AriClient("http://127.0.0.1:1/ari", "u", "p", "edgeqa", on_event=boom)
    client._on_frame(json.dumps(STASIS_START))
    assert client.stats.callback_errors == 1
    await client.close()


async def test_wait_for_stasis_start_before_and_after_the_event() -> None:
    client = _client([])
    waiter = asyncio.create_task(client.wait_for_stasis_start("1795327440.0", timeout_s=5))
    await asyncio.sleep(0)
    assert not waiter.done()
    client._on_frame(json.dumps(STASIS_START))
    await asyncio.wait_for(waiter, 1)
    # Already in Stasis: returns at once.
    await client.wait_for_stasis_start("1795327440.0", timeout_s=0.01)
    client._on_frame(json.dumps({**STASIS_START, "type": "StasisEnd"}))
    with pytest.raises(AriTimeoutError, match=r"no StasisStart for 1795327440\.0"):
        await client.wait_for_stasis_start("1795327440.0", timeout_s=0.01)
    assert client._stasis_waiters == {}
    await client.close()
    await client.close()  # idempotent


async def test_wait_connected_times_out() -> None:
    client = _client([])
    with pytest.raises(AriTimeoutError):
        await client.wait_connected(0.01)
    await client.close()
