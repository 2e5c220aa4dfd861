"""Asyncio ARI client: events WebSocket with reconnect and app re-registration, plus REST.

Callbacks:
- ``on_event(body)`` runs in the reader for every decoded event; if it raises, the error is
  counted and logged and the loop carries on.
- ``on_session()`` runs as a task after each registration (the resync hook).
- ``on_disconnect(exc)`` runs once per opened events WebSocket when it ends: the cause, or None
  after close().
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from edgeqa.ari.events import MAX_FRAME_BYTES, AriEvent, decode_frame
from edgeqa.ari.events import event_filter_body as _filter_body
from edgeqa.ari.resources import AriResources, quote_segment
from edgeqa.ari.rest import (
    REQUEST_TIMEOUT_S,
    AriAuthenticationError,
    AriConnectionError,
    AriError,
    AriHttpError,
    AriRest,
    AriTimeoutError,
)
from edgeqa.runtime.backoff import Backoff, log_failure, log_recovery

log = logging.getLogger(__name__)

# ChannelVarset is most of ARI's traffic and the tracker needs none of it
# (docs/asterisk.md#ami-event-noise).
DEFAULT_DISALLOWED_EVENTS = ("ChannelVarset",)
# Channels remembered as "in Stasis" so a late wait_for_stasis_start returns at once.
MAX_STASIS_CHANNELS = 10_000
# How much of a malformed frame is quoted in the log.
LOG_FRAME_CHARS = 200
CLOSE_TIMEOUT_S = 2.0
#: What the app subscribes to: every channel and bridge. Not ``subscribeAll``, which also
#: subscribes every device state; a device-state subscription can deadlock ARI when the
#: WebSocket closes (docs/asterisk.md#ari-device-state-deadlock).
EVENT_SOURCES = ("channel:", "bridge:")


@dataclass(slots=True)
class AriStats:
    """Counters kept by the client (mutable, read by the daemon's health report)."""

    sessions: int = 0
    frames: int = 0
    frames_malformed: int = 0
    callback_errors: int = 0


def _ari_root(base_url: str) -> str:
    """Normalise ``http://host:port`` or ``http://host:port/ari`` to the ARI root URL."""
    root = base_url.rstrip("/")
    return root if root.endswith("/ari") else f"{root}/ari"


def _events_url(root: str, app: str) -> str:
    parts = urlsplit(root)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = f"app={quote(app, safe='')}"
    return urlunsplit((scheme, parts.netloc, f"{parts.path}/events", query, ""))


class AriClient(AriResources):
    """One Stasis app: its events WebSocket (reconnecting) and typed REST calls."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        on_event: Callable[[Mapping[str, Any]], None],
        on_session: Callable[[], Awaitable[None]] | None = None,
        on_disconnect: Callable[[BaseException | None], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        heartbeat_s: float = 10.0,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        disallowed_events: Sequence[str] = DEFAULT_DISALLOWED_EVENTS,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.app = app
        self.stats = AriStats()
        self._root = _ari_root(base_url)
        # Basic auth header built once; the password itself is never logged.
        self._authorization = aiohttp.encode_basic_auth(username, password)
        self._on_event = on_event
        self._on_session = on_session
        self._on_disconnect = on_disconnect
        self._clock = clock
        self._backoff = Backoff(backoff_initial_s, backoff_max_s, rng)
        self._connect_timeout_s = connect_timeout_s
        self._request_timeout_s = request_timeout_s
        self._heartbeat_s = heartbeat_s
        self._max_frame_bytes = max_frame_bytes
        self._disallowed = tuple(disallowed_events)
        self._http: aiohttp.ClientSession | None = None
        self._rest: AriRest | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._connected = asyncio.Event()
        self._closing = asyncio.Event()
        self._closed = False
        self._running = False
        self._in_stasis: dict[str, None] = {}
        self._stasis_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._own_bridges: set[str] = set()

    # -- session -----------------------------------------------------------------------------

    @property
    def _name(self) -> str:
        return f"ARI {self._root} app {self.app}"

    @property
    def connected(self) -> bool:
        """True while the events WebSocket is up and the app is registered."""
        return self._connected.is_set()

    @property
    def own_bridges(self) -> frozenset[str]:
        """Ids of bridges this client created and has not deleted yet."""
        return frozenset(self._own_bridges)

    def _rest_api(self) -> AriRest:
        if self._closed:
            raise AriConnectionError("ARI client is closed")
        if self._rest is None:
            self._http = aiohttp.ClientSession()
            self._rest = AriRest(
                self._http, self._root, self._authorization,
                request_timeout_s=self._request_timeout_s,
            )
        return self._rest

    async def run(self) -> None:
        """Keep the events WebSocket up until close(); raise AriAuthenticationError on 401."""
        if self._running:
            raise RuntimeError("AriClient.run() is already running")
        self._running = True
        try:
            await self._run_loop()
        finally:
            self._running = False

    async def _run_loop(self) -> None:
        while not self._closing.is_set():
            reason: BaseException
            try:
                reason = await self._one_session()
            except AriAuthenticationError:
                log.error("ARI refused the credentials for app %s: giving up", self.app)
                raise
            except (AriError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = exc
            finally:
                self._connected.clear()
                self._ws = None
            if self._closing.is_set():
                break
            delay_s = self._backoff.fail(self._clock())
            log_failure(log, self._name, self._backoff, reason, delay_s)
            try:
                await asyncio.wait_for(self._closing.wait(), delay_s)
            except TimeoutError:
                pass

    async def _one_session(self) -> BaseException:
        """Run one events WebSocket until it ends; return why it ended, or raise."""
        rest = self._rest_api()
        assert self._http is not None
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                ws = await self._http.ws_connect(
                    _events_url(self._root, self.app),
                    headers={"Authorization": self._authorization},
                    max_msg_size=self._max_frame_bytes,
                    heartbeat=self._heartbeat_s,
                    timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT_S),
                )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 401:
                raise AriAuthenticationError(401, exc.message, "GET", "/events") from exc
            raise AriHttpError(exc.status, exc.message, "GET", "/events") from exc
        self._ws = ws
        reason: BaseException | None = None
        try:
            if self._closing.is_set():
                return AriConnectionError("ARI client closed")
            await self._register(rest)
            recovery = self._backoff.succeed(self._clock())
            self.stats.sessions += 1
            self._connected.set()
            log.info("ARI app %s registered (session %d)", self.app, self.stats.sessions)
            log_recovery(log, self._name, recovery)
            async with asyncio.TaskGroup() as group:
                reader = group.create_task(self._read_loop(ws))
                if self._on_session is not None:
                    hook = group.create_task(self._run_hook(self._on_session))
                    reader.add_done_callback(lambda _task: hook.cancel())
            reason = reader.result()
            return reason
        except BaseException as exc:
            reason = exc
            raise
        finally:
            self._connected.clear()
            await ws.close()
            if self._on_disconnect is not None:
                self._disconnected(reason)

    async def _register(self, rest: AriRest) -> None:
        """Connecting the WebSocket registered the app: subscribe it to every channel and
        bridge (EVENT_SOURCES), set the event filter, and confirm it."""
        path = f"/applications/{quote_segment(self.app)}"
        try:
            await rest.request("POST", f"{path}/subscription",
                               params={"eventSource": ",".join(EVENT_SOURCES)})
        except AriAuthenticationError:
            raise
        except AriHttpError as exc:  # without it the tracker would miss every channel event
            raise AriConnectionError(f"ARI app {self.app!r} not subscribed: {exc}") from exc
        answer = None
        if self._disallowed:
            try:
                answer = await rest.request("PUT", f"{path}/eventFilter",
                                            body=_filter_body(self._disallowed))
            except AriAuthenticationError:
                raise
            except AriHttpError as exc:
                # The filter only saves traffic (e.g. a read_only ARI user may not set it).
                log.warning("ARI event filter not set for %s: %s", self.app, exc)
        if answer is None:
            answer = await rest.request("GET", path)
        if not isinstance(answer, dict) or answer.get("name") != self.app:
            raise AriConnectionError(f"ARI did not register app {self.app!r}: {answer!r}")

    def _disconnected(self, reason: BaseException | None) -> None:
        assert self._on_disconnect is not None
        if self._closing.is_set() or isinstance(reason, asyncio.CancelledError):
            reason = None
        try:
            self._on_disconnect(reason)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("ARI on_disconnect callback failed")

    async def _run_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        try:
            await hook()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ARI on_session hook failed")

    async def _read_loop(self, ws: aiohttp.ClientWebSocketResponse) -> BaseException:
        """Dispatch frames until the socket ends; return why it ended (never raises)."""
        while True:
            try:
                msg = await ws.receive()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                return AriConnectionError(f"events WebSocket failed: {exc!r}")
            if msg.type is aiohttp.WSMsgType.TEXT:
                self._on_frame(msg.data)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                self.stats.frames_malformed += 1
                log.error("ARI sent a binary frame of %d bytes: dropped", len(msg.data))
            elif msg.type is aiohttp.WSMsgType.ERROR:
                # aiohttp reports an oversized or invalid frame here and closes the socket.
                self.stats.frames_malformed += 1
                log.error("ARI events WebSocket error (reconnecting): %r", msg.data)
                return AriConnectionError(f"events WebSocket error: {msg.data!r}")
            else:
                return AriConnectionError(f"events WebSocket closed ({msg.type.name})")

    def _on_frame(self, data: str) -> None:
        self.stats.frames += 1
        try:
            event = decode_frame(data, max_frame_bytes=self._max_frame_bytes)
        except Exception as exc:  # AriFrameError, or a decoder bug: one bad frame costs one frame
            self.stats.frames_malformed += 1
            log.error("ARI malformed frame dropped (%s): %r", exc, data[:LOG_FRAME_CHARS])
            return
        self._note(event)
        try:
            self._on_event(event.body)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("ARI on_event callback failed for %s", event.type)

    def _note(self, event: AriEvent) -> None:
        """Keep the bookkeeping behind wait_for_stasis_start and bridge cleanup."""
        if event.type == "StasisStart" and event.channel_id is not None:
            channel_id = event.channel_id
            if len(self._in_stasis) >= MAX_STASIS_CHANNELS:
                self._in_stasis.pop(next(iter(self._in_stasis)))
            self._in_stasis[channel_id] = None
            for waiter in self._stasis_waiters.pop(channel_id, []):
                if not waiter.done():
                    waiter.set_result(None)
        elif event.type in ("StasisEnd", "ChannelDestroyed") and event.channel_id is not None:
            self._in_stasis.pop(event.channel_id, None)
        elif event.type == "BridgeDestroyed":
            bridge = event.body.get("bridge")
            if isinstance(bridge, Mapping) and isinstance(bridge.get("id"), str):
                self._own_bridges.discard(bridge["id"])

    async def wait_connected(self, timeout_s: float) -> None:
        """Return once the app is registered; raise AriTimeoutError after ``timeout_s``."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except TimeoutError:
            raise AriTimeoutError(f"ARI not connected after {timeout_s} s") from None

    async def wait_for_stasis_start(self, channel_id: str, timeout_s: float) -> None:
        """Return once ``channel_id`` has entered our Stasis app (at once if it already has)."""
        if channel_id in self._in_stasis:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stasis_waiters.setdefault(channel_id, []).append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            raise AriTimeoutError(f"no StasisStart for {channel_id} in {timeout_s} s") from None
        finally:
            waiters = self._stasis_waiters.get(channel_id)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._stasis_waiters[channel_id]

    async def close(self) -> None:
        """Stop the loop, delete the bridges we created, close the HTTP session (idempotent)."""
        if self._closed:
            return
        self._closing.set()
        try:
            # Bridges first, while the app's WebSocket is still up: closing the socket while
            # Asterisk destroys one of the app's bridges wedged Asterisk 22's ARI (the app was
            # never deactivated; every later /events upgrade hung).
            for bridge_id in sorted(self._own_bridges):
                try:
                    await self.delete_bridge(bridge_id)
                except AriError as exc:
                    log.warning("ARI could not delete bridge %s on close: %r", bridge_id, exc)
            if self._ws is not None:
                await self._ws.close()
        finally:
            self._closed = True
            if self._http is not None:
                await self._http.close()
        for waiters in self._stasis_waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(AriConnectionError("ARI client closed"))
        self._stasis_waiters.clear()

    # -- REST --------------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, params: Mapping[str, str | int | None] | None = None,
        body: Any = None,
    ) -> Any:
        return await self._rest_api().request(method, path, params=params, body=body)
