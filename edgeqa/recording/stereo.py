"""One call's stereo WAV from its two leg files: customer left, agent right, aligned by start.

``interleave`` and ``wav_header`` are pure; ``build_stereo`` reads and writes files (blocking:
run it in a thread). The CLI (`edgeqa export`) and the API (`/v1/calls/{id}/recording`) both
call ``build_stereo``.
"""

from __future__ import annotations

import os
import struct
import tempfile
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.analyze.wavfile import WavError, read_wav
from edgeqa.metrics.codecs import decode
from edgeqa.recording.files import sha256_of
from edgeqa.recording.model import COMPLETE, LEGS, RECORDING

#: Bytes per stereo PCM16 frame.
STEREO_FRAME_BYTES = 4
#: Largest start offset between the legs that is padded (beyond it the rows are suspect).
MAX_OFFSET_S = 60.0


class ExportError(ValueError):
    """A call's stereo file cannot be built; the message says why in one line.

    ``kind``: ``unknown`` (no such call), ``in_progress`` (a leg is still recording),
    ``unusable`` (a leg missing, corrupt, changed on disk or unreadable), ``output``
    (the output cannot be written).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class StereoFacts:
    """What was written: frames per channel, rate, and each leg's start offset in frames."""

    frames: int
    sample_rate: int
    customer_offset_frames: int
    agent_offset_frames: int


def wav_header(frames: int, sample_rate: int) -> bytes:
    """The 44-byte RIFF header of a stereo PCM16 WAV holding ``frames`` frames."""
    data_bytes = frames * STEREO_FRAME_BYTES
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, sample_rate,
                                    sample_rate * STEREO_FRAME_BYTES, STEREO_FRAME_BYTES, 16)
            + b"data" + struct.pack("<I", data_bytes))


def interleave(left: bytes, right: bytes, left_offset: int, right_offset: int) -> bytes:
    """Interleave two int16 LE mono streams, each after ``*_offset`` frames of silence; the
    shorter channel is padded with silence to the longer's end."""
    if left_offset < 0 or right_offset < 0:
        raise ValueError("offsets must be >= 0")
    left_n, right_n = len(left) // 2, len(right) // 2
    frames = max(left_offset + left_n, right_offset + right_n)
    out = array("h", bytes(frames * STEREO_FRAME_BYTES))
    # Slices keep the bytes little-endian as they are on any host (as wavfile.channel does).
    out[2 * left_offset:2 * (left_offset + left_n):2] = array("h", left[:left_n * 2])
    out[2 * right_offset + 1:2 * (right_offset + right_n):2] = array("h", right[:right_n * 2])
    return out.tobytes()


def offsets(starts: Sequence[float], sample_rate: int) -> tuple[int, ...]:
    """Each start's offset in frames from the earliest one."""
    first = min(starts)
    return tuple(round((s - first) * sample_rate) for s in starts)


def check_rows(call_id: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The complete customer and agent rows of ``call_id``, or ExportError saying why not."""
    by_leg = {r["leg"]: r for r in rows if r["call_id"] == call_id}
    if not by_leg:
        raise ExportError("unknown", f"no recording of call {call_id} in the store")
    for leg in LEGS:
        row = by_leg.get(leg)
        if row is None:
            raise ExportError("unusable", f"call {call_id}: no {leg} recording in the store")
        if row["state"] == RECORDING:
            raise ExportError("in_progress", f"call {call_id}: the {leg} leg is still recording")
        if row["state"] != COMPLETE:
            why = f" ({row['reason']})" if row.get("reason") else ""
            raise ExportError("unusable",
                              f"call {call_id}: the {leg} recording is {row['state']}{why}")
    return {leg: by_leg[leg] for leg in LEGS}


def leg_pcm(call_id: str, row: Mapping[str, Any]) -> tuple[bytes, int]:
    """One complete leg row's file as int16 LE PCM and its rate; its sha256 checked first."""
    path = Path(row["path"])
    try:
        digest = sha256_of(path)
        if digest != row["sha256"]:
            raise ExportError("unusable", f"call {call_id}: {path}: sha256 {digest} != stored "
                              f"{row['sha256']} (the file changed since it was recorded)")
        audio = read_wav(path)
    except OSError as exc:
        raise ExportError("unusable", f"call {call_id}: {path}: {exc.strerror or exc}") from None
    except WavError as exc:
        raise ExportError("unusable", f"call {call_id}: {path}: {exc}") from None
    if audio.channels != 1:
        raise ExportError("unusable", f"call {call_id}: {path}: {audio.channels} channels, "
                                      "a leg file must be mono")
    return decode(audio.codec, audio.data), audio.sample_rate


def build_stereo(call_id: str, rows: Sequence[Mapping[str, Any]], out: Path) -> StereoFacts:
    """Write ``call_id``'s stereo WAV (customer left, agent right) to ``out`` atomically, from
    its store ``rows``; every leg's sha256 is checked first. Blocking: run it in a thread."""
    legs = check_rows(call_id, rows)
    pcm: dict[str, bytes] = {}
    rates: dict[str, int] = {}
    for leg, row in legs.items():
        pcm[leg], rates[leg] = leg_pcm(call_id, row)
    if rates["customer"] != rates["agent"]:
        raise ExportError("unusable", f"call {call_id}: the legs' rates differ "
                          f"({rates['customer']} Hz and {rates['agent']} Hz)")
    rate = rates["customer"]
    starts = [float(legs[leg]["started_at"]) for leg in LEGS]
    if abs(starts[0] - starts[1]) > MAX_OFFSET_S:
        raise ExportError("unusable", f"call {call_id}: the legs started "
                          f"{abs(starts[0] - starts[1]):.1f} s apart (> {MAX_OFFSET_S:.0f} s)")
    left_off, right_off = offsets(starts, rate)
    body = interleave(pcm["customer"], pcm["agent"], left_off, right_off)
    frames = len(body) // STEREO_FRAME_BYTES
    write_atomic(out, wav_header(frames, rate) + body)
    return StereoFacts(frames, rate, left_off, right_off)


def write_atomic(out: Path, data: bytes) -> None:
    """Write ``data`` to ``out`` through a temporary file in its directory, then rename."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent or Path("."))
    except OSError as exc:
        raise ExportError("output", f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ExportError("output", f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
