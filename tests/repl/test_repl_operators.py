"""C operators are never taken for redirections or pipes (``vmintro -c``, the runner).

A ``>``, ``>>`` or ``|`` inside brackets or quotes is C; at the top level of a
command whose arguments are expressions, a line that reads both ways is refused
with both readings, and nothing is written or run. Every test runs in an empty
directory and checks that it stays so, unless the line asked for a file.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from replkit import DEMO

from vmintro.cmdline.lines import CommandLine, LineError, parse_command
from vmintro.cmdline.readings import ExpressionJudge
from vmintro.cmdline.runner import Runner
from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def vmintro_c(cwd: Path, line: str) -> subprocess.CompletedProcess[str]:
    """``vmintro -c LINE images/demo``, run in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "-c", line, str(DEMO)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Path]:
    """A directory that must stay empty."""
    yield tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.fixture
def trap(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Shell commands named '2' and 'max_mapnr' first on PATH: each leaves the
    returned file behind if it is ever run."""
    bin_dir = tmp_path_factory.mktemp("bin")
    marker = bin_dir / "ran"
    for name in ("2", "max_mapnr"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\ntouch {marker}\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return marker


@pytest.mark.parametrize(
    ("line", "readings"),
    [
        (
            "p vmlist->size >> 12",
            "is 'p (vmlist->size >> 12)' or 'p vmlist->size' appended to file '12': "
            """write 'p (vmlist->size >> 12)' or 'p vmlist->size >> "12"'""",
        ),
        (
            "p vmlist > 4096",
            "is 'p (vmlist > 4096)' or 'p vmlist' into file '4096': "
            """write 'p (vmlist > 4096)' or 'p vmlist > "4096"'""",
        ),
        (
            "p 1 | 2",
            "is 'p (1 | 2)' or 'p 1' piped into '2': write 'p (1 | 2)' or 'pipe p 1 | 2'",
        ),
        (
            "rd vmlist > 4",
            "is 'rd (vmlist > 4)' or 'rd vmlist' into file '4': "
            """write 'rd (vmlist > 4)' or 'rd vmlist > "4"'""",
        ),
    ],
)
def test_ambiguous_lines_are_refused_in_one_line(
    empty: Path, trap: Path, line: str, readings: str
) -> None:
    proc = vmintro_c(empty, line)
    assert (proc.returncode, proc.stdout) == (EXIT_USAGE, "")
    assert proc.stderr == f"vmintro: ambiguous: '{line}' {readings}\n"
    assert not trap.exists()


def test_operators_inside_brackets_are_c(empty: Path) -> None:
    proc = vmintro_c(empty, "p (256 >> 4); p (vmlist->size > 4096 | 0); p vmlist->size >> 12 != 0")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == "$1 = 16\n$2 = 1\n$3 = 1\n"
    proc = vmintro_c(empty, "p mem_map[300 >> 2].flags == mem_map[75].flags")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "$1 = 1\n", "")


def test_an_unknown_name_is_no_reading_and_makes_no_file(empty: Path) -> None:
    # 'p a > 4096' once wrote '4096'; with no symbol 'a' only the file reading is left,
    # and p fails before writing anything, so no file appears
    proc = vmintro_c(empty, "p a > 4096")
    assert (proc.returncode, proc.stdout) == (EXIT_FAILED, "")
    assert proc.stderr == 'p: no symbol "a" in current context\n'


def test_a_line_with_an_ambiguous_part_runs_nothing(empty: Path, trap: Path) -> None:
    proc = vmintro_c(empty, "vmlist > areas.txt; p 1 | max_mapnr")
    assert proc.returncode == EXIT_USAGE and proc.stdout == ""
    assert proc.stderr.startswith("vmintro: ambiguous: 'p 1 | max_mapnr' is")
    assert not trap.exists()


def test_redirections_crash_users_write_still_work(tmp_path: Path) -> None:
    vmlist = vmintro_c(tmp_path, "vmlist").stdout
    proc = vmintro_c(
        tmp_path,
        "vmlist > out.txt; kmem -f >> out.txt; p vmlist->size > size.txt; "
        "p vmlist > ./vm.txt; vmlist | wc -l > count.txt",
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    kmem = vmintro_c(tmp_path, "kmem -f").stdout
    assert (tmp_path / "out.txt").read_text() == vmlist + kmem
    # size.txt is a member expression, but 'size' is no symbol: only a file name
    assert (tmp_path / "size.txt").read_text() == "$1 = 69632\n"
    assert (tmp_path / "vm.txt").read_text().startswith("vmlist = $2 = (struct vm_struct *) 0x")
    assert int((tmp_path / "count.txt").read_text()) == len(vmlist.splitlines())


def test_quoted_file_names_and_gdbs_pipe(tmp_path: Path) -> None:
    proc = vmintro_c(
        tmp_path,
        'p vmlist->size >> "12"; pipe p 4 > 2 | cat; | p (1 | 2) | cat; '
        "pipe -d @ p 1 | 2 @ cat; pipe p 0 || 5 | cat",
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "$2 = 1\n$3 = 3\n$4 = 3\n$5 = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["12"]
    assert (tmp_path / "12").read_text() == "$1 = 69632\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("p 1 |", "vmintro: missing shell command after '|'"),
        ("vmlist >", "vmintro: missing file name after '>'"),
        (
            "vmlist > a b",
            "vmintro: 'a b' after '>' is not one file name (quote a name with spaces)",
        ),
        ("pipe p 1", "vmintro: pipe: missing delimiter '|' before SHELL_COMMAND"),
        ("pipe | cat", "vmintro: pipe: missing COMMAND before '|'"),
        ("pipe p 1 |", "vmintro: pipe: missing SHELL_COMMAND"),
        ("pipe -d", "vmintro: pipe: -d requires a delimiter"),
    ],
)
def test_incomplete_redirections_are_usage_errors(empty: Path, line: str, message: str) -> None:
    proc = vmintro_c(empty, line)
    assert (proc.returncode, proc.stdout, proc.stderr) == (EXIT_USAGE, "", message + "\n")


def test_a_command_that_fails_before_any_output_makes_no_file(
    prog, empty: Path, monkeypatch
) -> None:
    monkeypatch.chdir(empty)
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(prog, out=out, err=err)
    assert runner.run_line("p vmlist->nosuch > out.txt") == EXIT_FAILED
    assert runner.run_line("rd c8800000 > out.txt") == EXIT_FAILED
    assert runner.run_line("p vmlist->nosuch | touch ran") == EXIT_FAILED
    assert runner.run_line("nosuch > out.txt") == EXIT_USAGE
    assert out.getvalue() == ""


def test_an_empty_result_still_makes_its_file(prog, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = Runner(prog, out=io.StringIO(), err=io.StringIO())
    assert runner.run_line("sym -q no_such_name_anywhere > none.txt") == EXIT_OK
    assert (tmp_path / "none.txt").read_text() == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p (a > b) > f", CommandLine("p (a > b)", redirect="f")),
        ("p vmlist->next >= 4", CommandLine("p vmlist->next >= 4")),
        ("p max_mapnr || 0 > 'f'", CommandLine("p max_mapnr || 0", redirect="f")),
        ("p vmlist[1 | 2] | cat", CommandLine("p vmlist[1 | 2]", pipe="cat")),
        ("sym 'a > b' > f", CommandLine("sym 'a > b'", redirect="f")),
        ("p vmlist > 'my file'", CommandLine("p vmlist", redirect="my file")),
        ("vmlist >> f", CommandLine("vmlist", redirect="f", append=True)),
        ("help p > f", CommandLine("help p", redirect="f")),
        ("p max_mapnr > 4 | cat", CommandLine("p max_mapnr > 4", pipe="cat")),
        ("p 1 > 2 + 3", CommandLine("p 1 > 2 + 3")),
    ],
)
def test_readings(prog, text: str, expected: CommandLine) -> None:
    assert parse_command(text, ExpressionJudge(prog)) == expected


def test_spellings_in_the_refusal_read_one_way_only(prog) -> None:
    judge = ExpressionJudge(prog)
    with pytest.raises(LineError) as refused:
        parse_command("p -x max_mapnr | 2 | 3", judge)
    message = str(refused.value)
    spellings = message.split(": write ", 1)[1]
    assert spellings == (
        "'p -x (max_mapnr | 2 | 3)', 'pipe p -x max_mapnr | 2 | 3' "
        "or 'pipe p -x (max_mapnr | 2) | 3'"
    )
    for spelling in ("p -x (max_mapnr | 2 | 3)", "pipe p -x (max_mapnr | 2) | 3"):
        parse_command(spelling, judge)  # no longer ambiguous


def test_the_shell_is_not_started_for_a_refused_line(prog, trap: Path) -> None:
    err = io.StringIO()
    runner = Runner(prog, out=io.StringIO(), err=err)
    assert runner.run_line("p 1 | 2") == EXIT_USAGE
    assert runner.run_line("p vmlist->nosuch | 2") == EXIT_FAILED  # p fails before any line
    assert not trap.exists()
    assert err.getvalue().startswith("vmintro: ambiguous: 'p 1 | 2' is")
    assert runner.run_line("pipe p 1 | 2") == EXIT_OK  # asked for: the trap springs
    assert trap.exists()
