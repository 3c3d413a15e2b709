"""The oracle programs (gdb, drgn, volatility3, cairosvg): skipped where absent, required in CI.

A module of its own name, not ``conftest``: several directories under tests/ have
a ``conftest.py``, and ``from conftest import ...`` can reach the wrong one.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

# CI sets this: an oracle that is missing there is a failure, not a skip.
REQUIRE_ORACLES = os.environ.get("VMINTRO_REQUIRE_ORACLES") == "1"


def need_oracle(name: str, available: bool) -> None:
    """Return if ``name`` is available; else skip the test, or fail it when CI requires oracles."""
    if available:
        return
    if REQUIRE_ORACLES:
        pytest.fail(f"{name} is required (VMINTRO_REQUIRE_ORACLES=1) but not available")
    pytest.skip(f"{name} is not installed")


def import_oracle(module: str) -> ModuleType:
    """The oracle ``module``, imported; when it cannot be, :func:`need_oracle` decides."""
    try:
        return importlib.import_module(module)
    except (ImportError, OSError):  # OSError: cairosvg without its C library, libcairo
        need_oracle(module, False)
        raise
