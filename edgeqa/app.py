"""Composition root: builds the daemon's parts, runs them in one TaskGroup, stops them in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from edgeqa import __version__
from edgeqa.agi import AgiHandler, AgiServer
from edgeqa.ami.client import AmiClient
from edgeqa.ami.errors import AmiAuthenticationError
from edgeqa.ami.message import AmiMessage
from edgeqa.api import ApiServer, StreamSettings, make_app
from edgeqa.api.bounds import ConnectionBounds
from edgeqa.api.guard import GuardSettings
from edgeqa.ari.client import AriClient
from edgeqa.ari.rest import AriAuthenticationError
from edgeqa.auth.service import LOCAL_TOKEN_FILE, Authority, issue_local_token
from edgeqa.calls.changes import CallChange
from edgeqa.calls.resyncer import Resyncer
from edgeqa.calls.tracker import CallTracker
from edgeqa.config import Config
from edgeqa.hints.service import HintService
from edgeqa.live.service import CHECKPOINT_TYPE, LiveMetrics
from edgeqa.pci.model import paused_spans
from edgeqa.pci.service import PciService
from edgeqa.recording.files import free_space
from edgeqa.recording.playback import STEREO_CACHE_DIR, StereoCache
from edgeqa.recording.purge import RetentionJob
from edgeqa.recording.service import Recorder
from edgeqa.recording.summarizer import Summarizer
from edgeqa.route import history as route_history
from edgeqa.route.history import HistoryReader
from edgeqa.route.service import RouteService, member_view
from edgeqa.runtime.sdnotify import SdNotifier
from edgeqa.spy.service import SpyService
from edgeqa.store import Event, EventLike, Store, StoredEvent
from edgeqa.stream import StreamHub
from edgeqa.stream.pipeline import EventPipeline

log = logging.getLogger(__name__)

#: Exit statuses of `edgeqa run` (2 is a configuration error, reported by the command).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_CREDENTIALS = 3
#: How often long PCI pauses are looked for (alerts are due within a second).
PCI_TICK_S = 1.0


class FatalError(Exception):
    """A condition retrying cannot fix; ``exit_status`` is the process status."""

    def __init__(self, message: str, exit_status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def unreachable_links(cfg: Config, *, ami_up: bool, ari_up: bool) -> list[str]:
    """Name each link that is still down, with its address (for the one startup warning)."""
    down = [] if ami_up else [f"AMI {cfg.ami.host}:{cfg.ami.port}"]
    return down if ari_up else [*down, f"ARI {cfg.ari.url}"]


class Daemon:
    """The edgeqa daemon: AMI + ARI -> tracker -> store -> stream, with its HTTP API."""

    def __init__(self, cfg: Config, *, notifier: SdNotifier | None = None,
                 wall: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self._notifier = notifier or SdNotifier()
        self._wall = wall
        self._mono = mono
        self._started_mono = mono()
        self._stop = asyncio.Event()
        self._fatal: FatalError | None = None
        self.tracker = CallTracker()
        self.tracker_errors = 0
        self._links_up: set[str] = set()
        s = cfg.store
        self.store = Store(s.path, synchronous=s.synchronous,
                           writer_queue_max_requests=s.writer_queue_max_requests,
                           batch_max_events=s.batch_max_events,
                           retention_max_events=s.retention_max_events,
                           projections=(route_history.project,))  # the caller history
        self.hub: StreamHub | None = None
        self.pipeline: EventPipeline | None = None
        self.api_address: tuple[str, int] | None = None
        a, r = cfg.ami, cfg.ari
        self.ami = AmiClient(
            a.host, a.port, a.username, a.secret.reveal(), on_message=self._on_ami,
            on_session=lambda: self._on_session("ami"), on_disconnect=self._on_ami_down,
            ping_interval_s=a.ping_interval_s, backoff_initial_s=a.backoff_initial_s,
            backoff_max_s=a.backoff_max_s, connect_timeout_s=a.connect_timeout_s)
        self.ari = AriClient(
            r.url, r.username, r.password.reveal(), r.app, on_event=self._on_ari,
            on_session=lambda: self._on_session("ari"), on_disconnect=self._on_ari_down,
            backoff_initial_s=r.backoff_initial_s, backoff_max_s=r.backoff_max_s)
        # A recorded call's live summary, if partial or missing, comes from its recording.
        self.summaries = Summarizer(
            self._submit, lambda c: self.recorder is not None and self.recorder.records(c),
            live_enabled=cfg.live.enabled, wall=wall, paused=self._paused_spans,
            holds=self.store.call_holds) \
            if cfg.recording.enabled else None
        self.live = LiveMetrics(cfg.live, self.ari, self.summaries.submit_live
                                if self.summaries is not None else self._submit,
                                save_checkpoints=self.store.put_checkpoints) \
            if cfg.live.enabled else None
        self.recorder = Recorder(cfg.recording, self.ami, self._submit, lambda: self.tracker.calls,
                                 wall=wall, action_timeout_s=a.action_timeout_s,
                                 audit=self.store.put_audit, disk_usage=free_space,
                                 on_closed=self.summaries.on_closed if self.summaries else None) \
            if cfg.recording.enabled else None
        self.retention = RetentionJob(cfg.recording, self.store, self._publish, wall=wall,
                                      stereo_cache=s.path.parent / STEREO_CACHE_DIR) \
            if cfg.recording.enabled else None
        self.pci = PciService(
            cfg.pci, self.ami, self.store.put_audit, self._submit, lambda: self.tracker.calls,
            lambda: self.tracker.channels,
            self.recorder.recording_channel if self.recorder is not None else lambda _: None,
            live=self.live, wall=wall, action_timeout_s=a.action_timeout_s)
        self.spy = SpyService(cfg.spy, cfg.auth.teams, self.ami, self.store.put_audit,
                              self._submit, self.tracker.snapshot, recording=cfg.recording,
                              wall=wall, action_timeout_s=a.action_timeout_s,
                              agi_url=f"agi://{cfg.agi.host}:{cfg.agi.port}",
                              labels=self.recorder.labels if self.recorder else None)
        # FastAGI routes by the first path segment of agi://host:port/ROUTE/...: the services
        # add theirs here (spy, spy-session; route in issue 13). A route not here -> FAILURE.
        self.agi_routes: dict[str, AgiHandler] = {}
        self.agi = AgiServer(self.agi_routes, limits=cfg.agi.limits) if cfg.agi.enabled else None
        self.agi_routes.update(self.spy.routes())  # spy, spy-session (issue 11)
        # route: QUEUE_PRIO, queue and agent offered first; history read beside the writer
        self.route = RouteService(cfg.route, HistoryReader(s.path), self._submit,
                                  member_view(self.tracker.state.queues), wall=wall, mono=mono)
        self.agi_routes.update(self.route.routes())  # route (issue 13)
        self.hints = HintService(cfg.hints, self.ami, self.store, self.store.put_audit,
                                 self._submit, wall=wall, action_timeout_s=a.action_timeout_s)
        self.resyncer = Resyncer(self.tracker, self.ami, self.ari, submit=self._submit_tracked,
                                 emit=self.emit,
                                 wall=wall, mono=mono, action_timeout_s=a.action_timeout_s)

    # --- the view the API reads ------------------------------------------------------------

    def calls_snapshot(self) -> Mapping[str, Any]:
        """The tracker's live model plus the stream position it reflects."""
        snap = self.tracker.snapshot()
        snap["seq"] = self.hub.last_seq if self.hub is not None else 0
        spies = self.spy.spies_by_call()  # who spies on each call, in which mode (issue 11)
        for call in snap["calls"]:
            call["spies"] = spies.get(call["call_id"], [])
        return snap

    def health(self) -> Mapping[str, Any]:
        """Liveness of each link, of the store and of the stream."""
        hub, pipe = self.hub, self.pipeline
        ok = self.ami.connected and self.ari.connected and not self._stop.is_set()
        return {
            "status": "ok" if ok else "degraded",
            "version": __version__,
            "uptime_s": round(self._mono() - self._started_mono, 3),
            "ami": {"connected": self.ami.connected, "sessions": self.ami.sessions_started,
                    "messages_rejected": self.ami.messages_rejected},
            "ari": {"connected": self.ari.connected, "sessions": self.ari.stats.sessions},
            "last_resync": self.resyncer.last,
            "stream": {"last_seq": hub.last_seq if hub else 0,
                       "subscribers": hub.subscribers if hub else 0,
                       "lagged": hub.stats.lagged if hub else 0},
            "intake": {"backlog": pipe.backlog if pipe else 0,
                       "dropped": pipe.dropped if pipe else 0},
            "store": {"events_written": self.store.stats.events_written,
                      "transactions": self.store.stats.transactions,
                      "events_pruned": self.store.stats.events_pruned},
            "tracker_errors": self.tracker_errors,
            "live": self.live.health() if self.live is not None else None,
            "recording": self.recorder.health() if self.recorder is not None else None,
            "summaries": self.summaries.health() if self.summaries is not None else None,
            "pci": self.pci.health(),
            "spy": self.spy.health(),
            "route": self.route.health(),
            "hints": self.hints.health(),
            "retention": self.retention.health() if self.retention is not None else None,
            "agi": self.agi.health() if self.agi is not None else None,
        }

    async def _paused_spans(self, call_id: str) -> list[tuple[float, float]]:
        """A call's PCI pauses (wall time), from the audit trail: they survive restarts."""
        return paused_spans(await self.store.audit(call_id=call_id, action="pci."))

    # --- event intake ----------------------------------------------------------------------

    def emit(self, type_: str, data: Mapping[str, Any]) -> None:
        """Record a daemon event (lifecycle, resync) in the stream."""
        self._submit([Event(type_, self._wall(), data)])

    def _submit(self, events: Iterable[EventLike]) -> None:
        if self.pipeline is not None:
            self.pipeline.submit(events)

    async def _publish(self, events: Sequence[EventLike]) -> None:
        """Submit ``events`` and return once they are committed."""
        self._submit(events)
        if self.pipeline is not None:
            await self.pipeline.flush()

    def _committed(self, events: list[StoredEvent]) -> None:
        """Committed events: to the stream, then to the hints (call summaries)."""
        assert self.hub is not None
        self.hub.publish(events)
        try:
            self.hints.on_committed(events)
        except Exception:  # the hints must never stop the stream
            log.exception("hints failed on committed events")

    def _submit_tracked(self, events: Iterable[Any]) -> None:
        """Submit tracker events, and hand the tracker's typed changes to the live metrics."""
        self._submit(events)
        self._to_live(self.tracker.drain_changes())

    def _to_live(self, changes: Sequence[CallChange]) -> None:
        """Hand the tracker's changes to the capabilities that act on calls."""
        if not changes:
            return
        for name, consumer in (("live metrics", self.live), ("recording", self.recorder),
                               ("pci", self.pci)):
            if consumer is None:
                continue
            try:
                consumer.on_changes(changes, self._wall())
            except Exception:  # a capability must never stop call tracking
                log.exception("%s failed on call changes", name)

    def _track(self, handle: Callable[[Any, float], list[Any]], item: Any) -> None:
        try:
            events = handle(item, self._wall())
        except Exception:
            # A tracker bug must not take the daemon down; the next resync repairs the model.
            self.tracker_errors += 1
            log.exception("tracker failed on %r", item)
            return
        if self.pipeline is not None and events:
            self.pipeline.submit(events)
        self._to_live(self.tracker.drain_changes())

    def _on_ami(self, msg: AmiMessage) -> None:
        self._track(self.tracker.handle_ami, msg)
        if msg.get("Event") == "UserEvent":
            self.pci.on_ami(msg)  # a PCI feature code from a phone
        self.spy.on_ami(msg)  # DTMF mode switches and hang-ups of spyer channels
        self.hints.on_ami(msg)  # a person changing a penalty or pause a hint set (issue 13)

    def _on_ari(self, event: Mapping[str, Any]) -> None:
        self._track(self.tracker.handle_ari, event)
        if self.live is not None:
            self.live.on_ari_event(event)

    async def _on_session(self, link: str) -> None:
        self._links_up.add(link)
        # "interface" repeats "link" for consumers written against the first v1 payload.
        self.emit("asterisk.connected", {"link": link, "interface": link})
        if link == "ari" and self.live is not None:
            await self.live.sweep_orphans()
        if link == "ami":
            self.hints.on_session()  # applied hints against QueueStatus (issue 13)
        await self.resyncer.resync(link)

    def _on_ami_down(self, exc: BaseException | None) -> None:
        self.resyncer.note_down(self._mono())
        self._link_down("ami", exc)

    def _on_ari_down(self, exc: BaseException | None) -> None:
        self._link_down("ari", exc)

    def _link_down(self, link: str, exc: BaseException | None) -> None:
        """Emit asterisk.disconnected for a link whose asterisk.connected was emitted."""
        if link not in self._links_up:
            return  # a connect or login that failed: the clients log those
        self._links_up.discard(link)
        if self.live is not None:
            self.live.on_link_down(self._wall())  # audio from here to the re-tap is a gap
        self.emit("asterisk.disconnected", {"link": link, "interface": link,
                                            "reason": str(exc) if exc else "closed"})

    # --- lifecycle -------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin the ordered shutdown (signal handlers call this)."""
        self._stop.set()

    async def _guard(self, name: str, run: Awaitable[None]) -> None:
        try:
            await run
        except (AmiAuthenticationError, AriAuthenticationError) as exc:
            self._fail(FatalError(f"{name.upper()} credentials rejected: {exc}; check "
                                  f"{name}.username and its secret", EXIT_BAD_CREDENTIALS))
        except Exception as exc:
            log.exception("%s client stopped", name)
            self._fail(FatalError(f"{name.upper()} client failed: {exc!r}"))

    def _fail(self, error: FatalError) -> None:
        if self._fatal is None:
            self._fatal = error
            log.error("%s", error)
        self._stop.set()

    async def _every(self, interval_s: float, tick: Callable[[], object]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            tick()

    def _sweep(self) -> None:
        self._track(lambda _, now: self.tracker.sweep(now, self.cfg.tracker.max_idle_s), None)

    async def _warn_unreachable(self) -> None:
        await asyncio.sleep(self.cfg.ami.connect_timeout_s)
        down = unreachable_links(self.cfg, ami_up=self.ami.connected, ari_up=self.ari.connected)
        if down:
            log.warning("Asterisk is not reachable yet (%s); edgeqa keeps retrying, every "
                        "%g s at most, and logs when it reconnects", ", ".join(down),
                        max(self.cfg.ami.backoff_max_s, self.cfg.ari.backoff_max_s))

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT, request_stop() or a fatal error; return the exit status."""
        try:
            await self.store.open()
        except Exception as exc:
            log.error("cannot open the store %s: %s", self.cfg.store.path, exc)
            return EXIT_FAILED
        try:
            return await self._run_open()
        except Exception:  # a bug or a broken store: say so once, exit non-zero
            log.exception("edgeqa failed")
            return EXIT_FAILED
        finally:
            await self.route.close()  # its read connections, before the store closes
            await self.store.close()

    async def _run_open(self) -> int:
        c = self.cfg
        hub = self.hub = StreamHub(
            self.store.read_after, last_seq=await self.store.last_seq(),
            subscriber_queue_max_events=c.api.subscriber_queue_max_events,
            max_subscribers=c.api.max_subscribers, replay_page_events=c.api.replay_page_events,
            max_subscribers_per_key=c.api.max_subscribers_per_token)
        pipe = self.pipeline = EventPipeline(
            self.store, hub, intake_queue_max_events=c.tracker.intake_queue_max_events,
            batch_max_events=c.store.batch_max_events, clock=self._wall)
        self.store.publish_to(self._committed)  # the stream, then the hints (issue 13)
        await self.hints.restore()
        open_calls = await self.store.open_calls()
        self.resyncer.remember_open_calls(open_calls)
        if self.live is not None:
            self.live.restore(open_calls, await self.store.latest_by_call(CHECKPOINT_TYPE),
                              await self.store.checkpoints())
        if self.recorder is not None:
            self.recorder.restore(await self.store.recordings(state="recording"),
                                  (str(row["id"]) for row in open_calls))
        if self.summaries is not None:
            await self.summaries.restore_from(self.store, (str(r["id"]) for r in open_calls))
        self.pci.restore({str(row["id"]): await self.store.audit(call_id=str(row["id"]),
                                                                 action="pci.")
                          for row in open_calls})
        stereo = StereoCache(
            lambda call_id: self.store.recordings(call_id=call_id),
            c.store.path.parent / STEREO_CACHE_DIR) if c.recording.enabled else None
        if c.auth.local_token:  # for CLI commands on this host: see docs/access.md
            await issue_local_token(self.store, c.store.path.parent / LOCAL_TOKEN_FILE,
                                    self._wall())
        api = ApiServer(make_app(self, hub, StreamSettings(c.api.send_timeout_s,
                                                           c.api.sse_keepalive_s), stereo,
                                 self.pci,
                                 legal_holds=self.store,
                                 origins=GuardSettings(c.api.allowed_hosts,
                                                       c.api.allowed_origins, c.api.host),
                                 auth=Authority(self.store, c.auth), spy=self.spy,
                                 hints=self.hints),
                        c.api.host, c.api.port,
                        ConnectionBounds(c.api.header_timeout_s, c.api.idle_timeout_s,
                                         c.api.max_connections))
        try:
            self.api_address = await api.start()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            log.error("cannot listen on %s:%d: %s (check [api] port)", c.api.host, c.api.port,
                      reason)
            return EXIT_FAILED
        if c.api.host not in ("127.0.0.1", "::1", "localhost"):
            log.warning("the API listens on %s: tokens travel in clear without TLS; keep it "
                        "behind a TLS proxy or a firewall", c.api.host)
        await self._start_agi()
        if self.live is not None:
            try:
                await self.live.open()
            except OSError as exc:
                log.error("cannot receive RTP on 127.0.0.1:%d: %s (check [live] rtp_port, or "
                          "set [live] enabled = false)", c.live.rtp_port,
                          os.strerror(exc.errno) if exc.errno else exc)
                await api.stop()
                if self.agi is not None:
                    await self.agi.stop()
                return EXIT_FAILED
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            async with asyncio.TaskGroup() as tg:
                if self.live is not None:
                    self.live.bind(tg)
                if self.recorder is not None:
                    self.recorder.bind(tg)
                if self.summaries is not None:
                    self.summaries.bind(tg)
                self.pci.bind(tg)
                self.spy.bind(tg)
                self.hints.bind(tg)
                pipe_task = tg.create_task(pipe.run(), name="pipeline")
                self.emit("daemon.started", {"version": __version__, "pid": os.getpid(),
                                             "resume_from": hub.last_seq,
                                             "api": f"http://{self.api_address[0]}:"
                                                    f"{self.api_address[1]}/v1/"})
                links = [tg.create_task(self._guard("ami", self.ami.run()), name="ami"),
                         tg.create_task(self._guard("ari", self.ari.run()), name="ari")]
                helpers = [tg.create_task(self._every(c.tracker.sweep_interval_s, self._sweep),
                                          name="sweep"),
                           tg.create_task(self._warn_unreachable(), name="unreachable"),
                           tg.create_task(self._every(PCI_TICK_S, lambda: self.pci.tick(
                               self._wall())), name="pci"),
                           tg.create_task(self.hints.run(), name="hints")]
                if self.recorder is not None and self.retention is not None:
                    helpers += [tg.create_task(self.recorder.watch_disk(), name="disk-guard"),
                                tg.create_task(self.retention.run_forever(), name="retention")]
                if self._notifier.watchdog_interval_s:
                    helpers.append(tg.create_task(self._every(
                        self._notifier.watchdog_interval_s,
                        lambda: self._notifier.notify("WATCHDOG=1")), name="watchdog"))
                self._notifier.notify("READY=1", f"STATUS=serving on {self.api_address[1]}")
                log.info("edgeqa %s running; stream at http://%s:%d/v1/stream", __version__,
                         *self.api_address)
                await self._stop.wait()
                await self._shutdown(api, pipe, pipe_task, links, helpers)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if self.live is not None:
                self.live.stop_intake()
            if self.agi is not None:
                await self.agi.stop()
            await api.stop()
        return self._fatal.exit_status if self._fatal else EXIT_OK

    async def _start_agi(self) -> None:
        """Listen for FastAGI; a port in use is logged, not fatal: the dialplan then sees
        AGISTATUS=FAILURE, plays its prompt and hangs up (never a spy without the daemon)."""
        a = self.cfg.agi
        if self.agi is None:
            return
        try:
            await self.agi.start(a.host, a.port)
        except OSError as exc:
            log.error("cannot listen for FastAGI on %s:%d: %s (check [agi] port); feature "
                      "codes are refused until restart", a.host, a.port,
                      os.strerror(exc.errno) if exc.errno else exc)

    async def _shutdown(self, api: ApiServer, pipe: EventPipeline, pipe_task: asyncio.Task[None],
                        links: list[asyncio.Task[None]], helpers: list[asyncio.Task[None]]) -> None:
        """Stop intake, flush, close the stream, stop the API; the store closes last (run)."""
        log.info("stopping: closing Asterisk links")
        self._notifier.notify("STOPPING=1")
        for task in helpers:
            task.cancel()
        if self.agi is not None:
            await self.agi.stop()  # sessions end with FAILURE: the dialplan plays its prompt
        await self.spy.close()
        await self.hints.close()  # while AMI is up: applied hints are put back (issue 13)
        if self.live is not None:
            # While ARI is still up: each call still up is checkpointed and its taps come down.
            await self.live.close(self._wall())
        if self.recorder is not None:
            await self.recorder.close()  # Asterisk keeps recording; the next run closes rows
        if self.summaries is not None:
            await self.summaries.close()  # what it held, the next run sums up again
        await asyncio.gather(self.ami.close(), self.ari.close(), return_exceptions=True)
        await asyncio.gather(*links, return_exceptions=True)
        self.emit("daemon.stopping", {"reason": str(self._fatal) if self._fatal else "signal"})
        pipe.close()
        await pipe_task
        assert self.hub is not None
        self.hub.close()
        with contextlib.suppress(Exception):
            await api.stop()
        log.info("stopped; last seq %d", self.hub.last_seq)
