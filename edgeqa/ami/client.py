"""asyncio AMI client: login, FullyBooted, Ping keepalive, reconnect with backoff; never replays.

Each TCP connection is one ``Link`` with its own ActionID table. When a link drops, every action
in flight on it fails with AmiDisconnectedError and is forgotten: nothing is queued across a
reconnect, so an Originate is never sent twice. Actions sent with no session up fail at once
with AmiNotConnectedError (a subclass): those were certainly not sent.

Callbacks:
- ``on_message(msg)`` runs in the reader for every event, in wire order, except the items of a
  list action in progress (they go to its caller). Responses never reach it. It must not block;
  if it raises, run() re-raises that exception (a bug is fatal, not retried).
- ``on_session()`` runs as a task after each login + FullyBooted (the resync hook). If it raises
  an AmiError the link is dropped and a fresh session follows; any other exception is fatal.
- ``on_disconnect(exc)`` runs once per opened link when it ends: the cause, or None after close().
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from edgeqa.ami.actions import check_name, normalise_headers
from edgeqa.ami.correlator import Completed
from edgeqa.ami.errors import (
    AmiActionError,
    AmiAuthenticationError,
    AmiDisconnectedError,
    AmiError,
    AmiNotConnectedError,
    AmiProtocolError,
    AmiTimeoutError,
)
from edgeqa.ami.link import Link, open_link
from edgeqa.ami.login import CHALLENGE_HEADERS, challenge_nonce, login_headers
from edgeqa.ami.message import AmiMessage
from edgeqa.runtime.backoff import Backoff, log_failure, log_recovery

__all__ = ["AmiClient", "is_retryable"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class _FatalCallback(Exception):
    """A user callback raised: a bug, surfaced by run() instead of being retried forever."""


class _Closing(Exception):
    """close() was called while run() was waiting."""


def is_retryable(exc: BaseException) -> bool:
    """Return True for link failures worth a reconnect, False for fatal ones (credentials, bugs)."""
    if isinstance(exc, AmiAuthenticationError | _FatalCallback):
        return False
    return isinstance(exc, OSError | TimeoutError | AmiDisconnectedError | AmiProtocolError)


class AmiClient:
    """One logical AMI session to Asterisk, re-established after every drop."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        on_message: Callable[[AmiMessage], None],
        on_session: Callable[[], Awaitable[None]] | None = None,
        on_disconnect: Callable[[BaseException | None], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        ping_interval_s: float = 10.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        retryable: Callable[[BaseException], bool] = is_retryable,
    ) -> None:
        self._rng = random.Random()
        self._backoff = Backoff(backoff_initial_s, backoff_max_s, self._rng.random)
        self._host, self._port = host, port
        self._username, self._secret = username, secret
        self._on_message = on_message
        self._on_session = on_session
        self._on_disconnect = on_disconnect
        self._clock = clock
        self._ping_interval_s = ping_interval_s
        self._connect_timeout_s = connect_timeout_s
        self._retryable = retryable
        self._ids = itertools.count(1)
        self._id_prefix = f"edgeqa-{secrets.token_hex(4)}"
        self._link: Link | None = None
        self._connected = asyncio.Event()
        self._closing = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._fatal: BaseException | None = None
        self.connect_attempts = 0
        self.sessions_started = 0
        self._rejected_before = 0  # messages_rejected of the links that have ended
        self.last_ping_rtt_s: float | None = None

    @property
    def _name(self) -> str:
        return f"AMI {self._host}:{self._port}"

    @property
    def connected(self) -> bool:
        """True while a session is logged in and fully booted."""
        return self._connected.is_set()

    @property
    def messages_rejected(self) -> int:
        """Messages from Asterisk refused as malformed or over a limit, over every link."""
        current = self._link.messages_rejected if self._link is not None else 0
        return self._rejected_before + current

    @property
    def banner(self) -> str | None:
        """The banner of the current link (``Asterisk Call Manager/x.y.z``), if any."""
        return self._link.codec.banner if self._link is not None else None

    async def wait_connected(self, timeout_s: float) -> None:
        """Return once a session is up; raise AmiTimeoutError, or the fatal error of run()."""
        try:
            async with asyncio.timeout(timeout_s):
                while not self._connected.is_set():
                    if self._fatal is not None:
                        raise self._fatal
                    if self._closing.is_set():
                        raise AmiNotConnectedError("AMI client is closed")
                    if self._stopped.is_set():
                        raise AmiNotConnectedError("AMI client run() has ended")
                    await _first(self._connected.wait(), self._stopped.wait())
        except TimeoutError:
            raise AmiTimeoutError(f"no AMI session within {timeout_s} s") from None

    async def send_action(
        self,
        action: str,
        headers: Sequence[tuple[str, str]] | Mapping[str, str] = (),
        *,
        timeout_s: float = 10.0,
    ) -> AmiMessage:
        """Send one action and return its Success response; raise an AmiError (never replayed)."""
        pairs = _checked(action, headers)
        done = await self._request(self._session_link(), action, pairs, False, timeout_s)
        return done.response

    async def send_list_action(
        self,
        action: str,
        headers: Sequence[tuple[str, str]] | Mapping[str, str] = (),
        *,
        timeout_s: float = 10.0,
    ) -> tuple[AmiMessage, list[AmiMessage]]:
        """Send a list action; return (response, items); the Complete event is not an item.

        Only for actions answered by ``EventList: start`` ... ``EventList: Complete``
        (CoreShowChannels, QueueStatus, ...); any other action ends in AmiTimeoutError.
        """
        pairs = _checked(action, headers)
        done = await self._request(self._session_link(), action, pairs, True, timeout_s)
        return done.response, list(done.events)

    async def close(self) -> None:
        """Stop run(), drop the link (actions in flight fail) and wait for run() to return."""
        self._closing.set()
        if self._link is not None:
            self._link.drop(AmiDisconnectedError("AMI client closed"))
        if self._running:
            await self._stopped.wait()

    async def run(self) -> None:
        """Connect, and reconnect with backoff, until close(); raise on a fatal error."""
        if self._running:
            raise RuntimeError("AmiClient.run() is already running")
        self._running = True
        self._stopped.clear()
        try:
            while not self._closing.is_set():
                error: BaseException
                try:
                    await self._session()
                    error = AmiDisconnectedError("AMI link ended")
                except _Closing:
                    break
                except Exception as exc:
                    if self._closing.is_set():
                        break
                    if isinstance(exc, _FatalCallback) and exc.__cause__ is not None:
                        self._fatal = exc.__cause__
                        raise exc.__cause__ from None
                    if not self._retryable(exc) and not self._rejected_after_success(exc):
                        self._fatal = exc
                        raise
                    error = exc
                delay_s = self._backoff.fail(self._clock())
                log_failure(log, self._name, self._backoff, error, delay_s)
                try:
                    await self._unless_closing(asyncio.sleep(delay_s))
                except _Closing:
                    break
        finally:
            self._running = False
            self._stopped.set()

    def _rejected_after_success(self, exc: BaseException) -> bool:
        """A login refused after this secret already worked: an impostor on the AMI port (or a
        reload in progress), not a configuration error, so it is retried with backoff."""
        return isinstance(exc, AmiAuthenticationError) and self.sessions_started > 0

    # -- one session -----------------------------------------------------------------------

    async def _session(self) -> None:
        self.connect_attempts += 1
        link = await self._unless_closing(
            open_link(
                self._host, self._port, self._connect_timeout_s, self._dispatch, self._dropped
            )
        )
        self._link = link
        children: list[asyncio.Task[Any]] = []
        error: BaseException | None = None
        try:
            await self._handshake(link)
            recovery = self._backoff.succeed(self._clock())
            self.sessions_started += 1
            self._connected.set()
            log.info("%s: session up (%s)", self._name, link.codec.banner)
            log_recovery(log, self._name, recovery)
            children.append(asyncio.create_task(self._ping_loop(link), name="ami-ping"))
            if self._on_session is not None:
                children.append(asyncio.create_task(self._resync(link), name="ami-session"))
            await self._until_link_ends(link, children)
        except BaseException as exc:
            error = _root_cause(exc, link)
            if error is exc:
                raise
            raise error from None
        finally:
            self._connected.clear()
            self._link = None
            self._rejected_before += link.messages_rejected
            link.drop(AmiDisconnectedError(f"AMI link lost: {error or link.reason}"))
            for task in children:
                task.cancel()
            await link.wait_closed()
            if children:
                await asyncio.wait(children)
            if self._on_disconnect is not None and not isinstance(error, _Closing):
                if isinstance(error, _FatalCallback):
                    error = error.__cause__
                self._on_disconnect(None if self._closing.is_set() else error)

    async def _until_link_ends(self, link: Link, children: list[asyncio.Task[Any]]) -> None:
        pending: set[asyncio.Future[Any]] = {link.reader_task, *children}
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.cancelled():
                    continue
                exc = task.exception()
                if exc is not None:
                    raise exc
            if link.reader_task in done:
                raise link.reason or AmiDisconnectedError("AMI link ended")

    async def _handshake(self, link: Link) -> None:
        # Challenge/MD5 only: the secret never goes on the wire (docs/asterisk.md#ami-login).
        try:
            done = await self._request(link, "Challenge", CHALLENGE_HEADERS, False,
                                       self._connect_timeout_s)
        except AmiActionError as exc:
            raise AmiProtocolError(
                f"AMI peer refused Challenge/MD5 ({exc.message}); edgeqa never sends the "
                "secret itself"
            ) from None
        login = login_headers(self._username, self._secret, challenge_nonce(done.response))
        try:
            await self._request(link, "Login", login, False, self._connect_timeout_s)
        except AmiActionError as exc:
            raise AmiAuthenticationError(
                f"AMI login as {self._username!r} refused: {exc.message}"
            ) from None
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await asyncio.shield(link.booted)
        except TimeoutError:
            raise AmiTimeoutError(
                f"no FullyBooted within {self._connect_timeout_s} s "
                "(is Asterisk booting? does the AMI user have read=system?)"
            ) from None

    async def _resync(self, link: Link) -> None:
        assert self._on_session is not None
        try:
            await self._on_session()
        except AmiError as exc:
            # A session whose resync failed is not trustworthy: start a fresh one.
            log.warning("AMI on_session failed (%s); dropping the link", exc)
            link.drop(AmiDisconnectedError(f"on_session failed: {exc}"))
        except Exception as exc:
            raise _FatalCallback("on_session raised") from exc

    async def _ping_loop(self, link: Link) -> None:
        while True:
            await asyncio.sleep(self._ping_interval_s)
            sent_at = self._clock()
            try:
                await self._request(link, "Ping", (), False, self._ping_interval_s)
            except AmiTimeoutError:
                log.warning("AMI Ping unanswered for %.1f s; dropping", self._ping_interval_s)
                link.drop(AmiDisconnectedError("Ping timeout"))
                return
            except AmiDisconnectedError:
                return
            self.last_ping_rtt_s = self._clock() - sent_at

    def _dropped(self, link: Link) -> None:
        # Cleared at once, so no caller sees "connected" between the drop and the session's end.
        if link is self._link:
            self._connected.clear()

    def _dispatch(self, link: Link, msg: AmiMessage) -> None:
        consumed, outcome = link.correlator.receive(msg)
        if outcome is not None:
            link.resolve(outcome)
        if consumed:
            return
        if msg.event == "FullyBooted" and not link.booted.done():
            link.booted.set_result(None)
        try:
            self._on_message(msg)
        except Exception as exc:
            raise _FatalCallback("on_message raised") from exc

    # -- actions ---------------------------------------------------------------------------

    def _session_link(self) -> Link:
        link = self._link
        if link is None or not self._connected.is_set() or link.dropped:
            raise AmiNotConnectedError("no AMI session: action not sent")
        return link

    async def _request(
        self,
        link: Link,
        action: str,
        headers: Sequence[tuple[str, str]] | Mapping[str, str],
        is_list: bool,
        timeout_s: float,
    ) -> Completed:
        pairs = _checked(action, headers)
        action_id = f"{self._id_prefix}-{next(self._ids)}"
        future = link.begin(action, pairs, action_id, is_list=is_list)
        try:
            async with asyncio.timeout(timeout_s):
                await link.drain()
                return await future
        except TimeoutError:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise
            raise AmiTimeoutError(f"AMI {action} unanswered after {timeout_s} s") from None
        finally:
            link.forget(action_id)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: the caller already saw an error or the result

    async def _unless_closing(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Await ``coro``, unless close() comes first: then cancel it and raise _Closing."""
        task = asyncio.ensure_future(coro)
        closing = asyncio.ensure_future(self._closing.wait())
        handed_over = False
        try:
            await asyncio.wait({task, closing}, return_when=asyncio.FIRST_COMPLETED)
            if task.done() and not self._closing.is_set():
                handed_over = True
                return task.result()
            raise _Closing
        finally:
            closing.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            if not handed_over and not task.cancelled():
                result = task.exception() or task.result()
                if isinstance(result, Link):  # connected just as we gave up: close it
                    result.drop(AmiDisconnectedError("AMI client closed"))
                    await result.wait_closed()


def _root_cause(exc: BaseException, link: Link) -> BaseException:
    """The reason the link dropped, if ``exc`` is only its echo in a waiting action."""
    reason = link.reason
    if (
        isinstance(exc, AmiDisconnectedError)
        and reason is not None
        and reason is not exc
        and not isinstance(reason, asyncio.CancelledError)
    ):
        return reason
    return exc


def _checked(
    action: str, headers: Sequence[tuple[str, str]] | Mapping[str, str]
) -> tuple[tuple[str, str], ...]:
    """Validate before anything else, so an injection attempt fails the same way when offline."""
    check_name(action)
    return normalise_headers(headers)


async def _first(*aws: Coroutine[Any, Any, Any]) -> None:
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
