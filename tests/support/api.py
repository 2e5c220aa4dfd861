"""The daemon as the API handlers read it, for API tests that do not need its live model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class FakeView:
    """No calls; health ok."""

    def calls_snapshot(self) -> Mapping[str, Any]:
        return {"calls": []}

    def health(self) -> Mapping[str, Any]:
        return {"status": "ok"}
