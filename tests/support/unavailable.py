"""What an integration test does when something it needs is missing: skip, but fail under CI."""

from __future__ import annotations

import os

import pytest


def unavailable(reason: str) -> None:
    """Skip the test for ``reason``; under CI (``CI=true``) fail it instead: CI runs as root
    with the sandbox, so a missing piece there is a defect, not a skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"unavailable: {reason}")
