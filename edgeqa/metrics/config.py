"""Metric thresholds (spec/metrics.md defaults), with units in every name."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeqa.metrics.events import Severity

#: One frame is 20 ms at every rate (spec: "Frame = 20 ms").
FRAME_MS = 20
#: Sample rates the analyzers accept.
SAMPLE_RATES = (8000, 16000)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """Every tunable of the metrics layer; defaults are the spec's."""

    segment_bridge_ms: int = 400
    min_segment_ms: int = 100
    dead_air_min_s: float = 5.0
    #: (seconds of silence, severity) at which a dead_air alert fires.
    dead_air_alerts_s: tuple[tuple[float, Severity], ...] = field(
        default=((5.0, "info"), (10.0, "warn"), (30.0, "alert")))
    talk_over_min_ms: int = 500
    talk_over_both_ms: int = 100
    talk_over_alert_single_s: float = 3.0
    talk_over_alert_total_s: float = 10.0
    too_quiet_dbov: float = -36.0
    too_loud_dbov: float = -16.0
    level_min_speech_s: float = 10.0
    clip_alert_ratio: float = 0.001
    clip_window_s: int = 10
    p56_time_constant_s: float = 0.03
    p56_hangover_s: float = 0.2
    p56_margin_db: float = 15.9
    # Voice detection: webrtcvad behind a per-leg noise-floor gate.
    vad_mode: int = 2
    gate_margin_db: float = 8.0
    gate_abs_dbov: float = -55.0
    floor_rise_db_per_s: float = 3.0
    #: A call that starts talking must not take its first words for the noise floor.
    floor_init_max_dbov: float = -50.0
    #: webrtcvad keeps saying "speech" for 80-160 ms after a burst; segments lose this much.
    vad_end_trim_ms: int = 0
    #: The gate hides the faint onset and decay of words under the noise floor; every run of
    #: speech frames is widened by this much on each side before bridging.
    speech_pad_ms: int = 40
    # What is not the leg's own talker (spec v1.1; docs/metrics.md "Echo, babble and tones").
    #: A frame this far below the other leg's loudest frame within echo_window_ms is its echo.
    echo_margin_db: float = 15.0
    #: How far back the other leg may be the echo's source (the spec's 250 ms, in whole frames).
    echo_window_ms: int = 260
    #: A frame this far below the leg's own talker level (a peak follower) is background babble.
    babble_margin_db: float = 20.0
    #: The talker level falls this fast while the leg's frames pass (it holds in silence).
    talk_level_decay_db_per_s: float = 0.5
    #: A frame whose order-4 linear prediction gain reaches this is tonal.
    tone_gain_db: float = 19.0
    #: Tonal frames in a row that make a tone (steady: a vowel rarely stays this exact).
    tone_min_ms: int = 20
    #: Frames this long after a tone are tone too (the cut onset of the next DTMF digit).
    tone_hang_ms: int = 160
    #: A frame every gate passes, this far above the noise floor and at most sure_talk_db
    #: below the talker level, is speech without asking webrtcvad (0: always ask).
    sure_floor_db: float = 20.0
    sure_talk_db: float = 15.0

    def __post_init__(self) -> None:
        """Reject values that would make the analyzers meaningless."""
        for name in ("segment_bridge_ms", "min_segment_ms", "talk_over_min_ms"):
            if getattr(self, name) < FRAME_MS:
                raise ValueError(f"{name} must be at least {FRAME_MS} ms")
        if self.dead_air_min_s <= 0 or self.clip_window_s <= 0:
            raise ValueError("dead_air_min_s and clip_window_s must be positive")
        if not 0 <= self.vad_mode <= 3:
            raise ValueError("vad_mode must be 0..3 (webrtcvad aggressiveness)")
        if self.vad_end_trim_ms < 0 or self.vad_end_trim_ms >= self.min_segment_ms:
            raise ValueError("vad_end_trim_ms must be in [0, min_segment_ms)")
        if not 0 <= self.speech_pad_ms <= self.segment_bridge_ms:
            raise ValueError("speech_pad_ms must be in [0, segment_bridge_ms]")
        if not 0 <= self.echo_window_ms <= 1000:
            raise ValueError("echo_window_ms must be in [0, 1000]")
        for name in ("echo_margin_db", "babble_margin_db", "tone_gain_db", "sure_floor_db",
                     "sure_talk_db"):
            if not 0 <= getattr(self, name) <= 120:
                raise ValueError(f"{name} must be in [0, 120] dB (0: off)")
        if not 0 <= self.talk_level_decay_db_per_s <= 100:
            raise ValueError("talk_level_decay_db_per_s must be in [0, 100]")
        if not FRAME_MS <= self.tone_min_ms <= 10_000 or not 0 <= self.tone_hang_ms <= 10_000:
            raise ValueError("tone_min_ms must be in [20, 10000] and tone_hang_ms in [0, 10000]")
