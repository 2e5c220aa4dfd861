"""ARI client against the FAKE ARI PEER of test_ari_fake_peer.py (127.0.0.1, not Asterisk):
a frame nested 1,000 levels deep costs that frame; the WebSocket session goes on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from edgeqa.ari.client import AriClient
from edgeqa.ari.rest import AriConnectionError
from tests.integration.test_ari_fake_peer import GOOD, TIMEOUT_S, FakeAri, fake_ari

__all__ = ["fake_ari"]  # the fixture, used by this module

DEEP = '{"type": "ChannelVarset", "value": ' + "[" * 1_000 + "]" * 1_000 + "}"


async def test_deep_frame_costs_one_frame_and_the_session_goes_on(fake_ari: FakeAri) -> None:
    fake_ari.sessions = [[DEEP, json.dumps(GOOD)]]
    received: list[Any] = []
    disconnects: list[BaseException | None] = []
    ended = asyncio.Event()

    def on_disconnect(exc: BaseException | None) -> None:
        disconnects.append(exc)
        ended.set()

    client = AriClient(fake_ari.url, "u", "p", "edgeqa", on_event=received.append,
                       on_disconnect=on_disconnect,
                       backoff_initial_s=0.01, backoff_max_s=0.05)
    runner = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(ended.wait(), TIMEOUT_S)  # the FAKE peer's script ends: it closes
        assert received == [GOOD]  # the good frame after the deep one was read, same session
        assert client.stats.frames == 2 and client.stats.frames_malformed == 1
        assert str(disconnects[0]) == "events WebSocket closed (CLOSE)"
        assert not runner.done()  # run() goes on (it used to end in RecursionError)
        await client.wait_connected(TIMEOUT_S)
    finally:
        await client.close()
        await asyncio.wait_for(runner, TIMEOUT_S)


async def test_deep_rest_answer_is_a_connection_error(fake_ari: FakeAri) -> None:
    fake_ari.info = (200, "[" * 1_000 + "]" * 1_000)
    client = AriClient(fake_ari.url, "u", "p", "edgeqa", on_event=lambda e: None)
    try:
        with pytest.raises(AriConnectionError, match="answer nests deeper than 32 levels"):
            await client.asterisk_info()
    finally:
        await client.close()
