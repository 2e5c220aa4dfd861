"""A recorded call: two leg files and their store rows, as the recorder leaves them."""

from __future__ import annotations

import hashlib
from array import array
from pathlib import Path
from typing import Any

from edgeqa.recording.events import Recording, event_for
from edgeqa.recording.model import LegName, State
from edgeqa.store import Store
from tests.unit.recording.wavs import mono_wav

T0 = 1733012345.0
#: The customer's and agent's samples: distinct ramps, so a swapped or shifted channel shows.
CUSTOMER = array("h", [(i * 37) % 2000 - 1000 for i in range(800)]).tobytes()
AGENT = array("h", [(i * 91) % 3000 - 1500 for i in range(600)]).tobytes()
#: The agent's file starts 10 ms after the customer's: 80 frames at 8 kHz.
AGENT_DELAY_S = 0.01


def leg_rows(tmp_path: Path, call_id: str = "1733012345.7", *,
             states: tuple[State, State] = ("complete", "complete")) -> list[Recording]:
    """Write the customer and agent files of ``call_id``; return their rows."""
    rows = []
    for (leg, pcm, delay), state in zip((("customer", CUSTOMER, 0.0),
                                         ("agent", AGENT, AGENT_DELAY_S)), states, strict=True):
        path = tmp_path / f"{call_id}-{leg}.wav"
        data = mono_wav(pcm)
        path.write_bytes(data)
        lg: LegName = "customer" if leg == "customer" else "agent"
        done = state == "complete"
        rows.append(Recording(call_id, lg, str(path), T0 + delay, "sales", "Alice",
                              T0 + 5 if done else None, "pcm_s16le/8000" if done else None,
                              len(data) if done else None,
                              hashlib.sha256(data).hexdigest() if done else None, state))
    return rows


async def store_rows(store: Store, rows: list[Recording]) -> None:
    """Commit ``rows`` as the recorder would (one recording.* event each)."""
    await store.append([event_for(r, T0 + 5) for r in rows])


def as_dicts(rows: list[Recording]) -> list[dict[str, Any]]:
    """The rows as db.recordings returns them."""
    return [r.to_dict() for r in rows]
