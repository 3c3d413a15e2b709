"""Fixtures of the explorer's tests."""

from __future__ import annotations

from typing import Any

import pytest
from support import demo_truth


@pytest.fixture(scope="session")
def truth() -> dict[str, Any]:
    return demo_truth()
