"""Recording service: starts MixMonitor r()/t() on each selected connected queue call, and
closes its rows (size, sha256, WAV check) once the call ended and Asterisk closed the files.

The recording runs inside Asterisk: a daemon that dies mid-call loses nothing of the audio, and
the next run closes the rows it left in state ``recording`` (restore).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from edgeqa.audit.model import RECORDING_REFUSED, Actor, AuditEntry
from edgeqa.calls.changes import CallChange, CallConnected, CallEnded
from edgeqa.calls.model import Call
from edgeqa.recording.config import RecordingConfig
from edgeqa.recording.events import Recording, event_for
from edgeqa.recording.files import FileFacts, examine
from edgeqa.recording.guard import DiskGuard
from edgeqa.recording.model import MISSING, RECORDING, leg_files, mixmonitor_options, selected
from edgeqa.store import Event, EventLike

log = logging.getLogger(__name__)

#: Calls whose recording is running or closing, at most (a bound like the tracker's).
MAX_ACTIVE_CALLS = 10_000
#: Who refuses a recording for lack of disk space, in the audit trail.
DISK_GUARD_ACTOR = Actor("system", "disk_guard")


class ActionSender(Protocol):
    """The AMI client as this service uses it."""

    async def send_action(self, action: str, headers: Mapping[str, str] = ..., *,
                          timeout_s: float = ...) -> Any: ...


@dataclass(slots=True)
class _Active:
    """One recorded call: its rows, and the task that started it (if this run did)."""

    rows: list[Recording] = field(default_factory=list)
    start: asyncio.Task[None] | None = None
    #: The channel MixMonitor runs on (the customer's), if this run started it.
    channel: str | None = None


@dataclass(slots=True)
class RecordingStats:
    """Counters (read by health)."""

    started: int = 0
    completed: int = 0
    failed: int = 0
    skipped: int = 0
    refused: int = 0


class Recorder:
    """Records selected queue calls per leg; runs its work as tasks of the daemon's TaskGroup."""

    def __init__(self, cfg: RecordingConfig, ami: ActionSender,
                 submit: Callable[[Iterable[EventLike]], None],
                 calls: Callable[[], Mapping[str, Call]], *,
                 wall: Callable[[], float], action_timeout_s: float = 10.0,
                 audit: Callable[[AuditEntry], Awaitable[int]] | None = None,
                 disk_usage: Callable[[Path], tuple[int, int]] | None = None,
                 on_closed: Callable[[str, Sequence[Recording]], None] | None = None) -> None:
        self.cfg = cfg
        self._ami = ami
        self._submit = submit
        self._calls = calls
        self._wall = wall
        self._action_timeout_s = action_timeout_s
        self._active: dict[str, _Active] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ended_before_bind: list[str] = []
        self.stats = RecordingStats()
        self._audit = audit
        self._disk_usage = disk_usage
        self.guard = DiskGuard.of(cfg)
        #: Told each call's rows once they are all closed (the summaries from recordings).
        self._on_closed = on_closed

    def records(self, call_id: str) -> bool:
        """Whether ``call_id``'s recording is running or closing."""
        return call_id in self._active

    def restore(self, rows: Sequence[Mapping[str, Any]], open_call_ids: Iterable[str]) -> None:
        """Take over the rows a previous run left in state recording (store.recordings()).

        A row whose call is still open in the store waits for that call's end; the others are
        closed as soon as the service is bound (their call ended while no daemon ran).
        """
        still_open = set(open_call_ids)
        for row in rows:
            rec = Recording.from_row(row)
            self._active.setdefault(rec.call_id, _Active()).rows.append(rec)
        self._ended_before_bind = [c for c in self._active if c not in still_open]
        if self._active:
            log.info("recording: %d calls left recording by a previous run (%d ended since)",
                     len(self._active), len(self._ended_before_bind))

    def bind(self, tg: asyncio.TaskGroup) -> None:
        """Run the service's work in ``tg``; close the rows of calls that ended meanwhile."""
        self._tg = tg
        for call_id in self._ended_before_bind:
            self._spawn(self._finish(call_id, None), f"recording-close-{call_id}")
        self._ended_before_bind = []

    def health(self) -> Mapping[str, Any]:
        """Counters for /v1/health."""
        return {"active_calls": len(self._active), "started": self.stats.started,
                "completed": self.stats.completed, "failed": self.stats.failed,
                "skipped": self.stats.skipped, "refused": self.stats.refused,
                "disk": self.guard.health()}

    def labels(self, call_id: str) -> tuple[str | None, str | None] | None:
        """The (queue, agent) the rows of ``call_id`` are filed under, if it is recorded: a
        third file of the call (the supervisor's) is filed under the same."""
        active = self._active.get(call_id)
        if active is None or not active.rows:
            return None
        return active.rows[0].queue, active.rows[0].agent

    def recording_channel(self, call_id: str) -> str | None:
        """The channel whose MixMonitor records ``call_id`` now (to mute it), or None."""
        active = self._active.get(call_id)
        starting = active is not None and not active.rows  # MixMonitor is being sent
        if active is None or not (starting or any(r.state == RECORDING for r in active.rows)):
            return None
        if active.channel is not None:
            return active.channel  # (while starting, a mute fails rather than record)
        call = self._calls().get(call_id)  # taken over from a previous run: ask the tracker
        customer = next((c for c in call.live_channels() if c.role == "customer"), None) \
            if call is not None else None
        return customer.channel if customer is not None else None

    def on_changes(self, changes: Sequence[CallChange], now: float) -> None:
        """Start recording connected selected calls; close the rows of ended ones."""
        for change in changes:
            if isinstance(change, CallConnected):
                self._connected(change)
            elif isinstance(change, CallEnded) and change.call_id in self._active:
                self._spawn(self._finish(change.call_id, change.at),
                            f"recording-close-{change.call_id}")

    def _connected(self, change: CallConnected) -> None:
        if change.call_id in self._active or self._tg is None:
            return  # already recorded (a transfer, a resync): the customer channel still is
        call = self._calls().get(change.call_id)
        agent_channel = call.channels.get(change.agent) if call is not None else None
        agents = (call.agent_name or "", call.agent_interface or "",
                  agent_channel.endpoint if agent_channel else "") if call else ()
        if call is None or not selected(self.cfg, call.queue, agents):
            self.stats.skipped += 1
            return  # not monitored: costs nothing more
        customer = call.channels.get(change.customer)
        if customer is None or len(self._active) >= MAX_ACTIVE_CALLS:
            self.stats.skipped += 1
            return
        agent = next((a for a in agents if a), None)
        active = self._active[change.call_id] = _Active(channel=customer.channel)
        active.start = self._spawn(
            self._start(active, change, customer.channel, call.queue, agent),
            f"recording-start-{change.call_id}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        assert self._tg is not None
        task: asyncio.Task[None] = self._tg.create_task(_guarded(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _start(self, active: _Active, change: CallConnected, channel: str,
                     queue: str | None, agent: str | None) -> None:
        started = self._wall()
        try:
            files = leg_files(self.cfg, change.call_id, change.answered_at)
        except ValueError as exc:
            log.warning("recording: not recording %s: %s", change.call_id, exc)
            self._active.pop(change.call_id, None)
            self.stats.skipped += 1
            return
        rows = [Recording(change.call_id, f.leg, str(f.daemon_path), started, queue, agent)
                for f in files]
        if not await self.check_disk():
            await self._refuse(active, rows, started)
            return
        try:
            await self._ami.send_action(
                "MixMonitor", {"Channel": channel, "Options": mixmonitor_options(files)},
                timeout_s=self._action_timeout_s)
        except Exception as exc:  # refused (permission, channel gone) or the link is down
            log.warning("recording: MixMonitor on %s refused: %s", channel, exc)
            active.rows = [replace(r, state=MISSING, ended_at=started,
                                   reason=f"MixMonitor failed: {exc}") for r in rows]
            self.stats.failed += len(rows)
            self._submit([event_for(r, started) for r in active.rows])
            return
        active.rows = rows
        self.stats.started += len(rows)
        self._submit([event_for(r, started) for r in rows])

    async def check_disk(self) -> bool:
        """Read the free space (in a thread), publish recording.disk_low on a change of the
        guard's state; True if a recording may start. A failed reading changes nothing;
        without ``disk_usage`` (files.free_space in the daemon) there is no guard."""
        if self._disk_usage is None:
            return True
        try:
            free, total = await asyncio.to_thread(self._disk_usage, self.cfg.daemon_dir)
        except OSError as exc:
            log.warning("recording: cannot read the free space of %s: %s", self.cfg.daemon_dir,
                        exc)
            return self.guard.state == "ok"
        change = self.guard.update(free, total, self._wall())
        if change is not None:
            log.log(logging.ERROR if change.state == "low" else logging.INFO,
                    "recording: disk %s: %d MiB free in %s (threshold %d MiB)%s", change.state,
                    free >> 20, self.cfg.daemon_dir, change.threshold_bytes >> 20,
                    "; no new recording starts" if change.state == "low" else "")
            self._submit([Event("recording.disk_low", change.at,
                                change.to_dict(str(self.cfg.daemon_dir)))])
        return self.guard.state == "ok"

    async def watch_disk(self) -> None:
        """The daemon's task: check the disk every disk_check_interval_s, so that the alert
        and its recovery come without a call."""
        while True:
            await self.check_disk()
            await asyncio.sleep(self.cfg.disk_check_interval_s)

    async def _refuse(self, active: _Active, rows: list[Recording], at: float) -> None:
        """The disk guard is low: audit the refusal, and close the rows missing with why."""
        free, threshold = self.guard.free_bytes or 0, self.guard.threshold_bytes(
            self.guard.total_bytes or 0)
        reason = (f"disk guard: {free >> 20} MiB free in {self.cfg.daemon_dir}, below the "
                  f"{threshold >> 20} MiB threshold")
        log.warning("recording: not recording %s: %s", rows[0].call_id, reason)
        self.stats.refused += 1
        if self._audit is not None:
            try:
                await self._audit(AuditEntry(at, DISK_GUARD_ACTOR, RECORDING_REFUSED,
                                             rows[0].call_id,
                                             {"free_bytes": free, "threshold_bytes": threshold,
                                              "path": str(self.cfg.daemon_dir)}))
            except Exception:  # the refusal stands; the rows below still say why
                log.exception("recording: cannot audit the refusal of %s", rows[0].call_id)
        active.rows = [replace(r, state=MISSING, ended_at=at, reason=reason) for r in rows]
        self._submit([event_for(r, at) for r in active.rows])

    async def _finish(self, call_id: str, ended_at: float | None) -> None:
        """Once the call's files are closed: measure, hash and check them; publish each row."""
        active = self._active.get(call_id)
        if active is None:
            return
        try:
            if active.start is not None:
                await active.start
            pending = [r for r in active.rows if r.state == RECORDING]
            closed = [r for r in active.rows if r.state != RECORDING]
            end = ended_at if ended_at is not None else self._wall()
            for rec in pending:
                facts = await asyncio.to_thread(examine, Path(rec.path),
                                                self.cfg.close_timeout_s)
                done = closed_row(rec, facts, end)
                if done.state == "complete":
                    self.stats.completed += 1
                else:
                    self.stats.failed += 1
                    log.warning("recording: %s %s is %s: %s", call_id, rec.leg, done.state,
                                done.reason)
                self._submit([event_for(done, self._wall())])
                closed.append(done)
            if self._on_closed is not None:
                self._on_closed(call_id, closed)
        finally:
            self._active.pop(call_id, None)

    async def close(self) -> None:
        """Stop: cancel the work in flight (rows left recording are closed by the next run)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _guarded(work: Coroutine[Any, Any, None], name: str) -> None:
    """Run ``work``; a failure is logged, never raised into the daemon's TaskGroup."""
    try:
        await work
    except Exception:  # recording must never stop the daemon; the next run closes the rows
        log.exception("recording: %s failed", name)


def closed_row(rec: Recording, facts: FileFacts | None, ended_at: float) -> Recording:
    """``rec`` once its file was looked at: complete, missing or corrupt (with the reason)."""
    if facts is None:
        return replace(rec, state=MISSING, ended_at=ended_at, reason="no file")
    return replace(rec, state=facts.check.state, ended_at=ended_at, codec=facts.check.codec,
                   size=facts.size, sha256=facts.sha256, reason=facts.check.reason)
