"""Kernel dispatcher: the compiled kernels when present, else the pure-Python reference.

``EDGEQA_NO_EXTENSIONS=1`` forces the reference (yarl's switch). ``IMPLEMENTATION`` says which
one loaded ("c" or "python"); ``EXTENSIONS_WANTED`` whether the compiled one should have.
"""

from __future__ import annotations

import os

from edgeqa.metrics import reference

EXTENSIONS_WANTED: bool = not os.environ.get("EDGEQA_NO_EXTENSIONS")

ulaw_decode = reference.ulaw_decode
alaw_decode = reference.alaw_decode
frame_stats = reference.frame_stats
level_cdb = reference.level_cdb
leg_block = reference.leg_block
segment_block = reference.segment_block
vad_frames = reference.vad_frames
IMPLEMENTATION: str = "python"

if EXTENSIONS_WANTED:
    try:
        from edgeqa.metrics import _kernels_c
    except ImportError:  # not built: the reference is the same contract, only slower
        pass
    else:
        ulaw_decode = _kernels_c.ulaw_decode
        alaw_decode = _kernels_c.alaw_decode
        frame_stats = _kernels_c.frame_stats
        level_cdb = _kernels_c.level_cdb
        leg_block = _kernels_c.leg_block
        segment_block = _kernels_c.segment_block
        vad_frames = _kernels_c.vad_frames
        IMPLEMENTATION = "c"

__all__ = [
    "EXTENSIONS_WANTED",
    "IMPLEMENTATION",
    "alaw_decode",
    "frame_stats",
    "leg_block",
    "level_cdb",
    "segment_block",
    "ulaw_decode",
    "vad_frames",
]
