"""Legal hold: a call whose recordings retention must never delete, set and cleared with an
audit entry (legal_hold.set / legal_hold.cleared) committed before the change is made.

"Legal hold" always in full: a bare "hold" is a call on hold elsewhere in edgeqa.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from edgeqa.audit.model import LEGAL_HOLD_CLEARED, LEGAL_HOLD_SET, Actor, AuditEntry
from edgeqa.recording.model import SAFE_CALL_ID

#: A legal hold's reason: printable text, at most this long.
REASON_MAX_CHARS = 500
_REASON = re.compile(rf"[^\x00-\x1f\x7f]{{1,{REASON_MAX_CHARS}}}")

ErrorKind = Literal["bad_request", "unknown", "not_held"]


class LegalHoldError(Exception):
    """A legal hold cannot be set or cleared; ``kind`` says why."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


class LegalHoldStore(Protocol):
    """The store as legal holds use it (edgeqa.store.Store)."""

    async def recordings(self, **filters: Any) -> list[dict[str, Any]]: ...
    async def legal_holds(self, call_id: str | None = None) -> dict[str, dict[str, Any]]: ...
    async def set_legal_hold(self, call_id: str, at: float, by: str, reason: str) -> bool: ...
    async def clear_legal_hold(self, call_id: str) -> bool: ...
    async def put_audit(self, entry: AuditEntry) -> int: ...


def _check_call_id(call_id: str) -> None:
    if not SAFE_CALL_ID.fullmatch(call_id):
        raise LegalHoldError("bad_request", f"{call_id!r} is not a call id")


async def set_legal_hold(store: LegalHoldStore, call_id: str, reason: str, actor: Actor,
                         at: float) -> tuple[Mapping[str, Any], bool]:
    """Put ``call_id`` (a call with recordings) on legal hold; return the hold and whether it
    is new (a call already on legal hold keeps its first hold, and nothing is audited)."""
    _check_call_id(call_id)
    reason = reason.strip()
    if not _REASON.fullmatch(reason):
        raise LegalHoldError("bad_request", f"a legal hold needs a reason of 1-"
                                            f"{REASON_MAX_CHARS} printable characters")
    held = await store.legal_holds(call_id)
    if call_id in held:
        return held[call_id], False
    if not await store.recordings(call_id=call_id):
        raise LegalHoldError("unknown", f"call {call_id} has no recordings in the store")
    await store.put_audit(AuditEntry(at, actor, LEGAL_HOLD_SET, call_id, {"reason": reason}))
    await store.set_legal_hold(call_id, at, str(actor), reason)
    return (await store.legal_holds(call_id))[call_id], True


async def clear_legal_hold(store: LegalHoldStore, call_id: str, actor: Actor,
                           at: float) -> Mapping[str, Any]:
    """Take ``call_id`` off legal hold; return the hold it had."""
    _check_call_id(call_id)
    held = await store.legal_holds(call_id)
    if call_id not in held:
        raise LegalHoldError("not_held", f"call {call_id} is not on legal hold")
    hold = held[call_id]
    await store.put_audit(AuditEntry(at, actor, LEGAL_HOLD_CLEARED, call_id, {
        "reason": hold["reason"], "set_by": hold["set_by"], "set_at": hold["set_at"]}))
    await store.clear_legal_hold(call_id)
    return hold
