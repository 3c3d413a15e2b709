"""The helpers against oracles that do not share their code.

Each test runs on three images: the bundled demo, and HIGHMEM (1 GiB) and PAE builds
of the same scenario (``image_set``, built once per session). The oracles are the
generator's ``.truth.json`` (what the simulator recorded: each area, its frames, the
machine's layout), gdb (``gdb_facts.py``: lowmem structures as gdb's own DWARF and
core readers see them), drgn (``drgn_modules.py``: ``module_list``, which lives in
vmalloc memory gdb cannot read) and the 2.4.20 sources (constants written out in
the tests).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from drgn_child import drgn_child_json

import vmintro
from helpers.kernels import IMAGES, Kernel

HERE = Path(__file__).resolve().parent


_OPENED: dict[str, Kernel] = {}


@pytest.fixture(scope="session", params=IMAGES)
def kernel(request: pytest.FixtureRequest, image_set: dict[str, Path]) -> Kernel:
    name = request.param
    if name not in _OPENED:
        base = image_set[name]
        truth = json.loads(Path(f"{base}.truth.json").read_text())
        _OPENED[name] = Kernel(name, base, vmintro.open(base), truth)
    return _OPENED[name]


@pytest.fixture(scope="session")
def facts(
    kernel: Kernel, gdb: str, built_once: Callable[[str, Callable[[Path], Any]], Any]
) -> dict[str, Any]:
    """What gdb reads from the image (``gdb_facts.py``), once per test run (``built_once``)."""

    def read(_out: Path) -> dict[str, Any]:
        proc = subprocess.run(
            [gdb, "-batch", "-nx", f"{kernel.base}.vmlinux", f"{kernel.base}.vmcore"]
            + ["-x", str(HERE / "gdb_facts.py")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("FACTS ")]
        assert proc.returncode == 0 and len(lines) == 1, proc.stdout[-2000:] + proc.stderr
        return json.loads(lines[0].removeprefix("FACTS "))  # type: ignore[no-any-return]

    return built_once(f"gdb-facts-{kernel.name}", read)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def drgn_modules(kernel: Kernel, drgn_available: bool) -> dict[str, Any]:
    """``module_list`` as drgn reads it (``drgn_modules.py``)."""
    return drgn_child_json("helpers/drgn_modules.py", kernel.base)
