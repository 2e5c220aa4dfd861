"""A picture of one call for a QA analyst (``edgeqa analyze CALL.wav --plot OUT.png``).

From the top: a header (duration, the agent's talk ratio, counts of dead air, talk-over and
alerts, equal to the summary's); an alert band, where each alert is a bar over the span it
covers (``alert_span``) with its label beside it, in lanes so that no two labels overlap and
none sits on a trace; both legs' levels per 20 ms frame with the too-quiet, too-loud and
clipping thresholds, and the frames that clipped; the legs' speech segments. Dead air,
talk-over, hold, PCI pauses and gaps shade the time axis of every row; the legend names each
mark. Matplotlib is the ``plot`` extra, imported only here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from edgeqa.metrics.codecs import CODEC_MAX, Codec, clip_level
from edgeqa.metrics.config import MetricsConfig

if TYPE_CHECKING:
    from edgeqa.analyze.offline import CallAudio

_COLOURS = {"customer": "#1f77b4", "agent": "#2ca02c"}
#: Shading of call-level intervals on every row: (summary key, colour, alpha, legend label).
_SHADES = (("dead_air", "0.55", 0.35, "dead air (≥ 5 s mutual silence)"),
           ("talk_over", "#d62728", 0.30, "talk-over (both talking ≥ 0.5 s)"),
           ("hold", "#17becf", 0.20, "hold"),
           ("paused", "#9467bd", 0.20, "paused for PCI"),
           ("gaps", "black", 0.15, "gap (no audio)"))
_ALERT_COLOURS = {"dead_air": "0.35", "talk_over": "#d62728", "clipping": "#8c1aff",
                  "too_loud": "#e6550d", "too_quiet": "#8c564b"}
_ALERT_NAMES = {"dead_air": "dead air", "talk_over": "talk-over", "clipping": "clipping",
                "too_loud": "too loud", "too_quiet": "too quiet"}
#: Level axis range, dBov (digital silence, -120, sits below it).
_LEVEL_YLIM = (-90.0, 6.0)
#: Space between an alert's bar and its label, and between two labels in a lane, in pixels.
_LABEL_PAD_PX = 6.0
_DPI = 100
#: Lanes the alert band holds at the figure's first height, and the height of one more lane.
_BAND_LANES = 3
_LANE_IN = 0.3
#: The figure's first height, and the room above the rows (title, header) and below them.
_HEIGHT_IN = 8.2
_TOP_IN = 1.0
_BOTTOM_IN = 0.65


def frame_levels_dbov(pcm: bytes, sample_rate: int, frame_ms: int = 20) -> Any:
    """Return each frame's rms_dbov (floor -120) as a numpy array."""
    import numpy as np

    n = sample_rate * frame_ms // 1000
    x = np.frombuffer(pcm, dtype="<i2")
    x = x[: len(x) // n * n].astype(np.float64).reshape(-1, n)
    ms = (x * x).mean(axis=1) / (32768.0 * 32768.0)
    with np.errstate(divide="ignore"):
        return np.maximum(10.0 * np.log10(ms), -120.0)


def frame_peaks(pcm: bytes, sample_rate: int, frame_ms: int = 20) -> Any:
    """Return each frame's peak |sample| as a numpy array."""
    import numpy as np

    n = sample_rate * frame_ms // 1000
    x = np.frombuffer(pcm, dtype="<i2")
    x = x[: len(x) // n * n].astype(np.int32).reshape(-1, n)
    return np.abs(x).max(axis=1) if len(x) else np.zeros(0, dtype=np.int32)


def leg_codec(summary: dict[str, Any], leg: str) -> Codec:
    """The codec whose maximum ``leg`` is judged against: the one the leg's ``codec_max`` names
    (G.711 recognised in PCM16), else the leg's or the call's codec (pcm16 if none is known)."""
    data = summary["legs"][leg]
    by_max = {v: k for k, v in CODEC_MAX.items()}
    if data.get("codec_max") in by_max:
        return by_max[data["codec_max"]]
    codec = data.get("codec", summary.get("codec"))
    return cast(Codec, codec) if codec in CODEC_MAX else "pcm16"


def clip_line_dbov(codec: Codec) -> float:
    """The clipping threshold (|x| ≥ 0.99·codec_max) as a peak level in dBov."""
    return 20.0 * math.log10(clip_level(codec) / 32768.0)


def alert_span(alert: dict[str, Any], summary: dict[str, Any],
               config: MetricsConfig) -> tuple[float, float]:
    """The stretch of the call an alert was judged over, (start, end = the alert's time):

    - ``dead_air``, ``talk_over``: from the start of the silence or overlap that crossed the
      threshold (the cumulative talk-over alert, which no single overlap crossed: the alert's
      instant);
    - ``clipping``: the clip window before it (``clip_window_s``, 10 s);
    - ``too_quiet``, ``too_loud``: the leg's speech the level was measured on, from the
      start of its first speech segment.
    """
    at = float(alert["at"])
    kind = alert["type"]
    start = at
    if kind in ("dead_air", "talk_over"):
        for ev in summary[kind]:
            if ev["start"] <= at <= ev["end"] + 0.02:
                start = ev["start"]
                break
    elif kind == "clipping":
        start = at - config.clip_window_s
    elif kind in ("too_quiet", "too_loud") and alert.get("leg"):
        segments = summary["legs"][alert["leg"]]["speech_segments"]
        if segments:
            start = segments[0][0]
    return (max(0.0, min(start, at)), at)


def header_text(summary: dict[str, Any]) -> str:
    """The figure's header line: the summary's duration, talk ratio and event counts."""
    ratio = summary.get("talk_ratio")
    share = "n/a (no speech)" if ratio is None else f"{100 * ratio:.0f} %"
    duration = summary["duration_s"]
    mins = f" ({int(duration // 60)} min {duration % 60:04.1f} s)" if duration >= 60 else ""
    return (f"duration {duration:.1f} s{mins}   ·   talk ratio {share} agent "
            f"(agent's share of all talk)   ·   dead air {len(summary['dead_air'])}   ·   "
            f"talk-over {len(summary['talk_over'])}   ·   alerts {len(summary['alerts'])}")


def _level_label(summary: dict[str, Any], leg: str) -> str:
    """The leg's legend entry, with its talker's level (speech level, else P.56 active level)."""
    data = summary["legs"][leg]
    for key, name in (("speech_level_dbov", "speech"), ("active_level_dbov", "active")):
        if data.get(key) is not None:
            return f"{leg} level ({name} {data[key]:.1f} dBov)"
    return f"{leg} level"


def _alert_label(alert: dict[str, Any]) -> str:
    kind, value = alert["type"], alert.get("value")
    who = f" {alert['leg']}" if alert.get("leg") else ""
    if kind == "clipping" and value is not None:
        figure = f" {100 * value:.2f} %"
    elif kind in ("too_loud", "too_quiet") and value is not None:
        figure = f" {value:.1f} dBov"
    elif value is not None:
        figure = f" {value:.1f} s"
    else:
        figure = ""
    return f"{_ALERT_NAMES.get(kind, kind)}{who}{figure} ({alert['severity']}, {alert['at']:.1f} s)"


def plot_call(audio: CallAudio, summary: dict[str, Any], out: str | Path,
              title: str = "", config: MetricsConfig | None = None) -> None:
    """Draw the call to ``out`` (PNG); see the module's docstring for what it shows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = draw_call(audio, summary, title, config)
    try:
        fig.savefig(str(out), dpi=_DPI)
    finally:
        plt.close(fig)


def draw_call(audio: CallAudio, summary: dict[str, Any], title: str = "",
              config: MetricsConfig | None = None) -> Any:
    """The call's figure (a matplotlib Figure, not yet saved); the caller closes it.

    Artists tests may look up by gid: ``header``, ``alert-label-<i>`` and ``alert-span-<i>``
    (alert i of ``summary["alerts"]``), ``threshold-too_quiet``, ``threshold-too_loud``,
    ``threshold-clipping-<codec>``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    config = config or MetricsConfig()
    duration = float(summary["duration_s"])
    fig, (ax_alert, ax_lvl, ax_seg) = plt.subplots(
        3, 1, figsize=(15, _HEIGHT_IN), sharex=True, dpi=_DPI,
        gridspec_kw={"height_ratios": [1.1, 3.2, 0.9], "hspace": 0.06})
    fig.subplots_adjust(left=0.06, right=0.78, top=1 - _TOP_IN / _HEIGHT_IN,
                        bottom=_BOTTOM_IN / _HEIGHT_IN)

    # Call-level shading on every row.
    for key, colour, alpha, _ in _SHADES:
        for ev in summary.get(key, ()):
            for ax in (ax_alert, ax_lvl, ax_seg):
                ax.axvspan(ev["start"], ev["end"], color=colour, alpha=alpha, lw=0,
                           hatch="//" if key == "gaps" else None)

    # Levels, clipped frames and thresholds.
    codecs: list[Codec] = []
    for leg, pcm in (("customer", audio.customer), ("agent", audio.agent)):
        lv = frame_levels_dbov(pcm, audio.sample_rate)
        t = np.arange(len(lv)) * 0.02
        ax_lvl.plot(t, lv, lw=0.55, color=_COLOURS[leg], alpha=0.9)
        codec = leg_codec(summary, leg)
        if codec not in codecs:
            codecs.append(codec)
        peaks = frame_peaks(pcm, audio.sample_rate)
        clipped = np.nonzero(peaks >= clip_level(codec))[0]
        if len(clipped):
            ax_lvl.plot(clipped * 0.02, np.full(len(clipped), clip_line_dbov(codec)), "|",
                        color=_COLOURS[leg], ms=9, mew=1.2)
    ax_lvl.axhline(config.too_quiet_dbov, color=_ALERT_COLOURS["too_quiet"], ls="--", lw=1.1,
                   gid="threshold-too_quiet")
    ax_lvl.axhline(config.too_loud_dbov, color=_ALERT_COLOURS["too_loud"], ls="--", lw=1.1,
                   gid="threshold-too_loud")
    for codec in codecs:
        ax_lvl.axhline(clip_line_dbov(codec), color=_ALERT_COLOURS["clipping"], ls="-", lw=1.1,
                       gid=f"threshold-clipping-{codec}")
    # A level alert also shades its side of the threshold over its span.
    for i, alert in enumerate(summary["alerts"]):
        if alert["type"] in ("too_loud", "too_quiet"):
            start, end = alert_span(alert, summary, config)
            loud = alert["type"] == "too_loud"
            lo, hi = ((config.too_loud_dbov, _LEVEL_YLIM[1]) if loud
                      else (_LEVEL_YLIM[0], config.too_quiet_dbov))
            ax_lvl.add_patch(Rectangle((start, lo), end - start, hi - lo, lw=0, alpha=0.35,
                                       hatch="\\\\", fill=False,
                                       edgecolor=_ALERT_COLOURS[alert["type"]],
                                       gid=f"alert-level-span-{i}"))
    ax_lvl.set_ylim(*_LEVEL_YLIM)
    ax_lvl.set_ylabel("level, dBov\n(RMS per 20 ms frame)")
    ax_lvl.grid(axis="y", color="0.9", lw=0.6)

    # Speech segments.
    for row, leg in ((1, "customer"), (0, "agent")):
        data = summary["legs"][leg]
        ax_seg.broken_barh([(s, e - s) for s, e in data["speech_segments"]],
                           (row + 0.15, 0.7), color=_COLOURS[leg])
    ax_seg.set_yticks([0.5, 1.5], ["agent", "customer"])
    ax_seg.set_ylim(0, 2)
    ax_seg.set_xlabel("call time, s")
    ax_seg.set_xlim(0, duration)

    lanes = _draw_alerts(fig, ax_alert, summary, config)
    if lanes > _BAND_LANES:  # a taller band, the other rows keep their height
        extra_in = (lanes - _BAND_LANES) * _LANE_IN
        grid = ax_alert.get_subplotspec().get_gridspec()
        ratios = list(grid.get_height_ratios())
        ratios[0] += (lanes - _BAND_LANES) * ratios[0] / _BAND_LANES
        grid.set_height_ratios(ratios)
        height = fig.get_figheight()
        fig.set_figheight(height + extra_in)
        fig.subplots_adjust(top=1 - _TOP_IN / (height + extra_in),
                            bottom=_BOTTOM_IN / (height + extra_in))
    height = fig.get_figheight()
    fig.text(0.06, 1 - 0.29 / height, title or "call", fontsize=13, weight="bold", va="top")
    fig.text(0.06, 1 - 0.6 / height, header_text(summary), fontsize=10.5, va="top",
             gid="header")

    handles = [
        *(Line2D([], [], color=_COLOURS[leg], lw=1.5, label=_level_label(summary, leg))
          for leg in ("customer", "agent")),
        Patch(color=_COLOURS["customer"], label="customer speech"),
        Patch(color=_COLOURS["agent"], label="agent speech"),
        *(Patch(facecolor=colour, alpha=alpha, hatch="//" if key == "gaps" else None,
                label=label) for key, colour, alpha, label in _SHADES),
        Line2D([], [], color=_ALERT_COLOURS["too_loud"], ls="--",
               label=f"too loud ≥ {config.too_loud_dbov:g} dBov"),
        Line2D([], [], color=_ALERT_COLOURS["too_quiet"], ls="--",
               label=f"too quiet ≤ {config.too_quiet_dbov:g} dBov"),
        *(Line2D([], [], color=_ALERT_COLOURS["clipping"],
                 label=f"clipping: peak ≥ 0.99 × {CODEC_MAX[c]} ({c})") for c in codecs),
        Line2D([], [], color="0.3", marker="|", ls="", ms=9, mew=1.2,
               label="frame with clipped samples"),
        Patch(color="0.5", alpha=0.6,
              label="alert: bar over the span judged,\ntick at the alert's time"),
        Patch(fill=False, hatch="\\\\", edgecolor="0.4",
              label="level alert's span, on its side\nof the threshold"),
    ]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.80, 1 - _TOP_IN / height),
               fontsize=8.5, frameon=True, title="legend", title_fontsize=9)
    return fig


def _draw_alerts(fig: Any, ax: Any, summary: dict[str, Any], config: MetricsConfig) -> int:
    """Each alert as a bar over its span in the alert band, its label right of the bar (left
    of it when the bar ends near the right edge), packed into lanes so no two labels meet."""
    from matplotlib.patches import Rectangle

    ax.set_yticks([])
    ax.set_ylabel("alerts")
    ax.set_xlim(0, float(summary["duration_s"]))
    alerts = summary["alerts"]
    if not alerts:
        ax.text(0.5, 0.5, "no alerts", transform=ax.transAxes, ha="center", va="center",
                color="0.4", fontsize=9)
        ax.set_ylim(0, 1)
        return 1
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    right_px = to_px((float(summary["duration_s"]), 0))[0]
    placed: list[tuple[float, float, int]] = []  # (x0, x1) pixels of each item, its lane
    items = []
    for i, alert in enumerate(alerts):
        start, end = alert_span(alert, summary, config)
        colour = _ALERT_COLOURS.get(alert["type"], "0.3")
        text = ax.text(end, 0, _alert_label(alert), fontsize=8.5, va="center", ha="left",
                       color="black", gid=f"alert-label-{i}", clip_on=False)
        width = text.get_window_extent(renderer).width
        x0, x1 = to_px((start, 0))[0], to_px((end, 0))[0]
        left_px = to_px((0.0, 0))[0]
        if x1 + _LABEL_PAD_PX + width <= right_px:  # right of the bar
            shift = _LABEL_PAD_PX / 2
        elif x1 - x0 >= width + 2 * _LABEL_PAD_PX:  # inside the bar, near the right edge
            shift = x0 - x1 + _LABEL_PAD_PX
        elif x0 - _LABEL_PAD_PX - width >= left_px:  # left of it
            shift = -(x1 - x0) - _LABEL_PAD_PX / 2 - width
        else:  # over the bar, kept inside the band
            shift = max(left_px, right_px - width - 1) - x1
        text.set_transform(_offset(fig, ax, shift))
        lo, hi = min(x0, x1 + shift), max(x1, x1 + shift + width)
        lane = 0
        while any(lane == ln and lo < b + _LABEL_PAD_PX and hi > a - _LABEL_PAD_PX
                  for a, b, ln in placed):
            lane += 1
        placed.append((lo, hi, lane))
        items.append((text, start, end, lane, colour))
    lanes = 1 + max(ln for _, _, ln in placed)
    for i, (text, start, end, lane, colour) in enumerate(items):
        y = lanes - 0.5 - lane
        text.set_y(y)
        ax.add_patch(Rectangle((start, y - 0.28), max(end - start, 0.0), 0.56, color=colour,
                               alpha=0.55, lw=0, gid=f"alert-span-{i}"))
        ax.plot([end, end], [y - 0.38, y + 0.38], color=colour, lw=1.6)
    ax.set_ylim(0, lanes)
    return lanes


def _offset(fig: Any, ax: Any, dx_px: float) -> Any:
    """The data transform of ``ax`` shifted ``dx_px`` pixels to the right."""
    from matplotlib.transforms import ScaledTranslation

    return ax.transData + ScaledTranslation(dx_px / fig.dpi, 0, fig.dpi_scale_trans)
