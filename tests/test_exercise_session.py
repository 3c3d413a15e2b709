"""An exercise's session: only its commands run, and no Python, however it reads lines."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vmintro.cli import main


def test_other_commands_and_python_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # from any directory
    line = "vmlist; check; kmem -v; kmem -f; !print(prog); py; help vmlist"
    assert main(["exercise", "open", "why-oops", "-c", line]) == 2
    out, err = capsys.readouterr()
    assert "c1800000" in out and "NODE" not in out  # vmlist ran, kmem -f did not
    assert "vmlist - the vmalloc areas" in out  # help is always there
    assert err.splitlines() == [
        "check: not available in this exercise",
        "kmem: not available in this exercise",
        "kmem: not available in this exercise",
        "py: not available in this exercise",
        "py: not available in this exercise",
    ]
    assert main(["exercise", "open", "why-oops", "-c", "help"]) == 0
    assert capsys.readouterr().out == (
        "commands in this exercise: vmlist, vtop, struct, p, rd, page, sym, whatis, ptype "
        "('help COMMAND' for each)\n"
    )
    assert main(["exercise", "open", "double-free", "-c", "kmem -f"]) == 0  # allowed there
    assert "NODE" in capsys.readouterr().out
    assert main(["exercise", "open", "double-free", "-c", "kmem -v"]) == 2  # kmem -f only
    assert capsys.readouterr().err == "kmem: not available in this exercise\n"


def test_json_and_standard_input_are_restricted_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["exercise", "open", "ioremap-phys", "--json", "-c", "vmallocinfo"]) == 2
    assert capsys.readouterr().err == "vmallocinfo: not available in this exercise\n"
    assert main(["exercise", "open", "ioremap-phys", "--json", "-c", "vmlist"]) == 0
    assert json.loads(capsys.readouterr().out)["command"] == "vmlist"
    monkeypatch.setattr(sys, "stdin", io.StringIO("vmlist\ncheck\n"))
    assert main(["exercise", "open", "vmlist-cycle", "-q"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "vmlist: not available in this exercise",
        "check: not available in this exercise",
    ]


def test_the_repl_refuses_py(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "vmintro", "exercise", "open", "why-oops"],
        cwd=str(tmp_path),
        env={"VMINTRO_HISTORY": "/dev/null", "TERM": "dumb", "PATH": "/usr/bin:/bin"},
        encoding="utf-8",
        timeout=60,
    )
    child.expect("A driver oopsed")  # the question first
    child.expect("vmintro> ")
    child.sendline("py")
    child.expect("py: not available in this exercise")
    child.expect("vmintro> ")
    child.sendline("check")
    child.expect("check: not available in this exercise")
    child.expect("vmintro> ")
    child.sendline("quit")
    child.expect(pexpect.EOF)


def test_unknown_exercise_is_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro", "exercise", "open", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("vmintro: no exercise 'nope' (known: vmalloc-start, why-oops")


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("{", "not valid JSON"),
        ("[]", "a JSON object was expected"),
        ('{"name": "x"}', "'question' is missing or not a str"),
        (
            '{"name": "../x", "question": "", "parts": [], "commands": [], "plugins": []}',
            "its name must be a word",
        ),
        (
            '{"name": "x", "question": "", "parts": [], "commands": [], "plugins": [],'
            ' "hints": [1]}',
            "'hints' must be a list of text and commands",
        ),
    ],
)
def test_a_damaged_exercise_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, wrong: str
) -> None:
    (tmp_path / "exercise.json").write_text(text)
    assert main(["exercise", "open", str(tmp_path), "-c", "vmlist"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"vmintro: {tmp_path / 'exercise.json'}: ") and wrong in line
