"""A summary from a recording: `analyse_legs` on a 30-minute call's two leg files, in multiples
of real time, and what reading and hashing the files add to the analysis alone (run_call).

The daemon runs one such analysis at a time (recording/summarizer.MAX_RUNNING_ANALYSES).
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _calls import tiled_call

from edgeqa.analyze.offline import run_call
from edgeqa.recording.events import Recording
from edgeqa.recording.summarizer import analyse_legs

MINUTES = 30.0


def _leg(path: Path, pcm: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)


def main() -> None:
    call = tiled_call(MINUTES)
    call_s = MINUTES * 60
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for leg, pcm in (("customer", call.customer), ("agent", call.agent)):
            path = Path(tmp) / f"c-{leg}.wav"
            _leg(path, pcm)
            data = path.read_bytes()
            rows.append(Recording("c", leg, str(path), 0.0, ended_at=call_s,  # type: ignore[arg-type]
                                  size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                                  state="complete"))
        started = time.perf_counter()
        summary = analyse_legs("c", rows)
        legs_s = time.perf_counter() - started
    started = time.perf_counter()
    alone = run_call(call)
    alone_s = time.perf_counter() - started
    assert summary == alone
    print(f"{MINUTES:.0f}-min call: analyse_legs {legs_s:.2f} s ({call_s / legs_s:.0f}x real "
          f"time), run_call alone {alone_s:.2f} s ({call_s / alone_s:.0f}x); files read and "
          f"hashed: +{legs_s - alone_s:.2f} s")


if __name__ == "__main__":
    main()
