"""CMD --py: the printed script, run as ``vmintro run`` runs it, gives the rows the
command gives (headings and blank lines aside), for every translated command and
several argument forms; every command accepts --py."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vmintro.cmdline.namespace import python_namespace
from vmintro.commands import UsageError, commands, run
from vmintro.commands.discovery import load_plugins, unload_plugins
from vmintro.commands.render import render_text
from vmintro.commands.result import Table, Text

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "images" / "demo"

ALL = ("*",)  # the whole output, headings included: the script runs the command

# Each line, and the parts of its output the script reproduces (None: every table,
# or every text when there is no table; ALL: everything).
LINES: list[tuple[str, tuple[str, ...] | None]] = [
    ("vmlist", None),
    ("vmlist c4800000 c4811000", None),
    ("kmem -v", None),
    ("kmem -v c4811000", None),
    ("vtop c4800010 c4811000", None),
    ("vtop vmlist", None),
    ("ptov 10b4000 8000000", None),
    ("sym vmlist c021102e", None),
    ("sym -q vmlist", None),
    ("page 10b4000", None),
    ("page -c 2 10b4000", None),
    ("page -n 10b4 10b6", None),
    ("kmem -p c102df0c 10b4000", None),
    ("kmem -f", None),
    ("kmem -s", None),
    ("kmem -s size-32 kmem_cache", None),
    ("kmem c10b61e4 c4810010 c3000010", ("kmem",)),
    ("kmem -P 10b4000", ("kmem",)),
    ("rd vmlist 8", None),
    ("rd -8 vmlist 20", None),
    ("rd -16 contig_page_data 12", None),
    ("rd -64 -p 10b4000 3", None),
    ("rd -s zone_table 3", None),
    ("rd -a contig_page_data.node_zones[1].name", None),
    ("search 0xc10b61e0", None),
    ("search -m 0xfff -s c0211000 -l 0x1000000 0xc10b6000", None),
    ("search -p -c size-128", None),
    ("search -h -s c4800000 -l 16 0x8000", None),
    ("mod", None),
    ("mod jbd ext3", None),
    ("eval -b 0x12", None),
    ("eval vmlist + 4", None),
    ("x/4wx vmlist", None),
    ("x/3dw vmlist", None),
    ("x/2xg &vmlist", None),
    ("x/9xb mem_map", None),
    ("log -m", None),
    # no translation of their own: the script runs the command through the library
    ("kmem -i", ALL),
    ("whatis vmlist", ALL),
    ("ptype struct vm_struct", ALL),
    ("list -o vm_struct.next *vmlist", ALL),
    ("help vtop", ALL),
]


def _words(lines: list[str]) -> list[list[str]]:
    return [line.split() for line in lines if line.strip()]


def _command_rows(prog, line: str, names: tuple[str, ...] | None) -> list[list[str]]:
    parts = list(run(prog, line))
    if names == ALL:
        return _words(list(render_text(parts)))
    if names is not None:
        parts = [p for p in parts if p.name in names]
    elif any(isinstance(p, Table) for p in parts):
        parts = [p for p in parts if isinstance(p, Table)]
    for part in parts:
        if isinstance(part, Table):
            part.header = False
            part.title = None
    return _words(list(render_text(parts)))


def script_of(prog, line: str) -> str:
    [part] = run(prog, f"{line} --py")
    assert isinstance(part, Text) and part.name == "py"
    return part.data["script"]


def run_script(prog, script: str) -> str:
    """The script run as ``vmintro run`` runs one: prog and the helpers in scope."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(script, "<--py>", "exec"), python_namespace(prog))  # noqa: S102
    return out.getvalue()


@pytest.mark.parametrize(("line", "names"), LINES, ids=[line for line, _ in LINES])
def test_the_script_gives_the_commands_rows(prog, line: str, names) -> None:
    script = script_of(prog, line)
    assert script.startswith(f"# {line}\n")
    got = _words(run_script(prog, script).splitlines())
    assert got == _command_rows(prog, line, names)


def test_scripts_of_translated_commands_use_the_library_not_run(prog) -> None:
    for line, _ in LINES[: LINES.index(("kmem -i", ALL))]:
        if line == "log -m" and "log_buf" not in prog:
            continue
        assert "run(prog" not in script_of(prog, line), line


def test_p_and_struct_scripts_compute_the_same_values(prog) -> None:
    [value] = run(prog, "p vmlist->size")
    printed = run_script(prog, script_of(prog, "p vmlist->size")).splitlines()
    assert printed[0] == str(value.data["value"])
    assert printed[1] == f"(unsigned long){value.data['value']}"
    text = run_script(prog, script_of(prog, "struct vm_struct *vmlist 2"))
    # the drgn notation of each struct: the same members and values as struct's
    ours = re.findall(r"\.(\w+) = (\w+),", text)
    crash = re.findall(r"^  (\w+) = (\w+),?$", str(run(prog, "struct vm_struct *vmlist 2")), re.M)
    assert ours == crash and len(ours) == 8
    members = run_script(prog, script_of(prog, "struct -x vm_struct.addr,size *vmlist"))
    assert _words(members.splitlines()) == _words(
        str(run(prog, "struct -x vm_struct.addr,size *vmlist")).splitlines()
    )


def test_every_command_accepts_py(prog) -> None:
    unload_plugins()
    load_plugins(err=io.StringIO())
    try:
        for cmd in commands():
            try:
                parts = run(prog, f"{cmd.name} --py")
            except UsageError:
                continue  # arguments it needs: --py reads them as the command does
            [part] = parts
            assert part.name == "py"
            compile(part.data["script"], cmd.name, "exec")
    finally:
        unload_plugins()


def test_a_script_written_with_py_runs_under_vmintro_run(tmp_path: Path) -> None:
    script = tmp_path / "vtop.py"
    subprocess.run(
        [sys.executable, "-m", "vmintro", "-c", f"vtop c4800010 --py > {script}", str(DEMO)],
        check=True,
        cwd=ROOT,
    )
    ran = subprocess.run(
        [sys.executable, "-m", "vmintro", "run", str(script), str(DEMO)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    direct = subprocess.run(
        [sys.executable, "-m", "vmintro", "-c", "vtop c4800010", str(DEMO)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert ran.split("\n")[0].split() == direct.split("\n")[1].split()  # VIRTUAL PHYSICAL row
