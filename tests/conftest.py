"""Shared test fixtures: the oracle programs (gdb, drgn) and generated images.

How a missing oracle is handled (a skip, or in CI a failure) is in ``oracles.py``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
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
def gdb_loader(tmp_path_factory: pytest.TempPathFactory, gdb: str) -> tuple[str, Path]:
    """gdb, and the file the real ``vmintro gdb-script`` subcommand writes to load the
    extension into it: written and tried once per session, for every test that runs gdb
    with vmintro inside.

    When gdb's Python is another version than this one and lacks pyelftools, construct
    or numpy, the loader can only say so (its one-line ImportError, which
    tests/test_gdb_extension.py tests): then the tests that need vmintro inside gdb are
    skipped, or fail where oracles are required.
    """
    out = tmp_path_factory.mktemp("gdb") / "vmintro-gdb.py"
    made = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "gdb-script", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == str(out.resolve())
    works = subprocess.run(
        [gdb, "-batch", "-nx", "-x", str(out), "-ex", "help vm"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    missing = re.search(r"ImportError: (vmintro needs .*)", works.stderr)
    need_oracle(f"gdb's Python with vmintro's dependencies ({missing and missing[1]})", not missing)
    assert "vmlist" in works.stdout, works.stdout + works.stderr
    return gdb, out


@pytest.fixture(scope="session")
def demo_on(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``demo_on(name, **machine)``: the demo scenario generated on that machine (the
    overrides ``generate`` takes: ram, highmem, pae, ...) once per session, as
    ``DIR/name``; a later call for the same machine, from any test file, gets that image.
    The tests only read it. A machine with PAE has HIGHMEM (CONFIG_HIGHMEM64G), said or not.
    """
    made: dict[tuple[tuple[str, Any], ...], Path] = {}

    def demo(name: str, **machine: Any) -> Path:
        if machine.get("pae"):
            machine.setdefault("highmem", True)
        key = tuple(sorted(machine.items()))
        if key not in made:
            made[key] = tmp_path_factory.mktemp("demo") / name
            generate(made[key], "demo", machine)
        return made[key]

    return demo


@pytest.fixture(scope="session")
def image_set(demo_on: Callable[..., Path]) -> dict[str, Path]:
    """The demo image plus HIGHMEM and PAE builds of the same scenario.

    The HIGHMEM machine has 1 GiB, more than the 896 MiB the kernel maps directly,
    so its HighMem zone has frames (vmalloc pages among them); the PAE one has 64 MiB.
    """
    return {
        "demo": DEMO,
        "highmem": demo_on("highmem", ram=1 << 30, highmem=True),
        "pae": demo_on("pae", pae=True),
    }


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
