"""Where the repository's files are, for tests at any depth."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
CALLS = DATA / "calls"
SCHEMA_DIR = REPO / "schemas"

#: The realistic-condition fixtures (README.md there says what each call models).
CALLS_HARD = DATA / "calls_hard"


def hard_legs(name: str) -> tuple[Path, Path]:
    """Return the mono (customer, agent) WAVs of calls_hard/NAME, split from its stereo file.

    The published mono legs are exactly the stereo channels, so only the stereo file is shipped;
    the legs are written once per machine into a cache directory beside the data.
    """
    import wave

    import numpy as np

    cache = Path(os.environ.get("EDGEQA_TEST_CACHE", "/tmp/edgeqa-test-cache")) / "calls_hard"
    cache.mkdir(parents=True, exist_ok=True)
    out = (cache / f"{name}.customer.wav", cache / f"{name}.agent.wav")
    if all(p.exists() for p in out):
        return out
    with wave.open(str(CALLS_HARD / f"{name}.wav"), "rb") as src:
        if src.getnchannels() != 2 or src.getsampwidth() != 2:
            raise ValueError(f"{name}.wav is not 16-bit stereo")
        rate, frames = src.getframerate(), src.readframes(src.getnframes())
    both = np.frombuffer(frames, "<i2")
    for channel, path in enumerate(out):
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with wave.open(str(tmp), "wb") as dst:
            dst.setnchannels(1)
            dst.setsampwidth(2)
            dst.setframerate(rate)
            dst.writeframes(both[channel::2].tobytes())
        tmp.replace(path)
    return out
