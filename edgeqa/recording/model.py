"""Pure recording model: which calls are recorded, their files, MixMonitor options, WAV checks."""

from __future__ import annotations

import re
import struct
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from edgeqa.analyze.wavfile import riff_chunks
from edgeqa.recording.config import RecordingConfig

LegName = Literal["customer", "agent"]
#: The two files of a call: what the customer says, what the agent says.
LEGS: tuple[LegName, ...] = ("customer", "agent")
#: A supervisor's voice while spying on the call (edgeqa.spy): ``supervisor``, then
#: ``supervisor.2``... for later spies on the same call. Never one of LEGS (not a stereo leg).
SUPERVISOR_LEG = re.compile(r"supervisor(\.[0-9]{1,4})?")

State = Literal["recording", "complete", "missing", "corrupt", "deleted"]
RECORDING: State = "recording"
COMPLETE: State = "complete"
MISSING: State = "missing"
CORRUPT: State = "corrupt"
#: Its file was deleted by retention (the row stays; reason says why).
DELETED: State = "deleted"
STATES: tuple[State, ...] = (RECORDING, COMPLETE, MISSING, CORRUPT, DELETED)
#: The states of a row whose file Asterisk has closed (or never wrote): retention's scope.
CLOSED_STATES: tuple[State, ...] = (COMPLETE, MISSING, CORRUPT)

#: A call id (an Asterisk uniqueid, ``1733012345.12``) goes into a file name and an AMI header:
#: anything else is refused, never cleaned.
SAFE_CALL_ID = re.compile(r"[A-Za-z0-9._-]{1,80}")
#: Bytes of a file read to find its WAV fmt and data chunks.
WAV_HEADER_MAX_BYTES = 4096


def selected(cfg: RecordingConfig, queue: str | None, agents: tuple[str, ...]) -> bool:
    """Whether a call of ``queue`` answered by an agent known by any of ``agents`` (its member
    name and interface) is recorded. Calls outside a queue are not."""
    if not cfg.enabled or not queue:
        return False
    if queue in cfg.exclude_queues or (cfg.queues and queue not in cfg.queues):
        return False
    named = {a for a in agents if a}
    if named & set(cfg.exclude_agents):
        return False
    return not cfg.agents or bool(named & set(cfg.agents))


@dataclass(frozen=True, slots=True)
class LegFile:
    """One leg's file: its path for Asterisk and for the daemon."""

    leg: LegName
    asterisk_path: PurePosixPath
    daemon_path: Path


def leg_files(cfg: RecordingConfig, call_id: str, started_at: float) -> tuple[LegFile, ...]:
    """The customer and agent files of ``call_id``, under a UTC day directory of its start."""
    if not SAFE_CALL_ID.fullmatch(call_id):
        raise ValueError(f"call id {call_id!r} is not safe in a file name")
    day = time.strftime("%Y/%m/%d", time.gmtime(started_at))
    return tuple(LegFile(leg, cfg.asterisk_dir / day / f"{call_id}-{leg}.{cfg.format}",
                         cfg.daemon_dir / day / f"{call_id}-{leg}.{cfg.format}")
                 for leg in LEGS)


def supervisor_file(cfg: RecordingConfig, call_id: str, started_at: float,
                    leg: str) -> LegFile:
    """The file of a supervisor's voice on ``call_id`` (``leg`` is SUPERVISOR_LEG), beside the
    call's own files (MixMonitor r() on the supervisor's channel)."""
    if not SAFE_CALL_ID.fullmatch(call_id) or not SUPERVISOR_LEG.fullmatch(leg):
        raise ValueError(f"call id {call_id!r} or leg {leg!r} is not safe in a file name")
    day = time.strftime("%Y/%m/%d", time.gmtime(started_at))
    name = f"{call_id}-{leg}.{cfg.format}"
    return LegFile(leg, cfg.asterisk_dir / day / name,  # type: ignore[arg-type]
                   cfg.daemon_dir / day / name)


def mixmonitor_options(files: tuple[LegFile, ...]) -> str:
    """MixMonitor options on the customer channel: r() what it receives from the customer
    (the customer's voice), t() what it transmits to them (the agent's); no mixed file.

    See docs/asterisk.md#per-leg-recording.
    """
    by_leg = {f.leg: f.asterisk_path for f in files}
    return f"r({by_leg['customer']})t({by_leg['agent']})"


@dataclass(frozen=True, slots=True)
class WavCheck:
    """What a file's header says: its codec (``pcm_s16le/8000``) or why it is not usable."""

    state: State
    codec: str | None = None
    reason: str | None = None


def check_wav(head: bytes, size: int) -> WavCheck:
    """Check a closed WAV file from its first bytes ``head`` and its ``size``.

    Asterisk writes the RIFF and data sizes when it closes the file: sizes that disagree with
    the file (0 after a crash) make it corrupt.
    """
    if size == 0:
        return WavCheck(CORRUPT, reason="empty file")
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return WavCheck(CORRUPT, reason="not a RIFF/WAVE file")
    (riff_size,) = struct.unpack_from("<I", head, 4)
    if riff_size + 8 != size:
        return WavCheck(CORRUPT, reason=f"RIFF size {riff_size + 8} != file size {size}")
    codec: str | None = None
    for chunk, body, length in riff_chunks(head):
        if chunk == b"fmt ":
            if length < 16 or body + 16 > len(head):
                return WavCheck(CORRUPT, reason="short fmt chunk")
            fmt, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", head, body)
            if fmt != 1:
                return WavCheck(CORRUPT, reason=f"WAV format {fmt} is not PCM")
            codec = f"pcm_s{bits}le/{rate}" + ("" if channels == 1 else f"x{channels}")
        elif chunk == b"data":
            if codec is None:
                return WavCheck(CORRUPT, reason="data chunk before fmt")
            if body + length > size:
                return WavCheck(CORRUPT, reason=f"data size {length} beyond the file end")
            return WavCheck(COMPLETE, codec=codec)
    return WavCheck(CORRUPT, reason="no data chunk")
