"""Link without a socket: a dead transport must drop the link at once (no busy retry loop)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from edgeqa.ami.errors import AmiDisconnectedError, AmiNotConnectedError
from edgeqa.ami.link import Link
from edgeqa.ami.message import AmiMessage


class _Transport:
    def __init__(self) -> None:
        self.closing = False
        self.aborted = 0

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.aborted += 1
        self.closing = True


class _Writer:
    """Stands in for asyncio.StreamWriter: records writes; drain() fails like a reset socket."""

    def __init__(self) -> None:
        self.transport = _Transport()
        self.written: list[bytes] = []
        self.drain_error: BaseException | None = None

    def write(self, data: bytes) -> None:
        self.written.append(data)

    async def drain(self) -> None:
        if self.drain_error is not None:
            raise self.drain_error  # asyncio raises the reader's exception without yielding

    async def wait_closed(self) -> None:
        return None


def _link() -> tuple[Link, _Writer, list[Link]]:
    writer = _Writer()
    dropped: list[Link] = []
    link = Link(
        asyncio.StreamReader(),
        cast(Any, writer),
        lambda _link, _msg: None,
        dropped.append,
    )
    return link, writer, dropped


async def test_drain_failure_drops_link_before_returning() -> None:
    link, writer, dropped = _link()
    future = link.begin("Originate", [("Channel", "Local/x@y")], "id-1", is_list=False)
    writer.drain_error = ConnectionResetError(104, "Connection reset by peer")
    with pytest.raises(AmiDisconnectedError) as info:
        await link.drain()
    assert not isinstance(info.value, AmiNotConnectedError)
    assert link.dropped and dropped == [link]
    assert isinstance(link.reason, ConnectionResetError)
    assert future.done() and isinstance(future.exception(), AmiDisconnectedError)
    # The next action is refused without writing: it was never sent.
    with pytest.raises(AmiNotConnectedError):
        link.begin("Originate", [], "id-2", is_list=False)
    assert len(writer.written) == 1
    assert writer.transport.aborted == 1
    await link.wait_closed()


async def test_closing_transport_refuses_before_writing() -> None:
    link, writer, dropped = _link()
    writer.transport.closing = True
    with pytest.raises(AmiNotConnectedError, match="not sent"):
        link.begin("Ping", [], "id-1", is_list=False)
    assert writer.written == []
    assert link.dropped and dropped == [link]
    await link.wait_closed()


async def test_drop_is_idempotent_and_fails_booted() -> None:
    link, _writer, dropped = _link()
    link.drop(AmiDisconnectedError("first"))
    link.drop(AmiDisconnectedError("second"))
    assert str(link.reason) == "first"
    assert dropped == [link]
    assert isinstance(link.booted.exception(), AmiDisconnectedError)
    await link.wait_closed()


async def test_reader_eof_drops_link_and_dispatches_first() -> None:
    seen: list[AmiMessage] = []
    writer = _Writer()
    reader = asyncio.StreamReader()
    link = Link(reader, cast(Any, writer), lambda _l, m: seen.append(m), lambda _l: None)
    reader.feed_data(b"Asterisk Call Manager/11.0.0\r\nEvent: A\r\n\r\nEvent: B\r\n")
    reader.feed_eof()
    await asyncio.wait({link.reader_task})
    assert [m.event for m in seen] == ["A"]
    assert isinstance(link.reason, AmiDisconnectedError)
    assert link.codec.pending_bytes == b"Event: B\r\n"
    await link.wait_closed()
