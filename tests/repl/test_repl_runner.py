"""The runner shared by the REPL, -c and standard input: lines, redirections,
pipes, JSON, errors and exit statuses (in-process).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from vmintro.cmdline.lines import CommandLine, parse_command, split_commands
from vmintro.cmdline.python import PythonSession
from vmintro.cmdline.readings import ExpressionJudge
from vmintro.cmdline.runner import Runner
from vmintro.commands import QuitRequested


def runner(prog, **kwargs) -> tuple[Runner, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Runner(prog, out=out, err=err, **kwargs), out, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p vmlist->next", CommandLine("p vmlist->next")),
        ("vmlist > out.txt", CommandLine("vmlist", redirect="out.txt")),
        ("vmlist >> out.txt", CommandLine("vmlist", redirect="out.txt", append=True)),
        ("vmlist | grep c48", CommandLine("vmlist", pipe="grep c48")),
        ("p vmlist->next > f", CommandLine("p vmlist->next", redirect="f")),
        ("sym '|' > f", CommandLine("sym '|'", redirect="f")),
        ("!x = a > b", CommandLine("x = a > b", python=True)),
    ],
)
def test_parse_command(prog, text: str, expected: CommandLine) -> None:
    assert parse_command(text, ExpressionJudge(prog)) == expected


def test_split_commands() -> None:
    assert split_commands("vmlist; vtop c8801000 ;") == ["vmlist", "vtop c8801000"]
    assert split_commands("sym ';'; p 1") == ["sym ';'", "p 1"]
    assert split_commands("!a = 1; b = 2") == ["!a = 1; b = 2"]


def test_redirect_and_append(prog, tmp_path: Path) -> None:
    run, out, err = runner(prog)
    target = tmp_path / "out.txt"
    assert run.run_line(f"vmlist > {target}") == 0
    assert run.run_line(f"sym vmlist >> {target}") == 0
    lines = target.read_text().splitlines()
    assert lines[0].startswith("VM_STRUCT") and lines[-1].endswith("(B) vmlist")
    assert out.getvalue() == "" and err.getvalue() == ""
    assert run.run_line(f"sym vmlist > {target}") == 0
    assert target.read_text().splitlines() == [lines[-1]]


def test_pipe_through_the_shell(prog, truth) -> None:
    run, out, err = runner(prog)
    area = truth["areas"][2]
    assert run.run_line(f"vmlist | grep ^{area['vm_struct']:x} | tr a-f A-F") == 0
    assert out.getvalue() == f"{area['vm_struct']:X}   {area['addr']:X} - " + (
        f"{area['addr'] + area['size']:X}  {area['size']:>9}\n"
    )
    assert run.run_line("kmem -p | head -2") == 0  # the walk stops when head is done
    assert len(out.getvalue().splitlines()) == 3


def test_statuses_and_one_line_errors(prog) -> None:
    run, out, err = runner(prog)
    assert run.run_line("nosuch") == 2
    assert run.run_line("vtop c4800000") == 0
    assert run.run_line("rd c8800000") == 1
    assert run.run_line("p vmlist->nosuch") == 1
    assert run.run_line("ptype struct nosuch *") == 1
    assert run.run_line("whatis union nosuch") == 1
    assert err.getvalue().splitlines() == [
        "nosuch: command not found",
        "rd: read of 0xc8800000: page not present (pgd 0x00000000 at 0xc0101c88)",
        "p: 'struct vm_struct' has no member 'nosuch'",
        "ptype: No struct type named nosuch.",  # as gdb says it
        "whatis: No union type named nosuch.",
    ]
    assert run.status == 2


def test_a_fault_mid_walk_keeps_what_was_printed(prog, truth) -> None:
    area = truth["areas"][0]
    last = area["addr"] + area["size"] - 4096 - 16  # 16 bytes before the guard page
    run, out, err = runner(prog)
    assert run.run_line(f"rd {last:x} 8") == 1
    assert out.getvalue().splitlines()[0].startswith(f"{last:x}:")
    assert len(out.getvalue().splitlines()) == 1
    assert err.getvalue().startswith(f"rd: read of {last + 16:#x}: page not present")


def test_json_documents(prog, truth) -> None:
    run, out, err = runner(prog, json=True)
    assert run.run_line("vmlist; nosuch; rd c8800000") == 2
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(docs) == 2  # an unknown command has no document: it never ran
    assert docs[0]["command"] == "vmlist" and docs[0]["status"] == "ok"
    rows = docs[0]["results"][0]["rows"]
    assert [(r["vm_struct"], r["addr"], r["size"], r["flags"]) for r in rows] == [
        (a["vm_struct"], a["addr"], a["size"], a["flags"]) for a in truth["areas"]
    ]
    assert docs[1]["status"] == "error" and docs[1]["error"].startswith("rd: read of")


def test_per_command_json(prog, truth) -> None:
    run, out, err = runner(prog)
    area = truth["areas"][0]  # the first area's first page: the frame the simulator gave it
    assert run.run_line(f"vtop {area['addr']:x} --json") == 0
    doc = json.loads(out.getvalue())
    by_name = {r["name"]: r for r in doc["results"]}
    assert by_name["vtop"]["rows"] == [
        {"virtual": area["addr"], "physical": area["pages"][0] << 12}
    ]
    assert [s["level"] for s in by_name["walk"]["data"]["steps"]] == ["pgd", "pte"]
    assert by_name["page"]["rows"][0]["pfn"] == area["pages"][0]


def test_python_lines(prog, truth, capsys) -> None:
    python = PythonSession(prog)
    run, out, err = runner(prog, python=python.run)
    assert run.run_line("!n = len(list(for_each_vm_area(prog)))") == 0
    assert run.run_line("!n") == 0
    assert run.run_line("!vmalloc_to_pfn(prog, VMALLOC_START)") == 1  # a NameError
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [str(len(truth["areas"]))]
    assert "NameError: name 'VMALLOC_START' is not defined" in captured.err
    assert "Traceback" in captured.err


def test_quit_stops_the_line(prog) -> None:
    run, out, err = runner(prog)
    with pytest.raises(QuitRequested):
        run.run_line("sym vmlist; quit; sym mem_map")
    assert out.getvalue().count("\n") == 1


def test_py_needs_a_terminal(prog) -> None:
    run, out, err = runner(prog, python=lambda source: True)
    assert run.run_line("py") == 2
    assert err.getvalue().startswith("py: the Python prompt needs a terminal")


def test_without_python_py_and_bang_lines_point_at_the_hosts_python(prog) -> None:
    run, out, err = runner(prog)  # as inside gdb and drgn
    assert run.run_line("py") == 2
    assert run.run_line("!print(1)") == 2
    assert err.getvalue().splitlines() == [
        "py: Python lines are not available here: use the host's own Python (gdb's 'python', "
        "drgn's prompt) or 'vmintro run'",
        "vmintro: Python lines are not available here: use the host's own Python (gdb's "
        "'python', drgn's prompt) or 'vmintro run'",
    ]
