"""The audit trail's hash chain (pure): the canonical encoding of a row, its hash, and the
verification of a run of rows against their links and against chain heads kept elsewhere.

Row ``id`` carries ``hash = sha256(canonical(row, prev_hash))`` where ``prev_hash`` is the hash
of row ``id - 1`` (GENESIS_HASH for row 1). The canonical encoding (CANONICAL_NAME, version 1)
is the JSON object below with sorted keys, no whitespace, ASCII only::

    {"action": str, "actor_kind": str, "actor_name": str, "at": "<at with 6 decimals>",
     "call_id": str|null, "detail": "<the stored detail JSON text>", "id": int,
     "prev_hash": "<64 hex>", "source": str|null, "v": 1}

``at`` is written as fixed-point text (``f"{at:.6f}"``: microseconds, no float formatting
left to the reader's language) and ``detail`` as the exact text stored in the row.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: The canonical encoding's name and version (a new encoding gets a new version).
CANONICAL_NAME = "edgeqa.audit_row/1"
CANONICAL_VERSION = 1
#: The prev_hash of the first row.
GENESIS_HASH = "0" * 64
#: The row fields the hash covers (besides prev_hash), as the audit table names them.
CHAIN_FIELDS = ("id", "at", "actor_kind", "actor_name", "action", "call_id", "source", "detail")
#: How far (in ids) verification looks for the place a moved row was chained at.
MOVED_WINDOW_ROWS = 16

ProblemKind = Literal["unchained", "edited", "deleted", "inserted", "reordered", "truncated"]


def format_at(at: float) -> str:
    """``at`` as the canonical encoding writes it: fixed-point, 6 decimals."""
    return f"{float(at):.6f}"


def canonical(row: Mapping[str, Any], prev_hash: str) -> bytes:
    """The canonical encoding (CANONICAL_NAME) of ``row`` linked to ``prev_hash``.

    Raise ValueError/TypeError when a field is not of its type (a row edited by hand)."""
    for name in ("actor_kind", "actor_name", "action", "detail"):
        if not isinstance(row[name], str):
            raise TypeError(f"{name} is not text")
    for name in ("call_id", "source"):
        if row[name] is not None and not isinstance(row[name], str):
            raise TypeError(f"{name} is not text")
    if not isinstance(row["at"], int | float) or isinstance(row["at"], bool):
        raise TypeError("at is not a number")
    doc = {"v": CANONICAL_VERSION, "id": int(row["id"]), "at": format_at(row["at"]),
           "actor_kind": row["actor_kind"], "actor_name": row["actor_name"],
           "action": row["action"], "call_id": row["call_id"], "source": row["source"],
           "detail": row["detail"], "prev_hash": prev_hash}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def row_hash(row: Mapping[str, Any], prev_hash: str) -> str:
    """The hex sha256 of ``row`` linked to ``prev_hash``."""
    return hashlib.sha256(canonical(row, prev_hash)).hexdigest()


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing wrong with the chain: at row ``row_id``, of ``kind``, in words."""

    row_id: int
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"row {self.row_id}: {self.kind}: {self.message}"


@dataclass(slots=True)
class Verifier:
    """Checks rows fed in id order (each a mapping of CHAIN_FIELDS + prev_hash + hash).

    ``anchors`` maps ids to the hashes a chain head kept elsewhere says they have (the
    ``audit.entry`` events on the event log, a head an auditor noted); ``covered_from``: every
    row from that id on must have an anchor (each one written since was anchored);
    ``sequence`` is the highest id ever assigned (SQLite's sqlite_sequence), if known.
    """

    anchors: Mapping[int, str] = field(default_factory=dict)
    covered_from: int | None = None
    sequence: int | None = None
    count: int = 0
    last_id: int = 0
    last_hash: str = GENESIS_HASH
    problem: Problem | None = None
    _recent: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def feed(self, rows: Iterable[Mapping[str, Any]]) -> bool:
        """Check ``rows`` (the next ones in id order); False once a problem was found."""
        for row in rows:
            if self.problem is not None:
                return False
            self.problem = self._check(row)
            if self.problem is None:
                self.count += 1
                self.last_id = int(row["id"])
                self.last_hash = str(row["hash"])
                self._recent[self.last_hash] = self.last_id
                while len(self._recent) > MOVED_WINDOW_ROWS:
                    self._recent.popitem(last=False)
        return self.problem is None

    def finish(self) -> Problem | None:
        """The first problem, after the checks that need the end of the table."""
        if self.problem is not None:
            return self.problem
        beyond = sorted(i for i in self.anchors if i > self.last_id)
        if beyond:
            self.problem = Problem(beyond[0], "truncated", (
                f"the chain ends at row {self.last_id} but a chain head kept elsewhere "
                f"names row {beyond[0]}: rows from {self.last_id + 1} on were deleted"))
        elif self.sequence is not None and self.sequence > self.last_id:
            self.problem = Problem(self.last_id + 1, "truncated", (
                f"the chain ends at row {self.last_id} but ids were assigned up to "
                f"{self.sequence}: rows {self.last_id + 1}..{self.sequence} were deleted"))
        return self.problem

    def _check(self, row: Mapping[str, Any]) -> Problem | None:
        row_id, prev_id = int(row["id"]), self.last_id
        stored, prev = row["hash"], row["prev_hash"]
        if row_id <= prev_id:
            return Problem(row_id, "reordered", f"it comes after row {prev_id}")
        if not isinstance(stored, str) or not isinstance(prev, str):
            return Problem(row_id, "unchained", "it has no hash: inserted without edgeqa, or "
                                                "its hash was erased")
        try:
            own = row_hash(row, prev)
        except (TypeError, ValueError, OverflowError) as exc:
            return Problem(row_id, "edited", f"a field was changed to a wrong type ({exc})")
        if own != stored:
            return self._moved_or_edited(row, row_id, prev_id, stored, prev)
        if prev != self.last_hash:
            linked = self._recent.get(prev)
            if linked is not None and linked < prev_id:
                return Problem(linked + 1, "inserted", (
                    f"rows {linked + 1}..{prev_id} are not in the chain: row {row_id} links "
                    f"to row {linked}"))
            if row_id > prev_id + 1:
                return Problem(prev_id + 1, "deleted",
                               f"rows {prev_id + 1}..{row_id - 1} are missing")
            if prev_id == 0:
                return Problem(row_id, "deleted", "the first row does not start the chain: "
                                                  "rows before it were deleted")
            return Problem(prev_id, "edited", (
                f"row {row_id} links to another hash than row {prev_id}'s: row {prev_id} was "
                "edited and its hash recomputed, or replaced"))
        if row_id != prev_id + 1:
            return Problem(prev_id + 1, "deleted", f"rows {prev_id + 1}..{row_id - 1} are "
                                                   "missing (deleted from the end, then written "
                                                   "after)")
        anchored = self.anchors.get(row_id)
        if anchored is not None and anchored != stored:
            return Problem(row_id, "edited", "its hash differs from the one a chain head kept "
                                             "elsewhere (the event log) has: the chain was "
                                             "rewritten from here")
        if (anchored is None and self.covered_from is not None
                and row_id > self.covered_from):
            return Problem(row_id, "inserted", "it has no audit.entry event on the event log "
                                               "although the rows before it have theirs")
        return None

    def _moved_or_edited(self, row: Mapping[str, Any], row_id: int, prev_id: int,
                         stored: str, prev: str) -> Problem:
        for other in range(max(1, row_id - MOVED_WINDOW_ROWS), row_id + MOVED_WINDOW_ROWS + 1):
            if other == row_id or row_hash({**row, "id": other}, prev) != stored:
                continue
            linked = self._recent.get(prev)
            if linked is not None and linked < prev_id:
                return Problem(linked + 1, "inserted", (
                    f"rows {linked + 1}..{prev_id} are not in the chain: row {row_id} (chained "
                    f"as row {other}) links to row {linked}"))
            return Problem(row_id, "reordered", f"it holds the entry chained as row {other}")
        return Problem(row_id, "edited", "its fields do not match its hash")


def verify_rows(rows: Iterable[Mapping[str, Any]], **kwargs: Any) -> Verifier:
    """Check every row of ``rows`` (in id order); the Verifier holds the count and problem."""
    verifier = Verifier(**kwargs)
    verifier.feed(rows)
    verifier.finish()
    return verifier
