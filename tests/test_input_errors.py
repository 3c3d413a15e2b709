"""Bad input gets one line naming the problem and a failed status, never a traceback."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import vmintro
from vmintro.cmdline.runner import Runner
from vmintro.program import Program

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
    assert error_line(prog, f"map --svg {missing}") == (
        f"map: {missing}: there is no directory {str(missing.parent)!r}"
    )
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


# -- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("vtop 0x1ffffffff", "vtop: 0x1ffffffff is beyond 32 bits: not an address"),
        ("vtop 1ffffffff", "vtop: 0x1ffffffff is beyond 32 bits: not an address"),
        ("vtop -1", "vtop: -0x1 is negative: not an address"),
        ("vtop -0x10", "vtop: -0x10 is negative: not an address"),
        ("vtop vmlist-0xffffffff", "is negative: not an address"),
        ("vtop 0x100000000 - 1 + 1", "vtop: 0x100000000 is beyond 32 bits: not an address"),
        ("rd -p -1", "rd: -0x1 is negative: not an address"),
        ("rd -1", "rd: -0x1 is negative: not an address"),
        ("rd -p 0x1ffffffff", "rd: 0x1ffffffff is beyond 32 bits: not an address"),
        ("ptov -1", "ptov: -0x1 is negative: not an address"),
        ("ptov 0x100000000", "ptov: 0x100000000 is beyond 32 bits: not an address"),
        ("page 0x1ffffffff", "page: 0x1ffffffff is beyond 32 bits: not an address"),
        ("page -P -1", "page: -0x1 is negative: not an address"),
        ("kmem -p -1", "kmem: -0x1 is negative: not an address"),
        ("kmem -v 0x1ffffffff", "kmem: 0x1ffffffff is beyond 32 bits: not an address"),
        ("vmlist -1", "vmlist: -0x1 is negative: not an address"),
        ("struct vm_struct -1", "struct: -0x1 is negative: not an address"),
        ("sym 0x1ffffffff", "sym: 0x1ffffffff is beyond 32 bits: not an address"),
        ("list -1", "list: -0x1 is negative: not an address"),
        ("map --area 0x1ffffffff", "map: 0x1ffffffff is beyond 32 bits: not an address"),
    ],
)
def test_addresses_beyond_32_bits_or_negative(prog: Program, line: str, message: str) -> None:
    assert message in error_line(prog, line)


def test_negative_numbers_beside_numeric_options(prog: Program) -> None:
    # rd's -8 ... -64 stay options; another negative number is a bad argument
    status, out, _ = run(prog, "rd -8 vmlist")
    assert status == 0 and out.startswith("c")
    assert error_line(prog, "rd vmlist -1") == "rd: bad count -1"


def test_physical_addresses_under_pae_have_36_bits() -> None:
    from types import SimpleNamespace

    from vmintro.arch.x86 import paging_mode
    from vmintro.commands.argtypes import check_address
    from vmintro.commands.expr import ExprError

    pae = SimpleNamespace(paging=paging_mode(pae=True))
    assert check_address(pae, 0xF_FFFF_F000, physical=True) == 0xF_FFFF_F000  # type: ignore[arg-type]
    with pytest.raises(ExprError, match="beyond 36 bits"):
        check_address(pae, 1 << 36, physical=True)  # type: ignore[arg-type]
    with pytest.raises(ExprError, match="beyond 32 bits"):
        check_address(pae, 1 << 32)  # type: ignore[arg-type]
    two_level = SimpleNamespace(paging=paging_mode(pae=False))
    with pytest.raises(ExprError, match="beyond 32 bits"):
        check_address(two_level, 1 << 32, physical=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "physical"), [(0xC0000000, False), (0xC4811000, False), (0x1000, True)]
)
def test_a_negative_read_size_is_refused(prog: Program, address: int, physical: bool) -> None:
    with pytest.raises(ValueError, match="negative read size -1"):
        prog.read(address, -1, physical=physical)
    assert prog.read(address, 0, physical=physical) == b""


# -- a command's own bugs ----------------------------------------------------------------


@pytest.fixture
def raiser() -> Iterator[None]:
    """A command ``raiser KIND`` that raises an exception of the kind named."""
    from vmintro.commands.registry import CommandError, arg, command, unregister

    errors: dict[str, Exception] = {
        "key": KeyError("k"),
        "index": IndexError("list index out of range"),
        "lookup": LookupError("no such thing"),
        "value": ValueError("bad\nvalue"),
        "command": CommandError("cannot do that"),
    }

    @command("raiser", help="raise", args=[arg("kind")])
    def _raiser(prog: Program, args: argparse.Namespace) -> None:
        raise errors[args.kind]

    yield
    unregister("raiser")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("key", "raiser: internal error: KeyError: 'k'"),
        ("index", "raiser: internal error: IndexError: list index out of range"),
        ("lookup", "raiser: internal error: LookupError: no such thing"),
        ("value", "raiser: internal error: ValueError: bad value"),
        ("command", "raiser: cannot do that"),
    ],
)
def test_unexpected_exceptions_are_internal_errors(
    prog: Program, raiser: None, kind: str, message: str
) -> None:
    assert error_line(prog, f"raiser {kind}") == message
    # and the JSON document carries the same line
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(prog, out=out, err=err, json=True)
    runner.run_line(f"raiser {kind}")
    assert runner.status == 1
    assert json.loads(out.getvalue())["error"] == message


# -- pipes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("vmlist | cat > /dev/null", 0),
        ("vmlist | exit 3", 1),
        ("vmlist | grep no-such-line", 1),  # as the shell: grep found nothing
        ("vmlist --json | false", 1),
        ("rd vmlist | head -c 1 > /dev/null", 0),
    ],
)
def test_the_pipe_s_status_is_the_command_s(prog: Program, line: str, status: int) -> None:
    got, _, err = run(prog, line)
    assert (got, err) == (status, "")


def test_a_pipe_to_a_missing_command_fails_with_c() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "-c", "vmlist | nonexistcmd; sym vmlist", str(DEMO)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "nonexistcmd" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout.endswith("(B) vmlist\n")  # the next command still ran
