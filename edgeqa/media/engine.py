"""Ingest engine dispatcher: the compiled engine when present, else the pure-Python reference.

The same switch as edgeqa.metrics.kernels (``EDGEQA_NO_EXTENSIONS=1`` forces the reference);
``IMPLEMENTATION`` says which one loaded ("c" or "python"). Both are the contract of
edgeqa.media.ingest, tested equal in tests/parity/test_ingest_parity.py.
"""

from __future__ import annotations

from edgeqa.media import ingest
from edgeqa.metrics.kernels import EXTENSIONS_WANTED, load_extension

Ingest: type[ingest.Ingest] = ingest.Ingest
IMPLEMENTATION: str = "python"

_ingest_c = load_extension("edgeqa.media._ingest_c")
if _ingest_c is not None:
    Ingest = _ingest_c.Ingest
    IMPLEMENTATION = "c"

__all__ = ["EXTENSIONS_WANTED", "IMPLEMENTATION", "Ingest"]
