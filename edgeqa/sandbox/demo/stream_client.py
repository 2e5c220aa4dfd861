"""A WebSocket consumer of /v1/stream that keeps every envelope (demo view and tests)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

Envelope = dict[str, Any]


class StreamCollector:
    """Connects to /v1/stream?after=N with a bearer ``token``, appends each envelope to
    ``events`` until closed."""

    def __init__(self, api_url: str, after: int | None = None,
                 on_event: Callable[[Envelope], None] | None = None,
                 token: str | None = None) -> None:
        self.url = f"{api_url}/v1/stream"
        self.headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self.after = after
        self.on_event = on_event
        self.events: list[Envelope] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._changed = asyncio.Event()
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()

    async def run(self) -> None:
        """Consume until the daemon closes the stream (or the task is cancelled)."""
        params = {} if self.after is None else {"after": str(self.after)}
        try:
            await self._consume(params)
        finally:
            self.closed.set()
            self._changed.set()

    async def _consume(self, params: dict[str, str]) -> None:
        async with aiohttp.ClientSession(headers=self.headers) as session, \
                session.ws_connect(self.url, params=params, heartbeat=20.0) as ws:
            self.connected.set()
            while True:
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    if msg.type == aiohttp.WSMsgType.CLOSE and isinstance(msg.extra, str):
                        self.close_reason = msg.extra
                    break
                envelope = json.loads(msg.data)
                self.events.append(envelope)
                if self.on_event is not None:
                    self.on_event(envelope)
                self._changed.set()
            self.close_code = ws.close_code

    @property
    def last_seq(self) -> int:
        """The seq of the last envelope received (or the starting cursor)."""
        return self.events[-1]["seq"] if self.events else (self.after or 0)

    async def wait_for(self, match: Callable[[Envelope], bool], timeout_s: float,
                       start: int = 0) -> Envelope:
        """Return the first envelope from index ``start`` on that ``match``es."""
        async with asyncio.timeout(timeout_s):
            index = start
            while True:
                while index < len(self.events):
                    if match(self.events[index]):
                        return self.events[index]
                    index += 1
                self._changed.clear()
                await self._changed.wait()
