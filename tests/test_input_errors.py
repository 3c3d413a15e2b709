"""Bad input gets one line naming the problem and a failed status, never a traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import vmintro
from vmintro.program import Program
from vmintro.repl.runner import Runner

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "images" / "demo"
VMLIST_CYCLE = ROOT / "images" / "exercises" / "vmlist-cycle" / "vmlist-cycle"


@pytest.fixture(scope="module")
def prog() -> Program:
    return vmintro.open(DEMO)


def run(prog: Program, line: str) -> tuple[int, str, str]:
    """(status, stdout, stderr) of ``line`` in a fresh runner."""
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(prog, out=out, err=err)
    runner.run_line(line)
    return runner.status, out.getvalue(), err.getvalue()


def error_line(prog: Program, line: str, status: int = 1) -> str:
    """The one error line of ``line``, which must fail with ``status``."""
    got, _, err = run(prog, line)
    assert got == status, err
    assert "Traceback" not in err
    (message,) = err.splitlines()
    return message


# -- map ---------------------------------------------------------------------------------


def test_map_errors_are_one_line(prog: Program, tmp_path: Path) -> None:
    svg = tmp_path / "m.svg"
    assert error_line(prog, f"map --svg {svg} --area 0x1") == "map: 0x1 is in no vm area"
    assert (
        error_line(prog, f"map --svg {svg} --area zz") == 'map: no symbol "zz" in current context'
    )
    missing = tmp_path / "no" / "m.svg"
    assert error_line(prog, f"map --svg {missing}") == f"map: {missing}: No such file or directory"
    assert not svg.exists()


def test_map_of_a_corrupt_vmlist_is_one_line() -> None:
    message = error_line(vmintro.open(VMLIST_CYCLE), "map")
    assert message.startswith("map: vmlist: cycle: node at 0x")


def test_map_area_lists_the_frames_as_text(prog: Program) -> None:
    status, out, err = run(prog, "map --area c4811000")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("lowmem ")
    start = lines.index("VIRTUAL   PFN       PHYSICAL  ZONE")
    rows = lines[start + 1 : -1]
    assert rows[0].startswith("c4811000  ")
    for row in rows:
        va, pfn, phys, zone = row.split()
        assert prog.translate(int(va, 16)) == int(phys, 16) == int(pfn, 16) << 12
        assert zone in ("DMA", "Normal")
