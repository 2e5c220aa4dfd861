"""Pure audit model: an entry says who (Actor) did what (a dotted action) to which call, when.

An audited action is acknowledged only after its entry is committed (``Store.put_audit``): an
action that cannot be audited is not carried out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

#: Where an action came from: the HTTP API, the CLI (through the API), a DTMF feature code on
#: a phone, or the daemon itself (a job such as retention, a guard such as the disk guard).
ActorKind = Literal["api", "cli", "dtmf", "system"]
ACTOR_KINDS: tuple[ActorKind, ...] = get_args(ActorKind)
#: An actor's name is a user name, a channel or endpoint, or a job's name: printable, bounded.
ACTOR_NAME_MAX_CHARS = 128
_ACTOR_NAME = re.compile(rf"[!-~][ -~]{{0,{ACTOR_NAME_MAX_CHARS - 1}}}")
#: Where a request came from (``AuditEntry.source``): a peer address (``127.0.0.1:51234``),
#: a channel (``PJSIP/super1-00000004``), ``cli``: printable ASCII, bounded.
SOURCE_MAX_CHARS = 256
_SOURCE = re.compile(rf"[!-~][ -~]{{0,{SOURCE_MAX_CHARS - 1}}}")
#: Actions are dotted lower-case words: ``pci.pause``, ``recording.deleted``.
_ACTION = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")
#: The actions edgeqa writes (a reader may meet others written by a newer edgeqa).
PCI_PAUSE = "pci.pause"
PCI_RESUME = "pci.resume"
RECORDING_DELETED = "recording.deleted"
RECORDING_REFUSED = "recording.refused"
LEGAL_HOLD_SET = "legal_hold.set"
LEGAL_HOLD_CLEARED = "legal_hold.cleared"
RECORDING_DOWNLOADED = "recording.downloaded"
TOKEN_ADDED = "token.added"
TOKEN_REVOKED = "token.revoked"
SESSION_LOGIN = "session.login"
SESSION_FAILED = "session.failed"
SPY_STARTED = "spy.started"
SPY_MODE_CHANGED = "spy.mode_changed"
SPY_ENDED = "spy.ended"
SPY_DENIED = "spy.denied"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: ``kind`` and a ``name`` (``cli:alice``, ``dtmf:PJSIP/agent1``)."""

    kind: ActorKind
    name: str

    def __post_init__(self) -> None:
        if self.kind not in ACTOR_KINDS:
            raise ValueError(f"actor kind {self.kind!r} is not one of {', '.join(ACTOR_KINDS)}")
        if not _ACTOR_NAME.fullmatch(self.name):
            raise ValueError(f"actor name {self.name!r} must be 1-{ACTOR_NAME_MAX_CHARS} "
                             "printable ASCII characters, not starting with a space")

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    def to_dict(self) -> dict[str, str]:
        """The JSON form in stream payloads: {"kind", "name"}."""
        return {"kind": self.kind, "name": self.name}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited action at wall time ``at``; ``detail`` is JSON-serialisable context.

    Who asked is ``actor`` (the token, ``api:<name>#<id>``, or the endpoint, ``dtmf:PJSIP/s1``);
    from where is ``source`` (a peer address or a channel); ``detail`` carries the rest (the
    target agent, the mode and each mode change, the reason, the result, start and end).
    """

    at: float
    actor: Actor
    action: str
    call_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        if not _ACTION.fullmatch(self.action):
            raise ValueError(f"audit action {self.action!r} is not dotted lower-case words")
        if self.source is not None and not _SOURCE.fullmatch(self.source):
            raise ValueError(f"audit source {self.source!r} must be 1-{SOURCE_MAX_CHARS} "
                             "printable ASCII characters, not starting with a space")
