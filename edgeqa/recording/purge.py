"""The retention job: deletes the files the policy says are due, audits each deletion, then
marks its row deleted (recording.deleted). The daemon runs it every [recording]
retention_interval_s; `edgeqa recordings purge` runs it once on a stopped daemon's store.

Per file: delete it (a file already gone is fine), commit the audit entry, then publish the
row. A crash in between leaves the row closed with no file: the next run finds it due again,
audits it and marks it with "file already gone". A row is never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from edgeqa.audit.model import RECORDING_DELETED, Actor, AuditEntry
from edgeqa.recording.config import RecordingConfig
from edgeqa.recording.events import Recording, deleted_event
from edgeqa.recording.model import DELETED
from edgeqa.recording.retention import DAY_S, MAX_FILES_PER_RUN, Due, Policy, due
from edgeqa.store import EventLike

log = logging.getLogger(__name__)

#: A cached stereo file's name after its call id (playback.StereoCache: 16 hex of a hash).
_CACHED = re.compile(r"-[0-9a-f]{16}\.wav")
#: Candidate rows read from the store per query.
PAGE_ROWS = 1000
#: Who the daemon's periodic job is, in the audit trail.
RETENTION_ACTOR = Actor("system", "retention")


class RetentionStore(Protocol):
    """The store as the job uses it (edgeqa.store.Store)."""

    async def retention_candidates(self, *, until: float, after: tuple[float, str, str] | None,
                                   limit: int) -> list[dict[str, Any]]: ...
    async def legal_holds(self, call_id: str | None = None) -> dict[str, dict[str, Any]]: ...
    async def put_audit(self, entry: AuditEntry) -> int: ...


Publish = Callable[[Sequence[EventLike]], Awaitable[object]]


@dataclass(slots=True)
class PurgeReport:
    """What one run did (or, dry, would do)."""

    due: list[Due] = field(default_factory=list)
    deleted: int = 0
    already_gone: int = 0
    failed: int = 0
    held: int = 0
    #: The run stopped at its limit: more files may be due.
    more: bool = False


class RetentionJob:
    """Deletes due recordings, within MAX_FILES_PER_RUN files per run."""

    def __init__(self, cfg: RecordingConfig, store: RetentionStore, publish: Publish, *,
                 wall: Callable[[], float], actor: Actor = RETENTION_ACTOR,
                 stereo_cache: Path | None = None, limit: int = MAX_FILES_PER_RUN) -> None:
        self.cfg = cfg
        self.policy = Policy.of(cfg)
        self._store = store
        self._publish = publish
        self._wall = wall
        self._actor = actor
        self._stereo_cache = stereo_cache
        self._limit = limit
        #: Files deleted, already gone and failed since start (for /v1/health).
        self.totals = PurgeReport()
        self.runs = 0

    async def due(self, now: float) -> tuple[list[Due], bool]:
        """The rows due at ``now`` (at most the limit), and whether more may be due."""
        shortest = self.policy.shortest_days
        if shortest is None:
            return [], False
        held = set(await self._store.legal_holds())
        out: list[Due] = []
        after: tuple[float, str, str] | None = None
        while len(out) < self._limit:
            page = await self._store.retention_candidates(
                until=now - shortest * DAY_S, after=after, limit=PAGE_ROWS)
            out += due(page, self.policy, held, now, self._limit - len(out))
            if len(page) < PAGE_ROWS:
                return out, False
            last = page[-1]
            after = (last["started_at"], last["call_id"], last["leg"])
        return out, True

    async def run_once(self, now: float, *, dry_run: bool = False) -> PurgeReport:
        """Delete (unless ``dry_run``) the files due at wall time ``now``."""
        found, more = await self.due(now)
        report = PurgeReport(due=found, more=more)
        if dry_run:
            return report
        calls: set[str] = set()
        for item in found:
            call_id = str(item.row["call_id"])
            if await self._store.legal_holds(call_id):  # put on hold since the query
                report.held += 1
                continue
            if await self._delete(item, report):
                calls.add(call_id)
        if calls and self._stereo_cache is not None:
            await asyncio.to_thread(_drop_cached, self._stereo_cache, calls)
        self.runs += 1
        if found:
            log.info("retention: %d files deleted, %d already gone, %d failed, %d on legal "
                     "hold%s", report.deleted, report.already_gone, report.failed, report.held,
                     " (more next run)" if more else "")
        return report

    async def _delete(self, item: Due, report: PurgeReport) -> bool:
        rec = Recording.from_row(item.row)
        try:
            gone = await asyncio.to_thread(_unlink, Path(rec.path))
        except OSError as exc:  # kept, and due again next run
            log.error("retention: cannot delete %s: %s", rec.path, exc.strerror or exc)
            report.failed += 1
            self.totals.failed += 1
            return False
        reason = item.reason + ("; file already gone" if gone else "")
        at = self._wall()
        await self._store.put_audit(AuditEntry(at, self._actor, RECORDING_DELETED, rec.call_id, {
            "leg": rec.leg, "path": rec.path, "reason": reason, "state": rec.state,
            "size": rec.size, "sha256": rec.sha256}))
        for counts in (report, self.totals):  # counted before the row is on the stream
            if gone:
                counts.already_gone += 1
            else:
                counts.deleted += 1
        await self._publish([deleted_event(replace(rec, state=DELETED, reason=reason), at)])
        return True

    async def run_forever(self) -> None:
        """The daemon's task: a run now, then one every retention_interval_s."""
        if not self.policy.active:
            return
        while True:
            try:
                await self.run_once(self._wall())
            except Exception:  # the store or a file system: the next run retries
                log.exception("retention: run failed")
            await asyncio.sleep(self.cfg.retention_interval_s)

    def health(self) -> Mapping[str, Any]:
        """Counts since start, for /v1/health."""
        t = self.totals
        return {"active": self.policy.active, "runs": self.runs, "deleted": t.deleted,
                "already_gone": t.already_gone, "failed": t.failed}


def _unlink(path: Path) -> bool:
    """Delete ``path``; True if it was already gone. Blocking."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return True
    return False


def _drop_cached(directory: Path, calls: set[str]) -> None:
    """Delete the stereo files cached for ``calls`` (built from the deleted legs). Blocking."""
    for call_id in calls:
        for path in directory.glob(f"{call_id}-*.wav"):
            if _CACHED.fullmatch(path.name[len(call_id):]):  # not call "<call_id>-x"'s
                path.unlink(missing_ok=True)
