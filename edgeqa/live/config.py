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
    #: a killed daemon loses of a call is at most this long.
    checkpoint_interval_s: float = 5.0
