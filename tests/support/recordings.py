"""Speech-activity envelopes of WAV files, to tell which leg's audio a recording holds."""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path
from typing import Any

import numpy as np

#: Envelope frame, and the lag range searched (recording and playback start a moment apart).
FRAME_S = 0.05
MAX_LAG_S = 2.0
FLOOR_DB = -60.0
#: A file holds its own leg when its envelope follows that leg's with r >= this.
OWN_LEG_MIN_R = 0.6


def envelope(path: Path, rate_hz: int = 8000) -> np.ndarray:
    """Frame level in dBFS (floored at FLOOR_DB) of a mono 16-bit WAV at ``rate_hz``."""
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        assert w.getframerate() == rate_hz, (path, w.getframerate())
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    step = int(rate_hz * FRAME_S)
    frames = pcm[: len(pcm) // step * step].reshape(-1, step)
    rms = np.sqrt((frames ** 2).mean(axis=1)) / 32768.0
    return np.maximum(20 * np.log10(np.maximum(rms, 1e-9)), FLOOR_DB)


def best_correlation(recorded: np.ndarray, played: np.ndarray) -> tuple[float, float]:
    """(Pearson r, lag in s) of ``recorded`` against ``played`` at the best lag within
    ±MAX_LAG_S, over the recorded length."""
    best = (-1.0, 0.0)
    max_lag = int(MAX_LAG_S / FRAME_S)
    for lag in range(-max_lag, max_lag + 1):
        start = max(lag, 0)
        n = min(len(recorded) - max(-lag, 0), len(played) - start)
        if n < 40:
            continue
        a = recorded[max(-lag, 0): max(-lag, 0) + n]
        b = played[start: start + n]
        if a.std() == 0 or b.std() == 0:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        if r > best[0]:
            best = (r, lag * FRAME_S)
    return best


def check_complete_row(row: dict[str, Any], call_id: str) -> bytes:
    """The file of a complete recordings row, whose stored size and sha256 are the file's."""
    data = Path(row["path"]).read_bytes()
    assert row["call_id"] == call_id and row["state"] == "complete", row
    assert row["sha256"] == hashlib.sha256(data).hexdigest() and row["size"] == len(data)
    assert row["codec"] == "pcm_s16le/8000" and row["ended_at"] > row["started_at"]
    return data
