"""Scripted analysis: ``-c``, standard input and ``vmintro run`` give what the
library gives; exit statuses; bad images and bad usage.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from replkit import DEMO

from vmintro.cli import main
from vmintro.helpers import for_each_vm_area, vmalloc_to_pfn


def cli(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_c_json_matches_the_library(prog, capsys) -> None:
    first = prog["vmlist"].addr.value_()
    status, out, err = cli(capsys, "--json", "-c", f"vmlist; vtop {first:x}", str(DEMO))
    assert (status, err) == (0, "")
    vmlist_doc, vtop_doc = (json.loads(line) for line in out.splitlines())
    rows = vmlist_doc["results"][0]["rows"]
    assert [(r["vm_struct"], r["addr"], r["size"]) for r in rows] == [
        (int(a), a.addr.value_(), a.size.value_()) for a in for_each_vm_area(prog)
    ]
    vtop_rows = vtop_doc["results"][0]["rows"]
    assert vtop_rows == [{"virtual": first, "physical": prog.translate(first)}]
    steps = vtop_doc["results"][1]["data"]["steps"]
    assert [s["value"] for s in steps] == [s.value for s in prog.follow_pte(first).steps]


def test_stdin_gives_what_c_gives(capsys, monkeypatch) -> None:
    commands = ["vmlist", "kmem -f", "p mem_map + 3", "sym vmlist"]
    status_c, out_c, _ = cli(capsys, "-c", "; ".join(commands), str(DEMO))
    status_in, out_in, _ = cli(
        capsys,
        str(DEMO),
        stdin="# a comment\n" + "\n".join(commands) + "\n\n",
        monkeypatch=monkeypatch,
    )
    assert status_c == status_in == 0
    assert out_c == out_in and "VM_STRUCT" in out_c and "(verified)" in out_c


def test_run_injects_prog_and_the_helpers(prog, tmp_path: Path) -> None:
    script = tmp_path / "pfns.py"
    script.write_text(
        "import sys\n"
        "print(sys.argv[1:])\n"
        "for area in for_each_vm_area(prog):\n"
        "    print(hex(area.addr.value_()), vmalloc_to_pfn(prog, area.addr.value_()))\n"
        "print(__name__, isinstance(prog['vmlist'], Object), callable(container_of))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "run", str(script), str(DEMO), "a", "-x"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "['a', '-x']"
    expected = []
    for area in for_each_vm_area(prog):
        addr = area.addr.value_()
        expected.append(f"{hex(addr)} {vmalloc_to_pfn(prog, addr)}")
    assert lines[1:-1] == expected
    assert lines[-1] == "__main__ True True"


def test_run_statuses(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\nprog.read(0xc8800000, 4)\n")
    status, out, err = cli(capsys, "run", str(bad), str(DEMO))
    assert status == 1
    assert "Traceback" in err and "FaultError: read of 0xc8800000" in err
    assert 'File "' + str(bad) + '", line 2' in err
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(3)\n")
    assert cli(capsys, "run", str(exits), "--", "arg")[0] == 3
    status, out, err = cli(capsys, "run", str(tmp_path / "missing.py"))
    assert status == 2 and err.startswith("vmintro: ") and err.count("\n") == 1
    # bytes that are not UTF-8, no coding line: python's SyntaxError, not a traceback of ours
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"\xff = 1\n")
    status, out, err = cli(capsys, "run", str(latin))
    assert status == 1 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("SyntaxError: (unicode error) 'utf-8' codec")
    latin.write_bytes(b"# -*- coding: latin-1 -*-\nprint('\xe9')\n")  # as python reads it
    assert cli(capsys, "run", str(latin))[:2] == (0, "\u00e9\n")


def test_run_takes_dashes_to_say_no_image_follows(tmp_path: Path, capsys) -> None:
    """``--`` right after the script gives the script an image's name as its argument,
    on the demo image; after an image it is not the script's either."""
    from vmintro.generate import generate

    script = tmp_path / "argv.py"
    script.write_text("import sys\nprint(sys.argv[1:], hex(prog['high_memory'].value_()))\n")
    other = tmp_path / "other"  # a 16 MiB machine: high_memory 0xc1000000
    generate(other, "minimal", {"ram": 16 << 20}, timeline=False)
    demo = "0xc4000000"  # the demo's 64 MiB
    runs = [
        (["--", str(other)], f"['{other}'] {demo}"),
        ([str(other), "--", "-x"], "['-x'] 0xc1000000"),
        ([str(other), "-x"], "['-x'] 0xc1000000"),
        (["42"], f"['42'] {demo}"),
    ]
    for words, printed in runs:
        status, out, err = cli(capsys, "run", str(script), *words)
        assert (status, out, err) == (0, printed + "\n", ""), words


def test_exit_statuses_of_commands(capsys) -> None:
    assert cli(capsys, "-c", "sym vmlist", str(DEMO))[0] == 0
    status, out, err = cli(capsys, "-c", "rd c8800000; sym vmlist", str(DEMO))
    assert status == 1 and out.endswith("(B) vmlist\n") and err.startswith("rd: read of")
    status, out, err = cli(capsys, "-c", "vmlst", str(DEMO))
    assert status == 2 and err == "vmlst: command not found (did you mean 'vmlist'?)\n"
    status, out, err = cli(capsys, "-c", "rd -q 0", str(DEMO))
    assert status == 2 and err.count("\n") == 1
    # a word of megabytes took shlex minutes (its time grows with the square)
    status, out, err = cli(capsys, "-c", "sym vmlist; vmlist " + "x" * 70_000, str(DEMO))
    assert out.endswith("(B) vmlist\n")
    assert (status, err) == (2, "a command of 70007 characters: at most 65536 are read\n")


def test_default_image_is_the_demo(capsys) -> None:
    status, out, err = cli(capsys, "-c", "sym vmlist")
    assert status == 0 and out.endswith("(B) vmlist\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-c", "vmlist", "{tmp}/nosuch"], "vmintro: nosuch.vmcore: cannot open: "),
        (["-c", "vmlist", "{tmp}/bad"], "vmintro: bad.vmcore: not an ELF file"),
        (["repl", "{tmp}/bad"], "vmintro: bad.vmcore: not an ELF file"),
        (["--bogus"], "vmintro: unrecognized arguments: --bogus"),
        (["run"], "vmintro: the following arguments are required: script"),
        # a scenario where an image is named: made into one with generate
        (
            ["-c", "vmlist", "{tmp}/small.toml"],
            "vmintro: {tmp}/small.toml: a scenario, not an image: make its image with "
            "'vmintro generate --scenario {tmp}/small.toml -o small', then open that\n",
        ),
        # the word after a script, no image, that reads as one too: both readings named
        (
            ["run", "{tmp}/s.py", "{tmp}/small.toml"],
            "vmintro: {tmp}/small.toml: a scenario, not an image: make its image with "
            "'vmintro generate --scenario {tmp}/small.toml -o small', then open that; to give "
            "it to the script instead, on the demo image: vmintro run {tmp}/s.py -- "
            "{tmp}/small.toml\n",
        ),
        (
            ["run", "{tmp}/s.py", "{tmp}/demo.vmcore"],
            "vmintro: {tmp}/demo.vmcore: no such image; to give it to the script instead, on "
            "the demo image: vmintro run {tmp}/s.py -- {tmp}/demo.vmcore\n",
        ),
        # a script that is no regular file: a FIFO would block, a device never end
        (["run", "{tmp}/s.fifo"], "vmintro: {tmp}/s.fifo: is a FIFO, not a regular file\n"),
        (["run", "/dev/zero"], "vmintro: /dev/zero: is a character device, not a regular file\n"),
        (
            ["run", "{tmp}/s.py", "{tmp}/bad.vmlinux"],
            "vmintro: {tmp}/bad.vmlinux: a file of an image, not the image (an image is "
            "named NAME or NAME.vmcore); to give it",
        ),
    ],
)
def test_bad_image_and_bad_usage_exit_2_in_one_line(tmp_path: Path, argv, message) -> None:
    (tmp_path / "bad.vmcore").write_bytes(b"garbage")
    (tmp_path / "bad.vmlinux").write_bytes(b"garbage")
    (tmp_path / "small.toml").write_text("[machine]\nram = '16M'\n")
    (tmp_path / "s.py").write_text("print('ran')\n")
    os.mkfifo(tmp_path / "s.fifo")
    message = message.format(tmp=tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", *(a.format(tmp=tmp_path) for a in argv)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,  # a script read from a FIFO would block: a failure, not a hang
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(message)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_json_document_stops_at_its_bound_of_rows(capsys, monkeypatch) -> None:
    """A command whose tables have more rows than one JSON document holds (rd of a range
    whose text streams) stops there: the rows up to the bound, the error in the document
    and on stderr in one line; one that runs the host out of memory drops its rows."""
    import vmintro.cmdline.runner as runner
    from vmintro.commands import render

    assert render.MAX_JSON_ROWS == (4 << 30) // 4096  # a page of the largest machine's each
    monkeypatch.setattr(render, "MAX_JSON_ROWS", 100)
    status, out, err = cli(capsys, "--json", "-c", "rd c0100000 1000", str(DEMO))
    doc = json.loads(out)
    expected = "rd: more than 100 rows, the most one JSON document holds: ask for less, or for text"
    assert (status, doc["status"], doc["error"], err) == (1, "error", expected, expected + "\n")
    rows = doc["results"][0]["rows"]
    assert [r["address"] for r in rows] == [0xC0100000 + 16 * n for n in range(100)]

    def exhausted(*args: object) -> int:
        raise MemoryError

    monkeypatch.setattr(runner, "append_json", exhausted)
    status, out, err = cli(capsys, "--json", "-c", "vmlist", str(DEMO))
    doc = json.loads(out)
    assert status == 1 and doc["results"] == [] and "Traceback" not in err
    assert (
        doc["error"]
        == err.strip()
        == (
            "vmlist: its JSON document does not fit in this host's free memory: ask for less, "
            "or for text"
        )
    )
