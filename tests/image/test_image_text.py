"""Names read from image memory are escaped wherever they are shown.

Before, a zone or module name holding an escape sequence retitled or cleared
the terminal, control bytes made the SVG invalid XML, and a zone name that
was not UTF-8 broke ``map --area``. The image here is the demo with the
Normal zone's name and the ext3 module's name overwritten in its core.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from core_edit import write_phys
from hostile_files import DEMO, HANG_GUARD, copy_demo, run_vmintro

import vmintro
from vmintro.arch.x86 import PAGE_OFFSET
from vmintro.escape import escape_text
from vmintro.helpers import for_each_zone, zone_name
from vmintro.helpers.module import for_each_module, module_name

ZONE = b"\x1b]0;pwned\x07\x1b[2J\xff"  # retitle, bell, clear screen, not UTF-8
ZONE_SHOWN = r"\x1b]0;pwned\x07\x1b[2J\xff"
MODULE = b"\x1b]0;x\x07\xfe\x1b[2J"
MODULE_SHOWN = r"\x1b]0;x\x07\xfe\x1b[2J"
RAW = ("\x1b", "\x07", "\udcff", "\udcfe")  # what must never reach the output


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (b"Normal", "Normal"),
        (ZONE, ZONE_SHOWN),
        (b"caf\xc3\xa9 \\x41", "café \\x41"),
        ("a\u202eb\u2028c\td", r"a\xe2\x80\xaeb\xe2\x80\xa8c\x09d"),
        (b"\xed\xa0\x80", r"\xed\xa0\x80"),
    ],
)
def test_escape_text(text: bytes | str, shown: str) -> None:
    assert escape_text(text) == shown
    assert escape_text(shown) == shown  # escaping twice changes nothing


@pytest.fixture(scope="module")
def names(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo image with hostile names for ZONE_NORMAL and the ext3 module."""
    base = copy_demo(tmp_path_factory.mktemp("names"), "names")
    core = Path(f"{base}.vmcore")
    prog = vmintro.open(DEMO)
    normal = list(for_each_zone(prog))[1]
    assert zone_name(normal) == "Normal"
    # "Normal\0\0HighMem\0" in the kernel image: 16 bytes to write over
    write_phys(core, normal.name.value_() - PAGE_OFFSET, ZONE + b"\0")
    ext3 = next(m for m in for_each_module(prog) if module_name(m) == "ext3")
    # "ext3\0ext3_sym0\0" in the module's vmalloc area
    write_phys(core, prog.translate(ext3.name.value_()), MODULE + b"\0")
    return base


def _assert_safe(text: str) -> None:
    for raw in RAW:
        assert raw not in text, repr(text)


def test_helpers_give_escaped_names(names: Path) -> None:
    prog = vmintro.open(names)
    assert [zone_name(z) for z in for_each_zone(prog)][:2] == ["DMA", ZONE_SHOWN]
    assert MODULE_SHOWN in [module_name(m) for m in for_each_module(prog)]


def test_commands_print_escaped_names(names: Path) -> None:
    proc = run_vmintro("-c", "kmem -f; buddyinfo; meminfo; modules; check", str(names))
    assert "Traceback" not in proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    _assert_safe(proc.stdout + proc.stderr)
    assert f"   1  {ZONE_SHOWN}  " in proc.stdout  # kmem -f's zone line
    assert f"Node 0, zone {ZONE_SHOWN} " in proc.stdout  # buddyinfo
    assert proc.stdout.count(MODULE_SHOWN) >= 1  # modules


def test_json_carries_the_escaped_string(names: Path) -> None:
    proc = run_vmintro("--json", "-c", "kmem -f; modules", str(names))
    _assert_safe(proc.stdout)
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    rows = [row for doc in docs for part in doc["results"] for row in part.get("rows", [])]
    assert [r["name"] for r in rows if r.get("index") == 1] == [ZONE_SHOWN]  # kmem -f
    assert MODULE_SHOWN in [r.get("name") for r in rows]  # modules


def test_map_text_and_svg(names: Path, tmp_path: Path) -> None:
    area = f"{vmintro.open(DEMO)['vmlist'].addr.value_():x}"
    proc = run_vmintro("map", str(names), "--area", area)
    assert proc.returncode == 0, proc.stderr
    _assert_safe(proc.stdout)
    assert ZONE_SHOWN in proc.stdout
    out = tmp_path / "area.svg"
    proc = run_vmintro("map", str(names), "--area", area, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    svg = ET.parse(out).getroot()  # well-formed XML
    shown = {el.get("data-name") for el in svg.iter() if el.get("class") == "zone"}
    assert ZONE_SHOWN in shown


def test_check_batch_output_is_escaped(names: Path) -> None:
    proc = run_vmintro("check", str(names), str(DEMO))
    _assert_safe(proc.stdout)
    assert f"{DEMO}: clean" in proc.stdout.splitlines()


def test_gdb_vm_prints_escaped_names(gdb_loader: tuple[str, Path], names: Path) -> None:
    gdb, script = gdb_loader  # the file 'vmintro gdb-script' writes (tests/conftest.py)
    proc = subprocess.run(
        [gdb, "-batch", "-nx", "-x", str(script), f"{names}.vmlinux", f"{names}.vmcore",
         "-ex", "vm kmem -f"],
        capture_output=True, text=True, errors="surrogateescape", timeout=HANG_GUARD,
    )  # fmt: skip
    if "vmintro needs" in proc.stderr:
        pytest.skip("gdb's Python lacks vmintro's dependencies")
    assert "Python Exception" not in proc.stderr
    _assert_safe(proc.stdout)
    assert f"   1  {ZONE_SHOWN}  " in proc.stdout
