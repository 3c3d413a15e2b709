"""Shared test fixtures: the oracle programs (gdb, drgn) and generated images."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from vmintro.generate import generate

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "images" / "demo"

# CI sets this: an oracle that is missing there is a failure, not a skip.
REQUIRE_ORACLES = os.environ.get("VMINTRO_REQUIRE_ORACLES") == "1"


def need_oracle(name: str, available: bool) -> None:
    if available:
        return
    if REQUIRE_ORACLES:
        pytest.fail(f"{name} is required (VMINTRO_REQUIRE_ORACLES=1) but not available")
    pytest.skip(f"{name} is not installed")


@pytest.fixture(scope="session")
def gdb() -> str:
    path = shutil.which("gdb")
    need_oracle("gdb", path is not None)
    assert path is not None
    return path


@pytest.fixture(scope="session")
def image_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo image plus small HIGHMEM and PAE builds of the same scenario."""
    out = tmp_path_factory.mktemp("images")
    images = {"demo": DEMO}
    for name, overrides in (("highmem", {"highmem": True}), ("pae", {"pae": True})):
        generate(out / name, "demo", overrides)
        images[name] = out / name
    return images


@pytest.fixture(scope="session")
def drgn_available() -> bool:
    try:
        import drgn  # noqa: F401
    except ImportError:
        need_oracle("drgn", False)
    return True

