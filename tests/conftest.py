"""Shared test fixtures: the oracle programs (gdb, drgn) and generated images.

How a missing oracle is handled (a skip, or in CI a failure) is in ``oracles.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from oracles import import_oracle, need_oracle

from vmintro.generate import generate

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "images" / "demo"


@pytest.fixture(scope="session")
def gdb() -> str:
    path = shutil.which("gdb")
    need_oracle("gdb", path is not None)
    assert path is not None
    return path


@pytest.fixture(scope="session")
def image_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo image plus HIGHMEM and PAE builds of the same scenario.

    The HIGHMEM machine has 1 GiB, more than the 896 MiB the kernel maps directly,
    so its HighMem zone has frames (vmalloc pages among them); the PAE one has 64 MiB.
    """
    out = tmp_path_factory.mktemp("images")
    images = {"demo": DEMO}
    machines = (("highmem", {"ram": 1 << 30, "highmem": True}), ("pae", {"pae": True}))
    for name, overrides in machines:
        generate(out / name, "demo", overrides)
        images[name] = out / name
    return images


@pytest.fixture(scope="session")
def drgn_available() -> bool:
    import_oracle("drgn")
    return True


@pytest.fixture(scope="session")
def process_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two 32 MiB machines with processes, 2-level and PAE (``process_images.py``):
    each a :class:`process_images.ProcessImage` holding what the simulator did."""
    from process_images import build_process_image

    out = tmp_path_factory.mktemp("processes")
    return {name: build_process_image(out / name, name == "pae") for name in ("2level", "pae")}
