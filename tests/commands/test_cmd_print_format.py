"""``p/FMT`` prints as gdb's ``print/FMT`` does: real gdb on the demo image is the oracle."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from vmintro.commands import CommandError, UsageError, run
from vmintro.commands.render import render_text

DEMO = Path(__file__).resolve().parents[2] / "images" / "demo"

# (format letters, expression): integers of several widths and signs, pointers,
# structs, arrays of chars and of structs, addresses inside symbols
CASES = [
    ("xduotcaz", "vmlist->size"),
    ("xduotcaz", "vmlist"),
    ("xduotcaz", "-1"),
    ("xduotcaz", "0"),
    ("xduotcaz", "300"),
    ("cd", "200"),
    ("xduotcaz", "(char)200"),
    ("xduotc", "(unsigned char)200"),
    ("xduotz", "(short)-2"),
    ("xdz", "sizeof(struct page)"),
    ("xd", "*vmlist"),
    ("xa", "&vmlist"),
    ("a", "(char *)&cache_cache + 4"),
    ("xdc", "cache_cache.name"),
    ("x", "cache_cache"),
    ("x", "contig_page_data.node_zones[0].free_area"),
    ("u", "mem_map[0]"),
]
LINES = [f"p/{letter} {expr}" for letters, expr in CASES for letter in letters]


@pytest.fixture(scope="module")
def gdb_says(gdb: str) -> dict[str, str]:
    """What gdb prints after ``$N = `` for each line, with crash's pretty printing."""
    args = [gdb, "-batch", "-nx", f"{DEMO}.vmlinux", f"{DEMO}.vmcore", "-ex", "set print pretty on"]
    for i, line in enumerate(LINES):
        args += ["-ex", f"echo @@{i}\\n", "-ex", line]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    parts = re.split(r"^@@\d+\n", proc.stdout, flags=re.M)[1:]
    assert len(parts) == len(LINES), proc.stdout + proc.stderr
    values = [re.sub(r"^\$\d+ = ", "", part.strip()) for part in parts]
    return dict(zip(LINES, values, strict=True))


def _ours(prog, line: str) -> str:
    text = "\n".join(render_text(run(prog, line)))
    return re.sub(r"^(\w+ = )?\$\d+ = ", "", text)  # crash names a symbol: "vmlist = $1 = "


@pytest.mark.parametrize("line", LINES)
def test_p_fmt_prints_as_gdb(prog, gdb_says: dict[str, str], line: str) -> None:
    assert _ours(prog, line) == gdb_says[line]


def test_print_fmt_and_p_space_fmt_are_p_fmt(prog) -> None:
    assert _ours(prog, "print/x vmlist->size") == _ours(prog, "p/x vmlist->size") == "0x11000"
    assert _ours(prog, "p /x vmlist->size") == "0x11000"
    assert _ours(prog, "print /d vmlist") == _ours(prog, "p/d vmlist")


def test_bad_formats_are_refused(prog) -> None:
    for line, message in [
        ("p/q 1", 'undefined output format "q"'),
        ("p/xx 1", 'undefined output format "xx"'),
        ("p/x -d 1", "not both"),
        ("vtop/x c4800000", "takes no /FMT"),
    ]:
        with pytest.raises(UsageError, match=message):
            run(prog, line)


def test_a_void_value_is_refused_in_gdbs_words(prog, gdb: str) -> None:
    """``p *(void *)ADDR`` names nothing to read: gdb's error, not an internal one."""
    line = "p *(void *)vmlist"
    proc = subprocess.run(
        [gdb, "-batch", "-nx", f"{DEMO}.vmlinux", f"{DEMO}.vmcore", "-ex", line],
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = [s for s in proc.stderr.splitlines() if s.strip() and "registers" not in s]
    with pytest.raises(CommandError) as e:
        run(prog, line)
    assert said == [str(e.value).removeprefix("p: ")]
