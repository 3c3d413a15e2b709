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
from vmintro.commands import CommandError, UsageError, commands, lookup, run
from vmintro.commands.discovery import load_plugins, unload_plugins
from vmintro.commands.render import render_text
from vmintro.commands.result import Table, Text

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "images" / "demo"

# Each line, and the parts of its output the script reproduces (None: every table,
# or every text when there is no table). {symbol+offset} is that address in hex, from the
# symbol table or, for {area...} and the like, the truth file (conftest's demo_addresses).
LINES: list[tuple[str, tuple[str, ...] | None]] = [
    ("vmlist", None),
    ("vmlist c4800000 c4811000", None),
    ("kmem -v", None),
    ("kmem -v c4811000", None),
    ("vtop c4800010 c4811000", None),
    ("vtop vmlist", None),
    ("ptov {area_frame} 8000000", None),
    ("sym vmlist {vmlist+2}", None),
    ("sym -q vmlist", None),
    ("page {area_frame}", None),
    ("page -c 2 {area_frame}", None),
    ("page -n {area_pfn} {area_pfn+2}", None),
    ("kmem -p {area_page} {area_frame}", None),
    ("kmem -f", None),
    ("kmem -s", None),
    ("kmem -s size-32 kmem_cache", None),
    ("kmem {area_struct+4} {area_guard+16} {free_block+16}", ("kmem",)),
    ("kmem -P {area_frame}", ("kmem",)),
    ("rd vmlist 8", None),
    ("rd -8 vmlist 20", None),
    ("rd -16 contig_page_data 12", None),
    ("rd -64 -p {area_frame} 3", None),
    ("rd -s zone_table 3", None),
    ("rd -a contig_page_data.node_zones[1].name", None),
    ("search 0x{area_struct}", None),
    ("search -m 0xfff -s {vmlist_page} -l 0x1000000 0x{area_struct}", None),
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
    ("kmem -i", None),
    ("kmem -S size-2048 kmem_cache", ("slab_cache", "slab", "objects")),
    ("kmem -s 0x{cache_cache}", None),
    ("whatis vmlist", None),
    ("whatis vm_struct", None),
    ("whatis vmlist->size + 1", None),
    ("ptype struct vm_struct", None),
    ("ptype -o vm_struct", None),
    ("ptype vmlist", None),
    ("struct vm_struct", None),
    ("list -o vm_struct.next *vmlist", None),
    ("list -o 12 -s vm_struct.addr,size *vmlist", None),
    ("list -o vm_struct.next -s vm_struct *vmlist", None),
    ("list -H -o page.list contig_page_data.node_zones[1].free_area[0].free_list", None),
    ("list -h -o kmem_cache_s.next cache_cache", None),
    ("map", None),
    ("map --area c4811000", None),
    ("map --diff 2 5", None),
    ("check", None),
    ("history vmlist", None),
    ("blame -s 8 vmlist", None),
    ("x/2c vmlist", None),
    ("x/3o vmlist", None),
    ("x/2t vmlist", None),
    ("x/4a &vmlist", None),
    ("x/3s &log_buf", None),
    ("help plugins", None),
    ("vm 1 2", None),
    ("vm -p 1", None),
]

# The shipped plugins' commands: their scripts use the plugin's own functions.
PLUGIN_LINES: list[tuple[str, tuple[str, ...] | None]] = [
    ("buddyinfo", None),
    ("meminfo", None),
    ("modules", None),
    ("swapinfo", ("swapinfo", "swap_list")),
    ("vmallocinfo", None),
]

# One line per registered command (plugins' too) whose script must not be the
# fallback that runs the command through the library: a new command fails here
# until it has a script of its own (py= where it is registered) and a line here.
SAMPLES: dict[str, str] = {
    "back": "back 2",
    "blame": "blame vmlist",
    "buddyinfo": "buddyinfo",
    "check": "check",
    "dec": "dec",
    "diff": "diff -s 2 5",
    "eval": "eval vmlist + 4",
    "goto": "goto 4",
    "help": "help",
    "hex": "hex",
    "history": "history vmlist",
    "kmem": "kmem -i",
    "list": "list -o vm_struct.next *vmlist",
    "log": "log",
    "map": "map -o out.svg",
    "meminfo": "meminfo",
    "mod": "mod",
    "modules": "modules",
    "p": "p vmlist",
    "page": "page {area_frame}",
    "plugins": "plugins",
    "ps": "ps",
    "ptov": "ptov {area_frame}",
    "ptype": "ptype vmlist",
    "quit": "quit",
    "rd": "rd vmlist",
    "save": "save /tmp/nowhere/img",
    "search": "search 0x{area_struct}",
    "set": "set radix 16",
    "sim": "sim vmalloc 64K",
    "step": "step",
    "struct": "struct vm_struct",
    "swapinfo": "swapinfo",
    "sym": "sym vmlist",
    "timeline": "timeline -c sys_swapon",
    "vmallocinfo": "vmallocinfo",
    "vm": "vm 1",
    "vmlist": "vmlist",
    "vtop": "vtop c4800010",
    "whatis": "whatis vmlist",
    "x": "x/s &log_buf",
}
# every form of kmem, and forms of the others that once had no script of their own
MORE_FORMS = [
    "kmem -S",
    "kmem -s size-32",
    "kmem -f",
    "kmem -p",
    "kmem -v",
    "kmem c4800010",
    "struct -o page",
    "x/2u vmlist",
    "timeline vmlist",
    "goto end",
    "diff 3",
    "map --diff 3 -o out.svg",
    "sim fault list",
    "set",
]


def _words(lines: list[str]) -> list[list[str]]:
    return [line.split() for line in lines if line.strip()]


def _command_rows(prog, line: str, names: tuple[str, ...] | None) -> list[list[str]]:
    parts = list(run(prog, line))
    if names is not None:
        parts = [p for p in parts if p.name in names]
    elif any(isinstance(p, Table) for p in parts):
        parts = [p for p in parts if isinstance(p, Table)]
    for part in parts:
        if isinstance(part, Table) and part.header:
            # a heading over columns is the command's presentation; a table without
            # one prints a file's lines (/proc/meminfo), its title the file's first
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
def test_the_script_gives_the_commands_rows(prog, at_symbols, line: str, names) -> None:
    line = at_symbols(line)
    script = script_of(prog, line)
    assert script.startswith(f"# {line}\n")
    got = _words(run_script(prog, script).splitlines())
    assert got == _command_rows(prog, line, names)


def _falls_back(script: str) -> bool:
    """Whether the script only runs the command line (showcode's fallback)."""
    return "run(prog" in script or "from vmintro.commands import run" in script


def test_scripts_of_translated_commands_use_the_library_not_run(prog, at_symbols) -> None:
    for line, _ in LINES:
        if line == "log -m" and "log_buf" not in prog:
            continue
        assert not _falls_back(script_of(prog, at_symbols(line))), line


@pytest.fixture
def plugins_loaded():
    unload_plugins()
    load_plugins(err=io.StringIO())
    yield
    unload_plugins()


@pytest.mark.parametrize(("line", "names"), PLUGIN_LINES, ids=[line for line, _ in PLUGIN_LINES])
def test_plugin_scripts_use_the_plugins_functions(prog, plugins_loaded, line: str, names) -> None:
    script = script_of(prog, line)
    assert f"from vmintro_plugins.{line} import" in script and not _falls_back(script)
    got = _words(run_script(prog, script).splitlines())
    assert got == _command_rows(prog, line, names)


def test_no_command_falls_back_to_running_itself(prog, plugins_loaded, at_symbols) -> None:
    """Every registered command has a line here, and its script computes the answer
    with the library (a new command fails this until it has a script)."""
    registered = {cmd.name for cmd in commands()}
    assert registered <= set(SAMPLES), f"no sample line: {sorted(registered - set(SAMPLES))}"
    early = prog.at(3)  # step needs a moment before the last
    forms = list(MORE_FORMS)
    if "-c" in lookup("vtop").options() and "init_task_union" in prog:
        forms.append("vtop -c 1 c4800010")  # through a process's page directory
    for line in [*(SAMPLES[name] for name in sorted(registered)), *forms]:
        script = script_of(early if line == "step" else prog, at_symbols(line))
        assert not _falls_back(script), (
            f"{line}: --py only runs the command; give it a script of its own "
            "(py= where it is registered, see vmintro/commands/showcode.py)"
        )
        compile(script, line, "exec")


def test_a_moves_script_reads_the_moment(prog) -> None:
    namespace = python_namespace(prog)
    exec(compile(script_of(prog, "goto 4"), "<--py>", "exec"), namespace)  # noqa: S102
    assert namespace["prog"].moment == 4
    assert run(namespace["prog"], "vmlist").text == run(prog.at(4), "vmlist").text


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
            except (UsageError, CommandError):
                continue  # arguments it needs, a step past the end: --py reads them as the command
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
