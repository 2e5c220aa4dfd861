"""A picture of one call: both legs' levels, their speech segments, dead air and talk-over."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeqa.analyze.offline import CallAudio

_COLOURS = {"customer": "#1f77b4", "agent": "#2ca02c"}


def frame_levels_dbov(pcm: bytes, sample_rate: int, frame_ms: int = 20) -> Any:
    """Return each frame's rms_dbov (floor -120) as a numpy array."""
    import numpy as np

    n = sample_rate * frame_ms // 1000
    x = np.frombuffer(pcm, dtype="<i2")
    x = x[: len(x) // n * n].astype(np.float64).reshape(-1, n)
    ms = (x * x).mean(axis=1) / (32768.0 * 32768.0)
    with np.errstate(divide="ignore"):
        return np.maximum(10.0 * np.log10(ms), -120.0)


def plot_call(audio: CallAudio, summary: dict[str, Any], out: str | Path,
              title: str = "") -> None:
    """Draw the call to ``out`` (PNG): levels per leg over time, segments and events marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax_lvl, ax_seg) = plt.subplots(
        2, 1, figsize=(14, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for leg, pcm in (("customer", audio.customer), ("agent", audio.agent)):
        lv = frame_levels_dbov(pcm, audio.sample_rate)
        t = np.arange(len(lv)) * 0.02
        data = summary["legs"][leg]
        ax_lvl.plot(t, lv, lw=0.6, color=_COLOURS[leg],
                    label=f"{leg} (active {data['active_level_dbov']} dBov)")
        row = 1 if leg == "customer" else 0
        for start, end in data["speech_segments"]:
            ax_seg.broken_barh([(start, end - start)], (row + 0.1, 0.8), color=_COLOURS[leg])
    for ax in (ax_lvl, ax_seg):
        for ev in summary["dead_air"]:
            ax.axvspan(ev["start"], ev["end"], color="0.6", alpha=0.35, lw=0)
        for ev in summary["talk_over"]:
            ax.axvspan(ev["start"], ev["end"], color="red", alpha=0.3, lw=0)
        for ev in summary.get("hold", []):
            ax.axvspan(ev["start"], ev["end"], color="orange", alpha=0.2, lw=0)
        for ev in summary.get("paused", []):
            ax.axvspan(ev["start"], ev["end"], color="blue", alpha=0.12, lw=0)
    for al in summary["alerts"]:
        ax_lvl.axvline(al["at"], color="black", ls=":", lw=0.8)
        ax_lvl.annotate(f"{al['type']}:{al['severity']}", (al["at"], -5), fontsize=7,
                        rotation=90, va="top")
    ax_lvl.set_ylim(-80, 0)
    ax_lvl.set_ylabel("level, dBov (20 ms frames)")
    ax_lvl.legend(loc="lower right", fontsize=8)
    ax_lvl.set_title(title or "call")
    ax_seg.set_yticks([0.5, 1.5], ["agent", "customer"])
    ax_seg.set_ylim(0, 2)
    ax_seg.set_xlabel("time, s  (grey: dead air, red: talk-over, orange: hold, blue: paused)")
    ax_seg.set_xlim(0, summary["duration_s"])
    fig.tight_layout()
    fig.savefig(str(out), dpi=100)
    plt.close(fig)
