"""One AMI TCP connection: codec, ActionID table and reader task; dropped once, never reused."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from edgeqa.ami.correlator import AmiCorrelator, Completed, Failed
from edgeqa.ami.errors import AmiDisconnectedError, AmiMessageRejected, AmiNotConnectedError
from edgeqa.ami.message import AmiMessage
from edgeqa.ami.protocol import AmiCodec, encode_action

log = logging.getLogger(__name__)

#: Bytes asked of the socket per read; the codec's cap bounds what is held between reads.
READ_CHUNK_BYTES = 64 * 1024

Dispatch = Callable[["Link", AmiMessage], None]
OnDrop = Callable[["Link"], None]


class Link:
    """A connected socket; every action in flight on it fails when it drops."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        dispatch: Dispatch,
        on_drop: OnDrop,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.codec = AmiCodec()
        self.correlator = AmiCorrelator()
        self.booted: asyncio.Future[None] = loop.create_future()
        self.reason: BaseException | None = None
        self.messages_rejected = 0
        self._reader = reader
        self._writer = writer
        self._dispatch = dispatch
        self._on_drop = on_drop
        self._futures: dict[str, asyncio.Future[Completed]] = {}
        self.reader_task = asyncio.create_task(self._read_loop(), name="ami-reader")

    @property
    def dropped(self) -> bool:
        """True once the link is down; it is never brought back."""
        return self.reason is not None

    def begin(
        self, action: str, headers: Sequence[tuple[str, str]], action_id: str, *, is_list: bool
    ) -> asyncio.Future[Completed]:
        """Encode, register and write one action; return the future of its answer."""
        data = encode_action(action, headers, action_id)
        if self.reason is None and self._writer.transport.is_closing():
            # The socket died and the reader has not run yet: bytes written now would vanish.
            self.drop(AmiDisconnectedError("AMI transport is closing"))
        if self.reason is not None:
            raise AmiNotConnectedError(f"AMI link is down ({self.reason}): {action} not sent")
        self.correlator.begin(action_id, action, is_list=is_list)
        future: asyncio.Future[Completed] = asyncio.get_running_loop().create_future()
        self._futures[action_id] = future
        self._writer.write(data)
        return future

    async def drain(self) -> None:
        """Wait for the socket's write buffer to drain (flow control); a failure drops the link."""
        try:
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            # drain() can raise without yielding: drop now, or a caller retrying in a loop would
            # never let the reader task see the loss.
            self.drop(exc)
            raise AmiDisconnectedError(f"AMI link lost while sending: {exc}") from exc

    def forget(self, action_id: str) -> None:
        """Stop tracking an action (answered, timed out or cancelled)."""
        self.correlator.forget(action_id)
        future = self._futures.pop(action_id, None)
        if future is not None and future.done() and not future.cancelled():
            future.exception()  # retrieved: the caller saw another error first

    def resolve(self, outcome: Completed | Failed) -> None:
        """Complete the future of an answered action."""
        future = self._futures.pop(outcome.action_id, None)
        if future is None or future.done():
            return
        if isinstance(outcome, Completed):
            future.set_result(outcome)
        else:
            future.set_exception(outcome.error)

    def reject(self, rejected: AmiMessageRejected) -> None:
        """One message was dropped unread: count it, and fail the action it answered."""
        self.messages_rejected += 1
        log.warning("%s (ActionID %s)", rejected, rejected.action_id)
        if rejected.action_id is not None:
            outcome = self.correlator.reject(rejected.action_id, rejected)
            if outcome is not None:
                self.resolve(outcome)

    def drop(self, reason: BaseException) -> None:
        """Take the link down (idempotent): abort the socket, fail every action in flight."""
        if self.reason is not None:
            return
        self.reason = reason
        self._on_drop(self)
        self._writer.transport.abort()
        self.correlator.abandon()
        futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future.done():
                future.set_exception(AmiDisconnectedError(f"AMI link dropped: {reason}"))
        if not self.booted.done():
            self.booted.set_exception(AmiDisconnectedError(f"AMI link dropped: {reason}"))

    async def wait_closed(self) -> None:
        """Wait until the socket is closed and the reader task has ended."""
        if not self.reader_task.done():
            self.reader_task.cancel()
        await asyncio.wait({self.reader_task})
        if not self.reader_task.cancelled():
            self.reader_task.exception()
        if self.booted.done() and not self.booted.cancelled():
            self.booted.exception()
        with contextlib.suppress(OSError, RuntimeError):
            await self._writer.wait_closed()

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(READ_CHUNK_BYTES)
                if not data:
                    raise AmiDisconnectedError("AMI connection closed by peer")
                for msg in self.codec.feed(data):
                    if isinstance(msg, AmiMessageRejected):
                        self.reject(msg)
                    else:
                        self._dispatch(self, msg)
        except BaseException as exc:
            self.drop(exc)
            raise


async def open_link(
    host: str, port: int, timeout_s: float, dispatch: Dispatch, on_drop: OnDrop
) -> Link:
    """Connect to ``host:port`` within ``timeout_s`` and start reading."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, limit=READ_CHUNK_BYTES), timeout_s
    )
    return Link(reader, writer, dispatch, on_drop)
