"""Helpers shared by the AMI integration tests: polling, a callback recorder, a running client,
and the loopback server under the fake peer and the cutting proxy.

``ami_hygiene`` is an autouse fixture for the modules that import it: no task left running, no
exception nobody retrieved, and no callback that blocked the loop (tests/unit/hygiene.py).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Self

import pytest

from edgeqa.ami.client import AmiClient
from edgeqa.ami.message import AmiMessage
from tests.support.hygiene import SLOW_CALLBACK_S, SlowCallbackRecords

#: (host, port, username, secret), as ``Sandbox.ami`` gives it.
AmiAddress = tuple[str, int, str, str]


async def until(predicate: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``predicate`` every 10 ms; raise TimeoutError after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


class Recorder:
    """Keeps what an AmiClient hands to its on_message and on_disconnect callbacks."""

    def __init__(self) -> None:
        self.events: list[AmiMessage] = []
        self.disconnects: list[BaseException | None] = []

    def on_message(self, msg: AmiMessage) -> None:
        self.events.append(msg)

    def on_disconnect(self, exc: BaseException | None) -> None:
        self.disconnects.append(exc)


def make_client(address: AmiAddress, rec: Recorder, **options: Any) -> AmiClient:
    """An AmiClient reporting to ``rec``, with test-sized backoff unless ``options`` say else."""
    host, port, username, secret = address
    settings: dict[str, Any] = {"backoff_initial_s": 0.05, "backoff_max_s": 0.5, **options}
    return AmiClient(host, port, username, secret, on_message=rec.on_message,
                     on_disconnect=rec.on_disconnect, **settings)


class LoopbackServer(abc.ABC):
    """A TCP server on 127.0.0.1 (ephemeral ``port``); each connection runs ``handle`` as a task
    that is cancelled, and awaited, when the ``async with`` block ends."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        await self._server.wait_closed()

    @abc.abstractmethod
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one accepted connection."""

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handle(reader, writer)
        finally:
            self._tasks.discard(task)


@contextlib.asynccontextmanager
async def running(client: AmiClient, timeout_s: float) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``client`` for the block; close it and collect run()'s outcome within ``timeout_s``."""
    task = asyncio.create_task(client.run())
    try:
        yield task
    finally:
        await asyncio.wait_for(client.close(), timeout_s)
        await asyncio.wait_for(asyncio.wait({task}), timeout_s)
        if not task.cancelled():
            task.exception()


@pytest.fixture(autouse=True)
async def ami_hygiene() -> AsyncIterator[None]:
    """No task left running, no unretrieved exception, no callback over SLOW_CALLBACK_S."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    slow = SlowCallbackRecords()
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(slow)
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK_S
    try:
        yield
        others = [t for t in asyncio.all_tasks()
                  if t is not asyncio.current_task() and not t.done()]
        assert others == []
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_debug(False)
        asyncio_log.removeHandler(slow)
        loop.set_exception_handler(None)
    assert errors == []
    assert slow.messages == [], f"the event loop was blocked over {SLOW_CALLBACK_S} s"
