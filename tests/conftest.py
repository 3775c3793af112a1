"""Fixtures for every test module."""

from __future__ import annotations

import os
import sys

import pytest

from tests.corpus import AVAILABLE, MISSING


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI", "").lower() == "true" and not AVAILABLE:
        pytest.exit(f"error: {MISSING}", returncode=1)


@pytest.fixture(autouse=True)
def main_module_restored():
    """Streamlit's script runner (under AppTest too) makes the app script sys.modules["__main__"] and leaves it
    there. A process started later with multiprocessing's "spawn" would run that module first, so app.py (building
    the demo in ~/.portal) ran in test workers. Each test gets back the __main__ it started with."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main
