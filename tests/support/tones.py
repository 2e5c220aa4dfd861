"""Pure tones for the spy acceptance tests: each phone plays its own frequency, and a Goertzel
detector says, per recording and per time window, which of those frequencies it heard.

The frequencies are chosen so that no harmonic (2f, 3f) and no second- or third-order
intermodulation product (f1 +- f2, 2f1 +- f2) of any two of them lands within
``MIN_PRODUCT_DISTANCE_HZ`` of a third, and none is near a DTMF frequency: a mix of tones through
u-law and Asterisk's mixing cannot fake a tone that was not played.
"""

from __future__ import annotations

import math
import wave
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

RATE_HZ = 8000
#: Each phone's tone (Hz), by the role it plays in the tests.
TONES: Mapping[str, float] = {
    "customer": 440.0, "agent1": 600.0, "supervisor": 1150.0, "agent10": 1250.0,
    "customer2": 1550.0,
}
#: Level each phone plays its tone at (a sine's peak, dB relative to full scale).
PLAY_DBFS = -12.0
#: Length of each generated WAV; the phones loop it.
WAV_S = 10.0
#: Analysis block: 200 ms, a 5 Hz bin (Hann main lobe +-10 Hz; the tones are >= 100 Hz apart).
BLOCK_S = 0.2
#: A tone is heard in a block when its level is above this (played at -12 dBFS, one trip
#: through u-law and Asterisk's mixer keeps it within a few dB).
PRESENT_DBFS = -35.0
#: ...and absent when below this. Between the two a block is unclear, which fails a check.
ABSENT_DBFS = -50.0
#: Share of a window's blocks that must agree for the window's verdict (the rest: jitter,
#: a late mode switch, packet loss).
AGREE_SHARE = 0.9
#: No tone is within this of a harmonic or intermodulation product of two others.
MIN_PRODUCT_DISTANCE_HZ = 40.0
DTMF_HZ = (697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0)
#: Full scale of PCM16.
FULL_SCALE = 32768.0
#: The floor of a level (dBFS) where a block is digital silence.
FLOOR_DBFS = -150.0

Verdict = Literal["present", "absent", "unclear"]
Samples = npt.NDArray[np.float64]


def sine(freq_hz: float, seconds: float, dbfs: float = PLAY_DBFS,
         rate_hz: int = RATE_HZ) -> Samples:
    """A sine of peak ``dbfs`` as float samples in PCM16 units."""
    n = np.arange(round(seconds * rate_hz))
    amplitude = FULL_SCALE * 10 ** (dbfs / 20)
    return amplitude * np.sin(2 * np.pi * freq_hz * n / rate_hz)


def write_wav(path: Path, samples: Samples, rate_hz: int = RATE_HZ) -> Path:
    """Write ``samples`` as a mono PCM16 WAV (clipped to full scale); return ``path``."""
    pcm = np.clip(np.round(samples), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate_hz)
        out.writeframes(pcm.tobytes())
    return path


def write_stereo_wav(path: Path, both: np.ndarray, rate_hz: int = RATE_HZ) -> Path:
    """Write an (n, 2) int16 array (left = customer, right = agent) as a stereo PCM16 WAV."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate_hz)
        out.writeframes(np.ascontiguousarray(both, dtype="<i2").tobytes())
    return path


def tone_wavs(directory: Path, seconds: float = WAV_S) -> dict[str, Path]:
    """One looping tone WAV per role in ``directory``: {role: path}. A whole number of
    periods fits ``seconds`` for each tone (the loop has no click)."""
    directory.mkdir(parents=True, exist_ok=True)
    return {role: write_wav(directory / f"tone-{role}-{int(freq)}.wav", sine(freq, seconds))
            for role, freq in TONES.items()}


def read_wav(path: Path) -> tuple[Samples, int]:
    """A mono PCM16 WAV's samples (float, PCM16 units) and its rate."""
    with wave.open(str(path)) as wav:
        if (wav.getnchannels(), wav.getsampwidth()) != (1, 2):
            raise ValueError(f"{path}: not mono PCM16")
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return pcm.astype(np.float64), rate


def goertzel_dbfs(blocks: Samples, freqs_hz: Iterable[float], rate_hz: int) -> Samples:
    """Level (peak of a sine, dBFS) of each frequency in each row of ``blocks``.

    ``blocks`` is (n_blocks, n) samples; the result is (n_blocks, n_freqs). The Goertzel
    recurrence runs over the n samples of a Hann-windowed block, for every block and every
    frequency at once; a frequency need not fall on a DFT bin.
    """
    freqs = np.asarray(list(freqs_hz), dtype=np.float64)
    n_blocks, n = blocks.shape
    window = np.hanning(n)
    x = blocks * window  # (n_blocks, n)
    omega = 2 * np.pi * freqs / rate_hz  # (n_freqs,)
    coeff = 2 * np.cos(omega)
    s1 = np.zeros((n_blocks, freqs.size))
    s2 = np.zeros((n_blocks, freqs.size))
    for i in range(n):
        s0 = x[:, i:i + 1] + coeff * s1 - s2
        s2 = s1
        s1 = s0
    power = s1 ** 2 + s2 ** 2 - coeff * s1 * s2
    # A sine of peak A gives |X| = A * sum(window) / 2 at its frequency.
    amplitude = 2 * np.sqrt(np.maximum(power, 0.0)) / window.sum()
    with np.errstate(divide="ignore"):
        level = 20 * np.log10(amplitude / FULL_SCALE)
    return np.maximum(level, FLOOR_DBFS)


def block_levels(samples: Samples, rate_hz: int, start_s: float, end_s: float,
                 freqs_hz: Iterable[float], block_s: float = BLOCK_S) -> Samples:
    """Levels (n_blocks, n_freqs) of whole ``block_s`` blocks of ``samples`` in
    [start_s, end_s). Raises ValueError when the window is not inside the recording: a
    missing stretch of recording is never taken for an absent tone."""
    n = round(block_s * rate_hz)
    a, b = round(start_s * rate_hz), round(end_s * rate_hz)
    if a < 0 or b > samples.size or b - a < n:
        raise ValueError(f"window {start_s:.2f}-{end_s:.2f} s is not inside the recording "
                         f"(0-{samples.size / rate_hz:.2f} s) or is shorter than one block")
    count = (b - a) // n
    return goertzel_dbfs(samples[a:a + count * n].reshape(count, n), freqs_hz, rate_hz)


@dataclass(frozen=True, slots=True)
class ToneReport:
    """What one recording held in one window: per role, the verdict and the median level."""

    verdicts: Mapping[str, Verdict]
    median_dbfs: Mapping[str, float]

    def heard(self) -> frozenset[str]:
        """The roles whose tone was present."""
        return frozenset(r for r, v in self.verdicts.items() if v == "present")

    def describe(self) -> str:
        return ", ".join(f"{r} {self.verdicts[r]} ({self.median_dbfs[r]:.1f} dBFS)"
                         for r in self.verdicts)


def verdict(levels: Samples, present_dbfs: float = PRESENT_DBFS,
            absent_dbfs: float = ABSENT_DBFS, share: float = AGREE_SHARE) -> Verdict:
    """The verdict on one frequency's block levels: present when ``share`` of the blocks
    are above ``present_dbfs``, absent when ``share`` are below ``absent_dbfs``."""
    if levels.size == 0:
        return "unclear"
    if float(np.mean(levels > present_dbfs)) >= share:
        return "present"
    if float(np.mean(levels < absent_dbfs)) >= share:
        return "absent"
    return "unclear"


def tones_in(samples: Samples, rate_hz: int, start_s: float, end_s: float,
             tones: Mapping[str, float] = TONES) -> ToneReport:
    """Which of ``tones`` (role -> Hz) ``samples`` hold in [start_s, end_s)."""
    levels = block_levels(samples, rate_hz, start_s, end_s, tones.values())
    roles = list(tones)
    return ToneReport({r: verdict(levels[:, i]) for i, r in enumerate(roles)},
                      {r: float(np.median(levels[:, i])) for i, r in enumerate(roles)})


def products(freqs: Iterable[float]) -> set[float]:
    """Harmonics (2f, 3f) and second/third-order intermodulation products of ``freqs``."""
    fs = list(freqs)
    out = {k * f for f in fs for k in (2, 3)}
    for i, a in enumerate(fs):
        for j, b in enumerate(fs):
            if i != j:
                out |= {a + b, abs(a - b), 2 * a + b, abs(2 * a - b)}
    return out


def closest_product_hz(freqs: Iterable[float]) -> float:
    """The smallest distance from a tone to a product of the others (or to a DTMF tone)."""
    fs = list(freqs)
    best = math.inf
    for f in fs:
        others = [g for g in fs if g != f]
        for p in (*products(others), *DTMF_HZ):
            best = min(best, abs(f - p))
    return best


#: Audio louder than this (RMS, dBFS) in a 10 ms block counts as heard (for onsets).
ONSET_DBFS = -40.0
ONSET_BLOCK_S = 0.01


def onset_s(samples: Samples, rate_hz: int, threshold_dbfs: float = ONSET_DBFS,
            block_s: float = ONSET_BLOCK_S) -> float | None:
    """When audio first rises above ``threshold_dbfs`` (the start of that 10 ms block, in
    seconds from the recording's start), or None if it never does."""
    n = round(block_s * rate_hz)
    count = samples.size // n
    if count == 0:
        return None
    rms = np.sqrt(np.mean(samples[:count * n].reshape(count, n) ** 2, axis=1))
    loud = np.flatnonzero(rms > FULL_SCALE * 10 ** (threshold_dbfs / 20))
    return float(loud[0] * block_s) if loud.size else None
