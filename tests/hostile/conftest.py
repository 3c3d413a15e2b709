"""Fixtures of the hostile-input suite: gdb with vmintro's extension loaded."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from oracles import need_oracle


@pytest.fixture(scope="session")
def gdb_loader(tmp_path_factory: pytest.TempPathFactory, gdb: str) -> tuple[str, Path]:
    """gdb, and the file ``vmintro gdb-script`` writes to load the extension into it.

    As in tests/test_gdb_extension.py: when gdb's Python lacks vmintro's dependencies
    the gdb runs are skipped, or fail where oracles are required.
    """
    out = tmp_path_factory.mktemp("gdb") / "vmintro-gdb.py"
    subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "gdb-script", "-o", str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    probe = subprocess.run(
        [gdb, "-batch", "-nx", "-x", str(out)], capture_output=True, text=True, timeout=60
    )
    missing = re.search(r"ImportError: (vmintro needs .*)", probe.stderr)
    need_oracle(f"gdb's Python with vmintro's dependencies ({missing and missing[1]})", not missing)
    works = subprocess.run(
        [gdb, "-batch", "-nx", "-x", str(out), "-ex", "help vm"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "vmlist" in works.stdout, works.stdout + works.stderr
    return gdb, out
