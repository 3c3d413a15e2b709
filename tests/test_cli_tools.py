"""``vmintro check``, ``vmintro exercise`` and ``vmintro map`` from the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from generate_cli import Run, vmintro_cli_batch

from vmintro.generate import generate
from vmintro.scenario.loader import parse_scenario

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "images" / "demo"


def vmintro(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmintro.cli", *args], capture_output=True, text=True, timeout=300
    )


def vmintro_each(*lines: list[str]) -> list[Run]:
    """Each command line as ``vmintro`` runs it (the main() its script calls), one after
    the other in one child process: their results in order."""
    return vmintro_cli_batch([(Path.cwd(), argv) for argv in lines])


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("faulty") / "img"
    text = "[[step]]\nop = 'vmalloc'\nsize = '8K'\n\n[[step]]\nop = 'fault'\nkind = 'zero_count'\n"
    generate(base, parse_scenario(text, "f.toml"), {"ram": 16 << 20})
    return base


def test_check_clean_findings_and_unreadable(faulty: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.vmcore"
    bad.write_bytes(b"not an image")
    clean, found, unreadable = vmintro_each(
        ["check", str(DEMO)], ["check", str(faulty)], ["check", str(DEMO), str(bad), "--jobs", "2"]
    )
    assert clean.returncode == 0
    assert found.returncode == 1
    assert found.stdout.startswith("mapped_page_count_zero: vm_struct 0x")
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
    import vmintro as lib
    from vmintro.helpers import VM_IOREMAP, for_each_vm_area

    prog = lib.open(ROOT / "images" / "exercises" / "ioremap-phys" / "ioremap-phys")
    area = next(a for a in for_each_vm_area(prog) if a.flags.value_() & VM_IOREMAP)
    phys = prog.translate(area.addr.value_())
    listed, readme, right, wrong, no_such, not_a_number = vmintro_each(
        ["exercise", "list"],
        ["exercise", "show", "ioremap-phys"],
        ["exercise", "verify", "ioremap-phys", f"{area.value_():x}", f"{phys:x}"],
        ["exercise", "verify", "ioremap-phys", f"{area.value_():x}", f"{phys + 4096:x}"],
        ["exercise", "verify", "no-such", "1"],
        ["exercise", "verify", "ioremap-phys", "forty-two"],
    )
    assert "why-oops" in listed.stdout
    assert readme.stdout.startswith("# Exercise:")
    assert (right.returncode, right.stdout) == (0, "right\n")
    assert (wrong.returncode, wrong.stdout) == (1, "wrong\n")
    assert no_such.returncode == 2
    assert not_a_number.returncode == 2


def test_map_text_and_svg(tmp_path: Path) -> None:
    out = tmp_path / "m.svg"
    shown, proc = vmintro_each(
        ["map", str(DEMO)], ["map", str(DEMO), "-o", str(out), "--area", "0xc4811000"]
    )
    text = shown.stdout.splitlines()
    assert text[0].startswith("lowmem   c0000000-")
    assert proc.returncode == 0, proc.stderr
    svg = out.read_text()
    assert svg.startswith("<svg") and 'class="frame"' in svg


def one_line_error(proc: subprocess.CompletedProcess[str] | Run, status: int) -> str:
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
    written, shown = vmintro_each(
        ["map", str(DEMO), "-o", str(out), *args], ["map", str(DEMO), *args]
    )
    line = one_line_error(written, status)
    assert message in line
    assert not out.exists()
    assert one_line_error(shown, status) == line


def test_map_unwritable_output_and_unreadable_image(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "dir" / "m.svg"
    unwritable, unreadable = vmintro_each(
        ["map", str(DEMO), "-o", str(missing)], ["map", str(tmp_path / "nothing")]
    )
    line = one_line_error(unwritable, 2)
    assert line == f"vmintro: {missing}: there is no directory {str(missing.parent)!r}"
    line = one_line_error(unreadable, 2)
    assert "nothing.vmcore" in line


def test_map_of_a_corrupt_vmlist_fails_as_a_command() -> None:
    from exercise_machines import exercise_machine

    image = exercise_machine("vmlist-cycle")  # not the exercise's image: map is not allowed there
    alone, session = vmintro_each(["map", str(image)], ["-c", "map", str(image)])
    line = one_line_error(alone, 1)
    assert line.startswith("vmintro: map: vmlist: cycle: ")
    # the same status and message as the command in a session
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


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo's core and vmlinux under other names: no vmlinux beside the core."""
    out = tmp_path_factory.mktemp("renamed")
    shutil.copy(f"{DEMO}.vmcore", out / "core.vmcore")
    shutil.copy(f"{DEMO}.vmlinux", out / "kernel-debug")
    return out / "core", out / "kernel-debug"


SCRIPT = "print(prog['vmlist'].size.value_(), hex(prog['vmlist'].addr.value_()))\n"
# Every subcommand that opens an image, as a user types it; --vmlinux goes at OPTIONS
# (before run's SCRIPT: what follows it is the script's, as with python)
OPENING = {
    "session": ["-c", "vmlist; p vmlist->size", "IMAGE", "OPTIONS"],
    "repl": ["repl", "IMAGE", "OPTIONS"],  # the commands on standard input
    "run": ["run", "OPTIONS", "SCRIPT", "IMAGE"],
    "export": ["export", "--isf", "IMAGE", "-o", "HTML", "OPTIONS"],
    "check": ["check", "OPTIONS", "IMAGE"],
    "map": ["map", "IMAGE", "--area", "0xc4811000", "OPTIONS"],
    "html": ["html", "IMAGE", "-o", "HTML", "OPTIONS"],
}
# and vmintro serve, which serves until stopped (tests/explorer/test_explorer_cli.py)
SERVING = ["serve"]


@pytest.mark.parametrize(
    "subcommand",
    # html writes the explorer's whole page (test_explorer_cli.py does too): with the slow tests
    [pytest.param(s, marks=pytest.mark.slow) if s == "html" else s for s in sorted(OPENING)],
)
def test_every_subcommand_opening_an_image_takes_vmlinux(
    subcommand: str, renamed: tuple[Path, Path], tmp_path: Path
) -> None:
    core, kernel = renamed
    script = tmp_path / "show.py"
    script.write_text(SCRIPT)

    def words(image: Path, *options: str) -> list[str]:
        named = {"IMAGE": [str(image)], "SCRIPT": [str(script)], "OPTIONS": list(options)}
        named["HTML"] = [str(tmp_path / "explorer.html")]
        return [n for w in OPENING[subcommand] for n in named.get(w, [w])]

    # the four command lines through the main() the vmintro script calls, in one process
    lines = [
        words(DEMO),
        words(core, "--vmlinux", str(kernel)),
        words(core),
        words(core, "--vmlinux", str(tmp_path / "nope")),
    ]
    beside, named, alone, missing = vmintro_cli_batch(
        [(tmp_path, argv) for argv in lines], stdin="vmlist\np vmlist->size\n"
    )
    assert (named.returncode, named.stderr) == (0, "")
    assert named.stdout == beside.stdout and named.stdout
    # the core alone has no types: what the commands print needs the vmlinux named
    assert alone.returncode != 0 and alone.stdout != named.stdout
    said = missing.stdout + missing.stderr  # check says it on stdout, as for any image
    assert missing.returncode == 2 and said.count("\n") == 1 and "nope" in said, said


def test_every_parser_with_an_image_has_the_same_image_options() -> None:
    from vmintro.cli.entry import SUBCOMMANDS, build_parser
    from vmintro.cli.parser import VMLINUX_HELP

    opening = []
    for name in ["", *SUBCOMMANDS]:
        parser, _ = build_parser([name] if name else [])
        actions = {a.dest: a for a in parser._actions}
        if {"image", "images"} & actions.keys():
            opening.append(name or "session")
            assert actions["vmlinux"].option_strings == ["--vmlinux"], name
            assert (actions["vmlinux"].metavar, actions["vmlinux"].help) == ("FILE", VMLINUX_HELP)
    assert sorted(opening) == sorted([*OPENING, *SERVING])


def test_a_file_name_with_escape_sequences_is_shown_escaped(tmp_path: Path) -> None:
    """A name a directory listing hands over (``vmintro check *``) may hold escape
    sequences: every one-line error shows them as ``\\xNN``, as names from an image."""
    name = str(tmp_path / "x\x1b]0;owned\x07\x1b[2J")
    argvs = [
        ["-c", "vm", name],
        ["check", name],
        ["map", name],
        ["export", "--raw", "-o", str(tmp_path / "out.raw"), name],
        ["--no-such-option\x1b[2J"],
    ]
    for run in vmintro_each(*argvs):
        shown = run.stderr + run.stdout  # check reports an unreadable image in its listing
        assert run.returncode == 2, run
        assert "\x1b" not in shown and "\x07" not in shown, shown
        assert "\\x1b" in shown, shown
