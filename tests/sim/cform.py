"""What the tests comparing a C form of vmintro/_simspeedups.c with its Python form
need first: the extension, without which they skip (or fail, where CI says it must
have been built)."""

from __future__ import annotations

import os

import pytest

from vmintro.accel import simspeedups

REQUIRED = bool(os.environ.get("VMINTRO_REQUIRE_SPEEDUPS")) and not os.environ.get(
    "VMINTRO_PURE_PYTHON"
)


def require_c_form() -> None:
    """Called by such a test module as it is imported."""
    if simspeedups is None:
        if REQUIRED:
            pytest.fail("VMINTRO_REQUIRE_SPEEDUPS is set but vmintro._simspeedups is not there")
        pytest.skip("vmintro._simspeedups was not built", allow_module_level=True)
