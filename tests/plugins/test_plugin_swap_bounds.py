"""``swapinfo`` and ``meminfo`` on a ``nr_swapfiles`` no kernel could have set.

``swap_info[]`` has ``MAX_SWAPFILES`` (32, ``include/linux/swap.h`` of 2.4.20) slots
and ``sys_swapon`` never raises ``nr_swapfiles`` past them. Both plugins walk the
slots below it: on an image saying 0x7fffffff they stop at the array's end and say,
in one line, what ``check`` reports as a finding.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_image import HostileImage, run_bounded

import vmintro
from vmintro.check import check_program

IMPOSSIBLE = 0x7FFFFFFF


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image = HostileImage(tmp_path_factory.mktemp("swap") / "nr_swapfiles")
    image.set("nr_swapfiles", IMPOSSIBLE)
    return image.save()


def test_check_finds_the_value_impossible(hostile: Path) -> None:
    messages = [f.message for f in check_program(vmintro.open(hostile))]
    assert messages == [f"nr_swapfiles is {IMPOSSIBLE:#x}, more than MAX_SWAPFILES (32)"]


@pytest.mark.parametrize(
    ("command", "last_line"),
    [("swapinfo", "  0  3:2"), ("meminfo", "Mem:  ")],
)
def test_the_plugins_stop_at_max_swapfiles(hostile: Path, command: str, last_line: str) -> None:
    proc = run_bounded("-c", command, str(hostile))
    assert proc.returncode == 1, proc.stderr
    (error,) = proc.stderr.splitlines()
    (finding,) = [f.message for f in check_program(vmintro.open(hostile))]
    address = vmintro.open(hostile).symbol("nr_swapfiles").address
    assert error == f"{command}: {finding} (at {address:#x})"
    # what was read before it, as every partial view shows it: the slot in use, the
    # Mem: line
    assert proc.stdout.splitlines()[-1].startswith(last_line), proc.stdout
