"""The call plot (`edgeqa analyze --plot`) as an analyst reads it: checked on the figure's
artists, not on pixels. The header's numbers are the summary's; the legend names every mark;
the threshold lines sit at the spec's levels (the clip line at 0.99 × the codec's maximum);
each alert is a bar over the span it was judged on; no alert label overlaps another or a trace.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeqa.analyze.offline import CallAudio, load_stereo, run_call
from edgeqa.metrics.config import MetricsConfig
from tests.support.paths import CALLS, CALLS_HARD
from tests.support.unavailable import unavailable

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # the plot extra: `make setup` installs it, so CI must have it
    plt = None

#: The alert band's labels may not come closer than this to each other, in pixels.
MIN_GAP_PX = 1.0


@pytest.fixture(autouse=True)
def _matplotlib() -> None:
    _need_matplotlib()


def _need_matplotlib() -> None:
    if plt is None:
        unavailable("matplotlib (pip install 'edgeqa[plot]')")


def _call(path: Path) -> tuple[CallAudio, dict[str, Any]]:
    audio = load_stereo(path)
    return audio, run_call(audio)


@pytest.fixture(scope="module", params=["echo", "hot_line", "long", "hot_line.ulaw"])
def drawn(request: pytest.FixtureRequest) -> Iterator[tuple[Any, dict[str, Any], str]]:
    _need_matplotlib()
    from edgeqa.analyze.plot import draw_call

    audio, summary = _call(CALLS_HARD / f"{request.param}.wav")
    fig = draw_call(audio, summary, request.param)
    fig.canvas.draw()
    yield fig, summary, request.param
    plt.close(fig)


def _by_gid(fig: Any, prefix: str) -> dict[str, Any]:
    return {a.get_gid(): a for a in fig.findobj() if str(a.get_gid() or "").startswith(prefix)}


def test_the_header_numbers_are_the_summary_s(drawn: tuple[Any, dict[str, Any], str]) -> None:
    fig, summary, _ = drawn
    (header,) = _by_gid(fig, "header").values()
    text = header.get_text()
    m = re.search(r"duration ([\d.]+) s.*talk ratio (\d+) % agent \(agent's share of all "
                  r"talk\).*dead air (\d+).*talk-over (\d+).*alerts (\d+)", text)
    assert m, text
    assert float(m[1]) == round(summary["duration_s"], 1)
    assert int(m[2]) == round(100 * summary["talk_ratio"])
    assert int(m[3]) == len(summary["dead_air"])
    assert int(m[4]) == len(summary["talk_over"]) == summary["talk_over_summary"]["count"]
    assert int(m[5]) == len(summary["alerts"])


def test_the_legend_names_each_mark(drawn: tuple[Any, dict[str, Any], str]) -> None:
    fig, summary, name = drawn
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    for leg in ("customer", "agent"):
        data = summary["legs"][leg]
        key = "speech" if data.get("speech_level_dbov") is not None else "active"
        assert f"{leg} level ({key} {data[key + '_level_dbov']:.1f} dBov)" in labels
    for want in ("customer speech", "agent speech",
                 "dead air (≥ 5 s mutual silence)", "talk-over (both talking ≥ 0.5 s)",
                 "hold", "paused for PCI", "gap (no audio)", "too loud ≥ -16 dBov",
                 "too quiet ≤ -36 dBov", "frame with clipped samples"):
        assert want in labels, (want, labels)
    maximum = 32124 if name.endswith("ulaw") else 32767
    assert [x for x in labels if x.startswith("clipping")] == [
        f"clipping: peak ≥ 0.99 × {maximum} ({'ulaw' if maximum == 32124 else 'pcm16'})"]


def test_threshold_lines_at_the_spec_s_levels(drawn: tuple[Any, dict[str, Any], str]) -> None:
    fig, _, name = drawn
    lines = _by_gid(fig, "threshold-")
    ys = {gid: set(line.get_ydata()) for gid, line in lines.items()}
    # |x| >= 0.99 * codec_max, as an integer sample: 32440 (linear), 31803 (µ-law).
    clip = ("threshold-clipping-ulaw", 31803) if name.endswith("ulaw") \
        else ("threshold-clipping-pcm16", 32440)
    assert ys == {"threshold-too_quiet": {-36.0}, "threshold-too_loud": {-16.0},
                  clip[0]: {20 * math.log10(clip[1] / 32768)}}


def _expected_span(alert: dict[str, Any], summary: dict[str, Any]) -> tuple[float, float]:
    """The span each alert type is judged over, as docs/analyze-output.md says."""
    at = alert["at"]
    if alert["type"] == "clipping":
        return max(0.0, at - 10.0), at
    if alert["type"] in ("too_loud", "too_quiet"):
        return min(summary["legs"][alert["leg"]]["speech_segments"][0][0], at), at
    if alert["type"] not in ("dead_air", "talk_over"):
        return at, at
    events = [e for e in summary[alert["type"]] if e["start"] <= at <= e["end"] + 0.02]
    # none: the cumulative talk-over alert, which no single overlap crossed
    return (events[0]["start"], at) if events else (at, at)


def _assert_spans(fig: Any, summary: dict[str, Any]) -> None:
    spans = _by_gid(fig, "alert-span-")
    assert len(spans) == len(summary["alerts"])
    for i, alert in enumerate(summary["alerts"]):
        bar = spans[f"alert-span-{i}"]
        start, end = _expected_span(alert, summary)
        assert bar.get_x() == pytest.approx(start, abs=1e-6), (alert, bar.get_x())
        assert bar.get_x() + bar.get_width() == pytest.approx(end, abs=1e-6), alert
    level = _by_gid(fig, "alert-level-span-")
    assert sorted(level) == sorted(f"alert-level-span-{i}" for i, a in enumerate(
        summary["alerts"]) if a["type"] in ("too_loud", "too_quiet"))
    for gid, patch in level.items():
        alert = summary["alerts"][int(gid.rsplit("-", 1)[1])]
        assert (patch.get_x(), patch.get_x() + patch.get_width()) == pytest.approx(
            _expected_span(alert, summary))
        # on the alert's side of its threshold
        if alert["type"] == "too_loud":
            assert patch.get_y() == -16.0 and patch.get_height() > 0
        else:
            assert patch.get_y() + patch.get_height() == -36.0 and patch.get_height() > 0


def test_each_alert_is_a_bar_over_its_span(drawn: tuple[Any, dict[str, Any], str]) -> None:
    fig, summary, _ = drawn
    _assert_spans(fig, summary)


def _label_boxes(fig: Any) -> list[Any]:
    renderer = fig.canvas.get_renderer()
    labels = _by_gid(fig, "alert-label-")
    return [labels[k].get_window_extent(renderer) for k in sorted(labels)]


def _assert_labels_clear(fig: Any, n_alerts: int) -> None:
    boxes = _label_boxes(fig)
    assert len(boxes) == n_alerts
    band, levels, segments = fig.axes[:3]
    band_box = band.get_window_extent()
    for i, a in enumerate(boxes):
        # inside the alert band: off the traces, and inside the figure
        assert band_box.x0 <= a.x0 and a.x1 <= band_box.x1, (i, a, band_box)
        assert band_box.y0 <= a.y0 and a.y1 <= band_box.y1, (i, a, band_box)
        for ax in (levels, segments):
            assert not a.overlaps(ax.get_window_extent()), i
        for j, b in enumerate(boxes[:i]):
            apart = (a.x0 >= b.x1 + MIN_GAP_PX or b.x0 >= a.x1 + MIN_GAP_PX
                     or a.y0 >= b.y1 or b.y0 >= a.y1)
            assert apart, (i, j, a, b)


def test_alert_labels_meet_nothing(drawn: tuple[Any, dict[str, Any], str]) -> None:
    fig, summary, _ = drawn
    _assert_labels_clear(fig, len(summary["alerts"]))


def test_crowded_alerts_stay_apart_and_in_the_band(tmp_path: Path) -> None:
    from edgeqa.analyze.plot import draw_call, plot_call

    audio, summary = _call(CALLS / "dead_air_noise.wav")
    kinds = ["clipping", "too_loud", "too_quiet", "talk_over", "dead_air"]
    summary["alerts"] = [
        {"type": kinds[i % 5], "severity": "warn", "at": round(0.3 * i, 3),
         "leg": "agent" if i % 5 < 3 else None, "value": 1.0}
        for i in range(15)] + [
        {"type": "clipping", "severity": "warn", "at": summary["duration_s"], "leg": "customer",
         "value": 0.5}, {"type": "a_future_alert_type_with_a_name_as_wide_as_half_the_band_"
                           "or_more_" * 2, "severity": "info", "at": 30.0, "leg": None,
                           "value": None}]
    fig = draw_call(audio, summary, "crowded")
    try:
        fig.canvas.draw()
        _assert_labels_clear(fig, 17)
        _assert_spans(fig, summary)
    finally:
        plt.close(fig)
    out = tmp_path / "crowded.png"
    plot_call(audio, summary, out, "crowded")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_thresholds_follow_the_config() -> None:
    from edgeqa.analyze.plot import draw_call

    audio, summary = _call(CALLS / "levels.wav")
    fig = draw_call(audio, summary, config=MetricsConfig(too_quiet_dbov=-40.0,
                                                         too_loud_dbov=-12.0))
    try:
        ys = {gid: set(line.get_ydata()) for gid, line in _by_gid(fig, "threshold-t").items()}
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
    finally:
        plt.close(fig)
    assert ys == {"threshold-too_quiet": {-40.0}, "threshold-too_loud": {-12.0}}
    assert "too loud ≥ -12 dBov" in labels and "too quiet ≤ -40 dBov" in labels


def test_the_clip_line_follows_each_leg_s_codec_max() -> None:
    from edgeqa.analyze.plot import draw_call

    audio, summary = _call(CALLS_HARD / "hot_line.wav")
    summary["legs"]["agent"]["codec_max"] = 32124  # G.711 µ-law recognised in PCM16
    fig = draw_call(audio, summary)
    try:
        ys = {gid: set(line.get_ydata()) for gid, line in _by_gid(fig, "threshold-c").items()}
    finally:
        plt.close(fig)
    assert ys == {"threshold-clipping-pcm16": {20 * math.log10(32440 / 32768)},
                  "threshold-clipping-ulaw": {20 * math.log10(31803 / 32768)}}
