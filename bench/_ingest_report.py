"""The figures and the last line that bench_ingest.py and bench_capture.py print alike."""

from __future__ import annotations

from typing import Any


def figures(r: dict[str, Any], legs: int) -> tuple[float, float, float]:
    """(µs of CPU per packet received, loss in %, RSS growth in KiB per leg) of a run ``r``."""
    us = r["cpu"] / max(r["received"], 1) * 1e6
    loss = 100 * (1 - r["received"] / max(r["sent"], 1))
    per_leg_kib = (r["rss"] - r["rss0"]) * 1024 / max(legs, 1)
    return us, loss, per_leg_kib


def ingest_line(r: dict[str, Any], legs: int, floor_us: float) -> str:
    """``ingest legs=N sent=S received=R loss_pct=L cpu_pct=C us_per_packet=U
    floor_us_per_packet=F rss_mb=M`` (issue 9's format)."""
    us, loss, _ = figures(r, legs)
    return (f"ingest legs={legs} sent={r['sent']} received={r['received']} loss_pct={loss:.2f} "
            f"cpu_pct={100 * r['cpu'] / r['wall']:.1f} us_per_packet={us:.2f} "
            f"floor_us_per_packet={floor_us:.2f} rss_mb={r['rss']:.1f}")
