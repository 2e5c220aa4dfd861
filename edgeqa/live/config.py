"""The [live] section: ARI taps of each connected call into a loopback RTP receiver."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """Live per-leg metrics: ARI taps of each connected call into a loopback RTP receiver."""

    enabled: bool
    rtp_port: int
    jitter_depth_packets: int
    max_calls: int
    stasis_timeout_s: float
    tick_s: float
    #: Each tapped call's summary so far is kept in the store this often (call time): what
    #: a killed daemon loses of a call is at most this long; with more than 4 x this many
    #: calls, calls / 4 s (edgeqa.live.service MAX_CHECKPOINTS_PER_S).
    checkpoint_interval_s: float = 5.0
    #: How each leg's audio reaches the daemon (TAP_MODES): "capture" the phones' RTP on the
    #: host (edgeqa/live/capture_tap.py), "snoop" an ARI snoop per leg (edgeqa/live/taps.py),
    #: "auto" capture where it can see the media, else snoop (docs/asterisk.md#the-capture-tap).
    tap: str = "auto"
    #: The UDP destination ports captured: Asterisk's RTP range (rtp.conf rtpstart/rtpend).
    capture_port_start: int = 10000
    capture_port_end: int = 20000
    #: The snoop tap's wire format (SNOOP_FORMATS): "slin", 8 kHz, carries a G.711 leg's own
    #: decoded values (its clips stay at the law's maximum) with no resampling; "slin16" keeps
    #: a wideband leg's upper band, but Asterisk upsamples a G.711 leg to it, which smooths
    #: its clipped plateaus (docs/metrics.md, codec maximum).
    snoop_format: str = "slin"


TAP_MODES = ("auto", "capture", "snoop")
SNOOP_FORMATS = ("slin", "slin16")
#: [live] max_calls: calls analysed at once. Capture costs Asterisk nothing measurable; the
#: daemon's capture path (ring, engine, analysis; bench/bench_capture.py, 10 s, 0 loss) took
#: 10 % of a core at 500 legs, 17 % at 1,000 and 30 % at 2,000 (118 MB RSS), and the whole
#: daemon 1.9 % at 60 calls on the switch (bench_switch: 7 % of Asterisk's). The limit is
#: 2,000 legs (the engine's one-core target); the default, 500 calls, leaves the core half free.
MAX_CALLS_DEFAULT = 500
MAX_CALLS_LIMIT = 1000
#: Of those, calls on the snoop tap (tap = "snoop", or the fallback of "auto") at most: each
#: costs Asterisk about 0.7 % of a core and 4 RTP ports (docs/asterisk.md#what-monitoring-costs).
MAX_SNOOP_CALLS = 50
