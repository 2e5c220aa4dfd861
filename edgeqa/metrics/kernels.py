"""Kernel dispatcher: the compiled kernels when present, else the pure-Python reference.

``EDGEQA_NO_EXTENSIONS=1`` forces the reference (yarl's switch). ``IMPLEMENTATION`` says which
one loaded ("c" or "python"); ``EXTENSIONS_WANTED`` whether the compiled one should have.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from edgeqa.metrics import reference

EXTENSIONS_WANTED: bool = not os.environ.get("EDGEQA_NO_EXTENSIONS")


def load_extension(name: str) -> ModuleType | None:
    """The compiled module ``name``, or None if unwanted (EDGEQA_NO_EXTENSIONS) or not built
    (the reference is the same contract, only slower)."""
    if not EXTENSIONS_WANTED:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


ulaw_decode = reference.ulaw_decode
alaw_decode = reference.alaw_decode
frame_stats = reference.frame_stats
level_cdb = reference.level_cdb
leg_block = reference.leg_block
segment_block = reference.segment_block
vad_frames = reference.vad_frames
g711_match = reference.g711_match
frame_prefix = reference.frame_prefix
echo_gate = reference.echo_gate
IMPLEMENTATION: str = "python"

_kernels_c = load_extension("edgeqa.metrics._kernels_c")
if _kernels_c is not None:
    ulaw_decode = _kernels_c.ulaw_decode
    alaw_decode = _kernels_c.alaw_decode
    frame_stats = _kernels_c.frame_stats
    level_cdb = _kernels_c.level_cdb
    leg_block = _kernels_c.leg_block
    segment_block = _kernels_c.segment_block
    vad_frames = _kernels_c.vad_frames
    g711_match = _kernels_c.g711_match
    frame_prefix = _kernels_c.frame_prefix
    echo_gate = _kernels_c.echo_gate
    IMPLEMENTATION = "c"

__all__ = [
    "EXTENSIONS_WANTED",
    "IMPLEMENTATION",
    "alaw_decode",
    "echo_gate",
    "frame_prefix",
    "frame_stats",
    "g711_match",
    "leg_block",
    "level_cdb",
    "load_extension",
    "segment_block",
    "ulaw_decode",
    "vad_frames",
]
