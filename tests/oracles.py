"""The oracle programs (gdb, drgn, volatility3, cairosvg): skipped where absent, required in CI.

A module of its own name, not ``conftest``: several directories under tests/ have
a ``conftest.py``, and ``from conftest import ...`` can reach the wrong one.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

GDB = "/usr/bin/gdb"

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


def run_gdb(files: list[Path], commands: list[str]) -> list[str]:
    """Run ``commands`` in one batch gdb on ``files``; return each command's output (stripped)."""
    need_oracle("gdb", os.access(GDB, os.X_OK))
    args = [GDB, "-batch", "-nx", *map(str, files)]
    for i, cmd in enumerate(commands):
        args += ["-ex", f"echo @@{i}@@\\n", "-ex", cmd]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    parts = re.split(r"^@@(\d+)@@\n", proc.stdout, flags=re.M)
    out = {int(parts[i]): parts[i + 1].strip() for i in range(1, len(parts), 2)}
    assert len(out) == len(commands), proc.stderr
    # The test cores carry no registers, which gdb mentions; anything else it
    # says on stderr (a DWARF complaint, a failed read) is a defect.
    noise = [
        line
        for line in proc.stderr.splitlines()
        if line.strip() and "general-purpose registers in core file" not in line
    ]
    assert noise == []
    return [out[i] for i in range(len(commands))]
