"""Fixtures shared by every test layer."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The directory of test data bundled with the repo (never ../shared)."""
    return DATA_DIR
