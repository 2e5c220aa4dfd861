"""`analyze` throughput in multiples of real time, as whole processes, against a numpy +
webrtcvad baseline script in the same run.

Both are timed as whole processes (interpreter start-up, imports, reading the WAV and
de-interleaving included) on 30- and 60-minute stereo 8 kHz PCM16 calls tiled from the fixture
calls; the marginal rate over the extra 30 minutes leaves start-up out. `edgeqa analyze
--json` runs with PYTHONPATH=--tree (default: this tree); the baseline is this script with
``--baseline FILE``. With --rss it also prints the peak RSS of `edgeqa analyze` on a call of
--rss-hours (default 10) against a 30-minute one: reading is bounded, not the file's size.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _calls import tiled_call

from edgeqa.analyze.offline import CallAudio
from edgeqa.metrics import kernels


def baseline_leg(pcm: bytes, rate: int, floor_gate: bool = True) -> list[tuple[int, int]]:
    """The straightforward version: numpy frame stats over the whole buffer, the same noise
    floor gate (or, floor_gate=False, only the -55 dBov one), webrtcvad on the frames that
    pass it, the same 40 ms padding, 400 ms bridging and 100 ms minimum. No P.56."""
    import numpy as np
    import webrtcvad

    n = rate // 50
    x = np.frombuffer(pcm, dtype="<i2")
    frames = x[: len(x) // n * n].astype(np.int64).reshape(-1, n)
    sumsq = (frames * frames).sum(axis=1)
    ax = np.abs(frames)
    _peak = ax.max(axis=1)
    _clipped = (ax >= 32440).sum(axis=1)
    with np.errstate(divide="ignore"):
        level = np.maximum(10 * np.log10(sumsq / n / 2**30), -120.0).tolist()
    vad = webrtcvad.Vad(2)
    fb = 2 * n
    floor = min(level[0], -50.0) if level else 0.0
    segments: list[tuple[int, int]] = []
    start = last = -1
    for i, lv in enumerate(level):
        speech = False
        if lv > -55.0 and (lv > floor + 8.0 or not floor_gate):
            speech = vad.is_speech(pcm[i * fb:(i + 1) * fb], rate)
        floor = lv if lv < floor else min(floor + 0.06, lv)
        if speech:
            if start < 0:
                start = i
            last = i
        elif start >= 0 and i - last >= 24:
            if last + 1 - start >= 5:
                segments.append((max(0, start - 2), last + 3))
            start = -1
    return segments


def baseline_call(audio: CallAudio, floor_gate: bool = True) -> dict[str, object]:
    """Both legs, then dead air and talk-over from the two segment lists."""
    legs = [baseline_leg(audio.customer, audio.sample_rate, floor_gate),
            baseline_leg(audio.agent, audio.sample_rate, floor_gate)]
    edges = sorted([(s, 1) for leg in legs for s, _ in leg] + [(e, -1) for leg in legs
                                                                for _, e in leg])
    depth, prev, dead, over = 0, 0, [], []
    for frame, step in edges:
        if depth == 0 and frame - prev >= 250:
            dead.append((prev, frame))
        if depth == 2 and frame - prev >= 25:
            over.append((prev, frame))
        depth += step
        prev = frame
    return {"dead_air": dead, "talk_over": over}


def baseline_file(path: str) -> dict[str, object]:
    """The baseline as a user would write it: numpy reads and de-interleaves the WAV."""
    import numpy as np

    raw = np.fromfile(path, dtype=np.uint8)
    body = raw[44:].view("<i2").reshape(-1, 2)  # 44-byte header, as write_call writes it
    audio = CallAudio(body[:, 0].tobytes(), body[:, 1].tobytes(), 8000, "pcm16")
    return baseline_call(audio)


def write_call(path: Path, minutes: float) -> None:
    """A stereo 8 kHz PCM16 WAV of ``minutes`` tiled from the fixture calls."""
    import numpy as np

    audio = tiled_call(minutes)
    frames = np.empty((len(audio.customer) // 2, 2), dtype="<i2")
    frames[:, 0] = np.frombuffer(audio.customer, dtype="<i2")
    frames[:, 1] = np.frombuffer(audio.agent, dtype="<i2")
    data = frames.tobytes()
    fmt = struct.pack("<HHIIHH", 1, 2, 8000, 32000, 4, 16)
    header = (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt "
              + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)))
    with open(path, "wb") as out:
        out.write(header)
        out.write(data)


def write_long_call(path: Path, hours: float) -> None:
    """A stereo WAV of ``hours``: the 30-minute call's data repeated (written in pieces)."""
    piece = path.with_suffix(".piece")
    write_call(piece, 30)
    data = piece.read_bytes()[44:]
    piece.unlink()
    repeats = max(1, round(hours * 2))
    fmt = struct.pack("<HHIIHH", 1, 2, 8000, 32000, 4, 16)
    size = len(data) * repeats
    with open(path, "wb") as out:
        out.write(b"RIFF" + struct.pack("<I", 36 + size) + b"WAVE" + b"fmt "
                  + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size))
        for _ in range(repeats):
            out.write(data)


def timed_process(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one whole process (its output discarded; it must succeed)."""
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, timeout=900,
                   cwd=env["PYTHONPATH"])  # `-m` puts the cwd first on sys.path
    return time.perf_counter() - t0


def peak_rss_mb(argv: list[str], env: dict[str, str]) -> float:
    """Peak RSS (MB) of one whole process. Measured by a small intermediate process: a
    child's ru_maxrss keeps the high-water mark of the process that forked it (before exec),
    which here would be this one, holding the bench audio."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
            "stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *argv], env=env, check=True,
                         capture_output=True, text=True, timeout=900, cwd=env["PYTHONPATH"])
    return int(out.stdout) / 1024


def main() -> int:
    if "--baseline" in sys.argv:
        result = baseline_file(sys.argv[sys.argv.index("--baseline") + 1])
        print(json.dumps({k: len(v) for k, v in result.items()}))  # type: ignore[arg-type]
        return 0
    root = Path(__file__).resolve().parent.parent
    tree = sys.argv[sys.argv.index("--tree") + 1] if "--tree" in sys.argv else str(root)
    env = dict(os.environ, PYTHONPATH=tree)
    print(f"edgeqa tree: {tree}; kernels in this process: {kernels.IMPLEMENTATION}; "
          f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench_analyze_") as tmp:
        files = {m: Path(tmp) / f"call{m}.wav" for m in (30, 60)}
        for minutes, path in files.items():
            write_call(path, minutes)
        ours = {m: [sys.executable, "-m", "edgeqa", "analyze", str(p), "--json"]
                for m, p in files.items()}
        base = {m: [sys.executable, str(Path(__file__).resolve()), "--baseline", str(p)]
                for m, p in files.items()}
        timed_process(ours[30], env)  # warm the page cache and the imports
        timed_process(base[30], env)
        best = {"ours30": 1e9, "ours60": 1e9, "base30": 1e9, "base60": 1e9}
        for _ in range(3):  # interleaved, best of 3: the machine is shared
            best["ours30"] = min(best["ours30"], timed_process(ours[30], env))
            best["base30"] = min(best["base30"], timed_process(base[30], env))
            best["ours60"] = min(best["ours60"], timed_process(ours[60], env))
            best["base60"] = min(best["base60"], timed_process(base[60], env))
        ours_marginal = 1800 / (best["ours60"] - best["ours30"])
        base_marginal = 1800 / (best["base60"] - best["base30"])
        results: dict[str, object] = {
            "ours_30min_s": round(best["ours30"], 3), "ours_60min_s": round(best["ours60"], 3),
            "ours_60min_x_realtime": round(3600 / best["ours60"]),
            "ours_marginal_x_realtime": round(ours_marginal),
            "baseline_30min_s": round(best["base30"], 3),
            "baseline_60min_s": round(best["base60"], 3),
            "baseline_marginal_x_realtime": round(base_marginal),
            "ours_over_baseline_marginal": round(ours_marginal / base_marginal, 2),
            "ours_over_baseline_60min": round(best["base60"] / best["ours60"], 2),
        }
        if "--rss" in sys.argv:
            hours = float(sys.argv[sys.argv.index("--rss-hours") + 1]) \
                if "--rss-hours" in sys.argv else 10.0
            long_path = Path(tmp) / "long.wav"
            write_long_call(long_path, hours)
            results["rss_30min_mb"] = round(peak_rss_mb(ours[30], env))
            results[f"rss_{hours:g}h_mb"] = round(peak_rss_mb(
                [sys.executable, "-m", "edgeqa", "analyze", str(long_path), "--json"], env))
            results[f"file_{hours:g}h_mb"] = round(long_path.stat().st_size / 1e6)
    for key, value in results.items():
        print(f"  {key:34} {value}")
    print(json.dumps(results))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("targets: marginal >= 10000x real time; >= 2x the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
