"""Post-mortem on a corrupt vmlist: every view shows what could be read, then the error.

The image is a machine of the vmlist-cycle exercise's scenario (not the exercise's own
image, where map and vmallocinfo are not allowed): its last area links back to an earlier one.
`vmlist` shows the areas read before the cycle; `map` (command line, -c, the
REPL, -o), `vmallocinfo` and `meminfo` must show the same areas (or every field
that needs no walk), then the same one-line error, and fail with status 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from exercise_machines import exercise_machine

ROOT = Path(__file__).resolve().parent.parent
IMAGE = exercise_machine("vmlist-cycle")
CYCLE = "vmlist: cycle: node at 0x"


def vmintro(*words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmintro.cli", *words], capture_output=True, text=True
    )


def failed_with_the_cycle(proc: subprocess.CompletedProcess[str], command: str) -> None:
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(command + CYCLE), line


@pytest.fixture(scope="module")
def areas_read() -> list[dict[str, int]]:
    """The areas before the cycle, as `vmlist --json` (which always showed them) has them."""
    proc = vmintro("--json", "-c", "vmlist", str(IMAGE))
    document = json.loads(proc.stdout)
    assert document["status"] == "error" and CYCLE in document["error"]
    (table,) = document["results"]
    # the json keeps the rows read, as the text shows them: every node before the loop closes
    from vmintro import open as open_image

    node, seen = open_image(IMAGE)["vmlist"], set()
    while node.value_() not in seen:
        seen.add(node.value_())
        node = node.next
    assert len(table["rows"]) == len(seen) >= 3
    return table["rows"]


def test_map_shows_the_areas_read_then_the_error(areas_read: list[dict[str, int]]) -> None:
    end = max(a["end"] for a in areas_read)
    for words in (["map", str(IMAGE)], ["-c", "map", str(IMAGE)]):
        proc = vmintro(*words)
        failed_with_the_cycle(proc, "vmintro: map: " if words[0] == "map" else "map: ")
        assert f"] {len(areas_read)} areas up to {end:08x}" in proc.stdout


def test_map_area_before_the_break_lists_its_frames(areas_read: list[dict[str, int]]) -> None:
    second = areas_read[1]
    proc = vmintro("map", str(IMAGE), "--area", f"{second['addr']:x}")
    failed_with_the_cycle(proc, "vmintro: map: ")
    assert f"vmalloc area {second['addr']:08x}-{second['end'] - 1:08x}" in proc.stdout


def test_map_svg_draws_the_areas_read(tmp_path: Path, areas_read: list[dict[str, int]]) -> None:
    for words in (["map", str(IMAGE), "-o"], ["-c", f"map -o {tmp_path / 'c.svg'}", str(IMAGE)]):
        out = tmp_path / ("m.svg" if words[0] == "map" else "c.svg")
        proc = vmintro(*words, str(out)) if words[0] == "map" else vmintro(*words)
        failed_with_the_cycle(proc, "vmintro: map: " if words[0] == "map" else "map: ")
        root = ET.fromstring(out.read_text())
        drawn = [e for e in root.iter() if e.get("class") == "area"]
        assert [int(e.get("data-addr"), 16) for e in drawn] == [a["addr"] for a in areas_read]
        (note,) = [e for e in root.iter() if e.get("class") == "error"]
        assert CYCLE in note.text


def test_vmallocinfo_lists_the_areas_read(areas_read: list[dict[str, int]]) -> None:
    proc = vmintro("-c", "vmallocinfo", str(IMAGE))
    failed_with_the_cycle(proc, "vmallocinfo: ")
    ranges = [line.split()[0] for line in proc.stdout.splitlines()[1:]]  # after the 2.6 note
    assert ranges == [f"{a['addr']:#010x}-{a['end']:#010x}" for a in areas_read]


def test_meminfo_needs_no_walk_of_vmlist() -> None:
    """2.4.20's meminfo has no vmalloc lines: the cycle does not reach it."""
    proc = vmintro("-c", "meminfo", str(IMAGE))
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[-2:]] == ["SwapTotal", "SwapFree"]
    pages = vmintro("-c", "p totalram_pages", str(IMAGE)).stdout.split()[-1]
    assert lines[3].split()[1] == str(int(pages) * 4)  # MemTotal, after the byte table
