"""Ingest engine dispatcher: the compiled engine when present, else the pure-Python reference.

As edgeqa.metrics.kernels: ``EDGEQA_NO_EXTENSIONS=1`` forces the reference; ``IMPLEMENTATION``
says which one loaded ("c" or "python"). Both are the contract of edgeqa.media.ingest, tested
equal in tests/parity/test_ingest_parity.py.
"""

from __future__ import annotations

import os

from edgeqa.media import ingest

EXTENSIONS_WANTED: bool = not os.environ.get("EDGEQA_NO_EXTENSIONS")

Ingest: type[ingest.Ingest] = ingest.Ingest
IMPLEMENTATION: str = "python"

if EXTENSIONS_WANTED:
    try:
        from edgeqa.media import _ingest_c  # type: ignore[attr-defined]
    except ImportError:  # not built: the reference is the same contract, only slower
        pass
    else:
        Ingest = _ingest_c.Ingest
        IMPLEMENTATION = "c"

__all__ = ["EXTENSIONS_WANTED", "IMPLEMENTATION", "Ingest"]
