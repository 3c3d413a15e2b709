"""``vmintro check``, ``vmintro exercise`` and ``vmintro map`` from the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vmintro.generate import generate
from vmintro.scenario.loader import parse_scenario

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "images" / "demo"


def vmintro(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmintro.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("faulty") / "img"
    text = "[[step]]\nop = 'vmalloc'\nsize = '8K'\n\n[[step]]\nop = 'fault'\nkind = 'zero_count'\n"
    generate(base, parse_scenario(text, "f.toml"), {"ram": 16 << 20})
    return base


def test_check_clean_findings_and_unreadable(faulty: Path, tmp_path: Path) -> None:
    assert vmintro("check", str(DEMO)).returncode == 0
    found = vmintro("check", str(faulty))
    assert found.returncode == 1
    assert found.stdout.startswith("mapped_page_count_zero: vm_struct 0x")
    bad = tmp_path / "bad.vmcore"
    bad.write_bytes(b"not an image")
    unreadable = vmintro("check", str(DEMO), str(bad), "--jobs", "2")
    assert unreadable.returncode == 2
    assert "bad.vmcore: error: bad.vmcore:" in unreadable.stdout


def test_check_json_is_parallel_and_complete(faulty: Path) -> None:
    proc = vmintro("check", "--json", "-j", "2", str(DEMO), str(faulty))
    doc = json.loads(proc.stdout)
    assert [r["image"] for r in doc["images"]] == [str(DEMO), str(faulty)]
    assert doc["images"][0]["findings"] == []
    (finding,) = doc["images"][1]["findings"]
    assert finding["kind"] == "mapped_page_count_zero" and "pfn" in finding["where"]


def test_exercise_verify_says_right_or_wrong() -> None:
    assert "why-oops" in vmintro("exercise", "list").stdout
    readme = vmintro("exercise", "show", "ioremap-phys").stdout
    assert readme.startswith("# Exercise:")
    right = vmintro("exercise", "verify", "ioremap-phys", "0xfebf8000")
    assert (right.returncode, right.stdout) == (0, "right\n")
    wrong = vmintro("exercise", "verify", "ioremap-phys", "0xfebf9000")
    assert (wrong.returncode, wrong.stdout) == (1, "wrong\n")
    assert vmintro("exercise", "verify", "no-such", "1").returncode == 2
    assert vmintro("exercise", "verify", "ioremap-phys", "forty-two").returncode == 2


def test_map_text_and_svg(tmp_path: Path) -> None:
    text = vmintro("map", str(DEMO)).stdout.splitlines()
    assert text[0].startswith("lowmem   c0000000-")
    out = tmp_path / "m.svg"
    proc = vmintro("map", str(DEMO), "-o", str(out), "--area", "0xc4811000")
    assert proc.returncode == 0, proc.stderr
    svg = out.read_text()
    assert svg.startswith("<svg") and 'class="frame"' in svg


def one_line_error(proc: subprocess.CompletedProcess[str], status: int) -> str:
    """The single ``vmintro: ...`` line of a failed run, checked for no traceback."""
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("vmintro: ")
    return line


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--area", "0x1"], 1, "vmintro: map: 0x1 is in no vm area"),
        (["--area", "zz"], 1, 'vmintro: map: no symbol "zz" in current context'),
        (["--area", "(("], 1, "vmintro: map: "),
    ],
)
def test_map_bad_area_is_one_line(
    tmp_path: Path, args: list[str], status: int, message: str
) -> None:
    out = tmp_path / "m.svg"
    line = one_line_error(vmintro("map", str(DEMO), "-o", str(out), *args), status)
    assert message in line
    assert not out.exists()
    assert one_line_error(vmintro("map", str(DEMO), *args), status) == line


def test_map_unwritable_output_and_unreadable_image(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "dir" / "m.svg"
    line = one_line_error(vmintro("map", str(DEMO), "-o", str(missing)), 2)
    assert line == f"vmintro: {missing}: No such file or directory"
    line = one_line_error(vmintro("map", str(tmp_path / "nothing")), 2)
    assert "nothing.vmcore" in line


def test_map_of_a_corrupt_vmlist_fails_as_a_command() -> None:
    image = ROOT / "images" / "exercises" / "vmlist-cycle" / "vmlist-cycle"
    line = one_line_error(vmintro("map", str(image)), 1)
    assert line.startswith("vmintro: map: vmlist: cycle: ")
    # the same status and message as the command in a session
    session = vmintro("-c", "map", str(image))
    assert session.returncode == 1
    assert line == f"vmintro: {session.stderr.strip()}"


def test_map_area_without_output_lists_the_frames() -> None:
    proc = vmintro("map", str(DEMO), "--area", "0xc4811000")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.splitlines()
    assert text[0].startswith("lowmem   c0000000-")
    start = text.index("VIRTUAL   PFN       PHYSICAL  ZONE")
    assert text[start - 1].startswith("vmalloc area c4811000-")
    first = text[start + 1].split()
    assert first[0] == "c4811000" and first[2] == f"{int(first[1], 16) << 12:x}"
    assert text[-1].endswith("physically contiguous runs")


def test_vmlinux_named_on_the_command_line(tmp_path: Path) -> None:
    shutil.copy(f"{DEMO}.vmcore", tmp_path / "core.vmcore")
    shutil.copy(f"{DEMO}.vmlinux", tmp_path / "kernel-debug")
    named = vmintro(
        "-c", "vmlist", str(tmp_path / "core"), "--vmlinux", str(tmp_path / "kernel-debug")
    )
    assert named.returncode == 0 and named.stdout == vmintro("-c", "vmlist", str(DEMO)).stdout
    missing = vmintro("-c", "vmlist", str(tmp_path / "core"), "--vmlinux", str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
