"""vmintro inside real gdb: every ``vm`` command prints what the REPL prints.

gdb runs the file ``vmintro gdb-script`` writes, in gdb's own Python (on Debian
``/usr/bin/python3``, not the interpreter running these tests), so these tests
also show that the loader finds vmintro and its dependencies there.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import vmintro
from vmintro.backends.gdb import core_file_from_info_target
from vmintro.commands.discovery import load_plugins, unload_plugins
from vmintro.commands.registry import commands
from vmintro.helpers import for_each_vm_area, vmalloc_to_page, vmalloc_to_pfn
from vmintro.hosts.gdb_script import ensure_dependencies
from vmintro.program import Program

ROOT = Path(__file__).resolve().parent.parent
MARK = "@@vm-test@@"


@pytest.fixture(autouse=True, scope="module")
def _plugins_unloaded_after() -> Iterator[None]:
    """The shipped plugins these tests load stay out of later tests' registry."""
    yield
    unload_plugins()


@pytest.fixture(scope="module")
def loader(gdb_loader: tuple[str, Path]) -> Path:
    """The loader, written by the real ``vmintro gdb-script`` subcommand (``gdb_loader``
    in tests/conftest.py, once per session: the tests that need vmintro inside gdb are
    skipped, or fail where oracles are required, when gdb's Python lacks its
    dependencies)."""
    return gdb_loader[1]


def run_gdb(gdb: str, loader: Path, base: Path, commands: list[str]) -> tuple[list[str], str]:
    """Each gdb command's standard output (split at markers) and gdb's standard error."""
    args = [gdb, "-batch", "-nx", "-x", str(loader), f"{base}.vmlinux", f"{base}.vmcore"]
    for c in commands:
        args += ["-ex", f"echo {MARK}\\n", "-ex", c]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert "Python Exception" not in proc.stderr, proc.stderr
    parts = proc.stdout.split(f"{MARK}\n")[1:]
    assert len(parts) == len(commands), proc.stdout + proc.stderr
    return parts, proc.stderr


def run_repl(base: Path, commands: list[str]) -> tuple[list[str], str]:
    """The same, from ``vmintro IMAGE`` reading the commands on standard input."""
    script = "".join(f"!print({MARK!r})\n{c}\n" for c in commands)
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", f"{base}.vmcore"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
    )
    parts = proc.stdout.split(f"{MARK}\n")[1:]
    assert len(parts) == len(commands), proc.stdout + proc.stderr
    return parts, proc.stderr


def command_lines(prog: Program, out_dir: Path) -> list[str]:
    """Lines that use every vmintro command, on addresses of this image."""
    areas = list(for_each_vm_area(prog))
    first, last = areas[0], areas[-1]
    vaddr = first.addr.value_()
    paddr = prog.translate(vaddr)
    pfn = paddr >> 12
    mem_map = prog["mem_map"].value_()
    lines = [
        "help",
        "help vtop",
        "vmlist",
        "vmlist --json",
        "kmem -v",
        "kmem -f",
        f"kmem -p {paddr:x}",
        f"vtop {vaddr:x}",
        f"vtop {last.addr.value_() + 0x1234:x}",
        "vtop c0101000",
        "vtop 0",
        f"page -n {pfn:x}",
        f"page -n {pfn:x} --json",
        f"ptov {paddr:x}",
        f"rd {vaddr:x} 16",
        f"rd -8 {vaddr:x} 32",
        f"rd -p {paddr:x} 8",
        "rd 0",  # a fault: an error message, the same words in gdb
        "sym vmlist",
        f"sym {mem_map + 100:x}",
        "sym no_such_symbol",
        f"struct vm_struct {first.value_():x}",
        f"union vm_struct {first.value_():x}",
        "p vmlist",
        "print *vmlist",
        "p vmlist->next->addr",
        "ptype struct page",
        "ptype zone_t",
        "whatis vmlist",
        "list -o vm_struct.next -s vm_struct.addr,size *vmlist",
        "check",
        "map",
        "set",
        "set radix 16",
        "p vmlist->size",
        "set radix 10",
        "plugins",
        f"kmem {vaddr:x} {first.value_():x}",
        "kmem -s size-32",
        "kmem -S size-64",
        "kmem -i",
        f"search {first.value_():#x}",
        "x/4wx vmlist",
        "x /2dw vmlist",
        "eval 1024*1024",
        "hex",
        "p vmlist->size",
        "dec",
        "mod",
        "log",
        "ps",
        "ps -u --json",
        "vm 1",  # init's areas (crash's vm); an image without tasks: its error
        "vm -p 1 2",
        f"vtop -c 1 {vaddr:x}",  # init's page directory (an image without tasks: its error)
        f"vtop -c 1 {vaddr:x} --py",
        "rd -s zone_table 3",
        f"struct -x vm_struct {first.value_():x}",
        f"vtop {vaddr:x} --py",
        "vmlist; vtop c0101000",
        f"vmlist > {out_dir}/vmlist.txt",
        "vmlist | wc -l",
        # the timeline (the bundled demo has none: each says so, in gdb as in the REPL)
        "timeline -c vmalloc",
        "history vmlist",
        "blame vmlist",
        "goto 1",
        "vmlist",
        "step",
        "back",
        "goto end",
        "diff 0",
        # the live kernel: a call resumes the image, save without a name is a usage line
        "sim vmalloc 8192",
        "vmlist",
        "back",
        "save",
        "no_such_command",
    ]
    lines += [p.commands[0] for p in load_plugins() if p.commands]
    return lines


@pytest.mark.parametrize("name", ["demo", pytest.param("highmem", marks=pytest.mark.slow), "pae"])
def test_every_vm_command_prints_what_the_repl_prints(
    gdb: str, loader: Path, image_set: dict[str, Path], name: str, tmp_path: Path
) -> None:
    base = image_set[name]
    prog = vmintro.open(f"{base}.vmcore")
    (tmp_path / "repl").mkdir()
    (tmp_path / "gdb").mkdir()
    repl_lines = command_lines(prog, tmp_path / "repl")
    gdb_lines = command_lines(prog, tmp_path / "gdb")
    used = {line.split()[0] for line in repl_lines}
    load_plugins()
    registered = {c.name for c in commands()} - {"quit"}
    assert registered <= used | {"kmem-f"}, registered - used

    ours, ours_err = run_repl(base, repl_lines)
    theirs, theirs_err = run_gdb(gdb, loader, base, [f"vm {line}" for line in gdb_lines])
    for line, expected, got in zip(repl_lines, ours, theirs, strict=True):
        assert got == expected, f"vm {line}"
    assert ours[repl_lines.index("vmlist")].count("\n") > 5
    # the errors: the REPL's lines, each one also gdb's error message
    assert ours_err.strip()
    gdb_errors = set(theirs_err.splitlines())
    for message in ours_err.splitlines():
        assert message in gdb_errors, message
    assert (tmp_path / "gdb" / "vmlist.txt").read_text() == (
        tmp_path / "repl" / "vmlist.txt"
    ).read_text()


def test_kmem_f_spelling_and_help_vm(gdb: str, loader: Path, image_set: dict[str, Path]) -> None:
    """``vm kmem-f`` is ``vm kmem -f``; ``help vm`` lists every command, each with its manual."""
    base = image_set["demo"]
    load_plugins()
    cmds = [c for c in commands() if c.name != "quit"]
    lines = ["vm kmem-f", "vm kmem -f", "help vm", "help vm vtop", "vm"]
    out, _ = run_gdb(gdb, loader, base, lines)
    assert out[0] == out[1] and "nr_free_pages" in out[0]
    listed = dict(re.findall(r"^vm (\S+) -- (.*)$", out[2], re.M))
    for cmd in cmds:
        assert listed.get(cmd.name) == cmd.help, cmd.name
        for alias in cmd.aliases:
            assert alias in listed, alias
    assert "kmem-f" in listed
    for function in ("$vm_translate", "$vm_vmalloc_to_pfn", "$vm_vmalloc_to_page"):
        assert function in out[2]
    vtop = next(c for c in cmds if c.name == "vtop")
    assert vtop.help_text() in out[3]
    assert out[4] == out[2]  # 'vm' alone is 'help vm'


def test_vm_reads_c_operators_as_the_repl_does(gdb: str, loader: Path, tmp_path: Path) -> None:
    """An operator in brackets is C; a line that reads both ways is refused, with both
    readings in gdb's error, and nothing is written (gdb runs in an empty directory)."""
    base = ROOT / "images" / "demo"
    lines = [
        "vm p (256 >> 4)",
        "vm p vmlist->size >> 12",
        "vm pipe p vmlist->size >> 12 | cat",
        "vm p 1 | 2",
    ]
    args = [gdb, "-batch", "-nx", "-x", str(loader), f"{base}.vmlinux", f"{base}.vmcore"]
    for line in lines:
        args += ["-ex", line]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert re.findall(r"^\$\d+ = .*$", proc.stdout, re.M) == ["$1 = 16", "$2 = 17"]
    assert [e for e in proc.stderr.splitlines() if e.startswith("vmintro:")] == [
        "vmintro: ambiguous: 'p vmlist->size >> 12' is 'p (vmlist->size >> 12)' or "
        "'p vmlist->size' appended to file '12': "
        """write 'p (vmlist->size >> 12)' or 'p vmlist->size >> "12"'""",
        "vmintro: ambiguous: 'p 1 | 2' is 'p (1 | 2)' or 'p 1' piped into '2': "
        "write 'p (1 | 2)' or 'pipe p 1 | 2'",
    ]
    assert list(tmp_path.iterdir()) == []


def _gdb_values(outputs: list[str]) -> list[int]:
    values = []
    for text in outputs:
        m = re.fullmatch(r"\$\d+ = (?:\(struct page \*\) )?(0x[0-9a-f]+|\d+)\n", text)
        assert m, text
        values.append(int(m.group(1), 0))
    return values


@pytest.mark.parametrize("name", ["demo", "pae"])
def test_convenience_functions_agree_with_translate(
    gdb: str, loader: Path, image_set: dict[str, Path], name: str
) -> None:
    base = image_set[name]
    prog = vmintro.open(f"{base}.vmcore")
    areas = list(for_each_vm_area(prog))
    vaddrs = [0xC0101000, prog["mem_map"].value_() + 44 * 7]
    # a page of each of the first six areas, the guard page left out
    vaddrs += [
        a.addr.value_() + 0x1000 * (i % max(1, a.size.value_() // 0x1000 - 1)) + 12
        for i, a in enumerate(areas[:6])
    ]
    lines = [f"p/x $vm_translate({v:#x})" for v in vaddrs]
    lines += [f"p/x $vm_vmalloc_to_pfn({v:#x})" for v in vaddrs]
    lines += ["p/x $vm_vmalloc_to_pfn(vmlist->addr)", "p $vm_vmalloc_to_page(vmlist->addr)"]
    lines += ["p $vm_vmalloc_to_page(vmlist->addr)->flags"]
    guard = areas[0].addr.value_() + areas[0].size.value_() - 0x1000  # never mapped
    lines += [f"p $vm_vmalloc_to_page({guard:#x})", f"p $vm_vmalloc_to_pfn({guard:#x})"]
    lines += ["p/x $vm_translate(0)"]
    out, err = run_gdb(gdb, loader, base, lines)
    n = len(vaddrs)
    assert _gdb_values(out[:n]) == [prog.translate(v) for v in vaddrs]
    assert _gdb_values(out[n : 2 * n]) == [vmalloc_to_pfn(prog, v) for v in vaddrs]
    first = areas[0].addr.value_()
    page = vmalloc_to_page(prog, first)
    assert _gdb_values(out[2 * n : 2 * n + 3]) == [
        vmalloc_to_pfn(prog, first),
        page.value_(),
        page.flags.value_(),  # gdb reads mem_map itself, where vmintro's page points
    ]
    # the guard page: vmalloc_to_page is NULL, as 2.4.20's; the pfn an error naming the pte
    assert vmalloc_to_page(prog, guard) is None
    assert _gdb_values(out[2 * n + 3 : 2 * n + 4]) == [0]
    assert out[-2] == out[-1] == ""
    assert f"$vm_vmalloc_to_pfn: read of {guard:#x}: page not present (pte" in err
    assert "$vm_translate: read of 0x0: page not present" in err


@pytest.fixture(scope="module")
def highmem_1g(image_set: dict[str, Path]) -> Path:
    """1 GiB with HIGHMEM: vmalloc pages in frames above 896 MiB, stored with p_vaddr 0."""
    return image_set["highmem"]


def test_highmem_frames_inside_gdb(gdb: str, loader: Path, highmem_1g: Path) -> None:
    """gdb cannot read a highmem frame from the core at all; ``vm`` reads it and walks to it."""
    prog = vmintro.open(f"{highmem_1g}.vmcore")
    area = next(a for a in for_each_vm_area(prog) if prog.translate(a.addr.value_()) >= 896 << 20)
    vaddr = area.addr.value_()
    paddr = prog.translate(vaddr)
    lines = [f"vtop {vaddr:x}", f"rd -p {paddr:x} 16", f"rd {vaddr + 0x40:x} 8"]
    expected, _ = run_repl(highmem_1g, lines)
    checks = [f"vm {line}" for line in lines]
    # gdb's own view of lowmem is the backend's physical view at PAGE_OFFSET + paddr
    checks += [
        "python print(bytes(gdb.selected_inferior().read_memory(0xc0101c00, 64)).hex())",
        "python from vmintro.hosts.gdb import current_program as c; "
        "print(c().read(0x101c00, 64, physical=True).hex())",
        f"x/4wx {vaddr:#x}",
        f"python import sys; print({str(ROOT)!r} in sys.path)",
    ]
    out, err = run_gdb(gdb, loader, highmem_1g, checks)
    assert out[:3] == expected
    assert out[3] == out[4] and out[3].strip() != "0" * 128
    assert f"Cannot access memory at address {vaddr:#x}" in err
    # the loader imports vmintro without putting its checkout on sys.path
    assert out[6] == "False\n"


def test_core_file_from_info_target() -> None:
    text = (
        'Symbols from "/x/demo.vmlinux".\nLocal core dump file:\n'
        "\t`/img/my demo.vmcore', file type elf32-i386.\n\t0xc0101000 - 0xc0104000 is load1\n"
    )
    assert core_file_from_info_target(text) == "/img/my demo.vmcore"
    assert core_file_from_info_target('Symbols from "/x/demo.vmlinux".\n') is None


def test_missing_dependencies_are_named_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A gdb Python of another version without the dependencies gets one clear message."""
    import vmintro.hosts.gdb_script as gs

    monkeypatch.setattr(gs, "DEPENDENCIES", {"vmintro_no_such_module": "nosuch>=1"})
    with pytest.raises(ImportError, match=r"needs nosuch>=1 in gdb's Python .* pip install"):
        ensure_dependencies([], (2, 7))
    # with the same version, the recorded directories are tried first, and only for the
    # dependencies themselves
    (tmp_path / "vmintro_probe_dep.py").write_text("WHERE = 'recorded'\n")
    monkeypatch.setattr(gs, "DEPENDENCIES", {"vmintro_probe_dep": "probe"})
    monkeypatch.delitem(sys.modules, "vmintro_probe_dep", raising=False)
    ensure_dependencies([str(tmp_path)], tuple(sys.version_info[:2]))
    assert sys.modules.pop("vmintro_probe_dep").WHERE == "recorded"
    assert str(tmp_path) not in sys.path


def test_memory_source_reads_through_gdb(
    gdb: str, loader: Path, image_set: dict[str, Path]
) -> None:
    """With ``set vm-source memory`` (as for a live target) vm reads through gdb's read_memory."""
    base = image_set["demo"]
    prog = vmintro.open(f"{base}.vmcore")
    first = prog["vmlist"].value_()
    lines = ["vmlist", f"vtop {prog['vmlist'].addr.value_():x}", f"struct vm_struct {first:x}"]
    expected, _ = run_repl(base, lines)
    out, _ = run_gdb(gdb, loader, base, ["set vm-source memory", *[f"vm {line}" for line in lines]])
    assert out[1:] == expected


def test_memory_source_cannot_reach_highmem(gdb: str, loader: Path, highmem_1g: Path) -> None:
    prog = vmintro.open(f"{highmem_1g}.vmcore")
    area = next(a for a in for_each_vm_area(prog) if prog.translate(a.addr.value_()) >= 896 << 20)
    out, err = run_gdb(
        gdb, loader, highmem_1g, ["set vm-source memory", f"vm rd {area.addr.value_():x} 4"]
    )
    assert "only RAM below high_memory (0x38000000) is reachable" in err


def test_without_core_or_target_vm_says_how_to_open_one(
    gdb: str, loader: Path, image_set: dict[str, Path]
) -> None:
    base = image_set["demo"]
    args = [gdb, "-batch", "-nx", "-x", str(loader), f"{base}.vmlinux"]
    args += ["-ex", "vm vmlist", "-ex", "vm !print(1)"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert "VM_STRUCT" not in proc.stdout  # nothing read from the vmlinux file as if it were RAM
    assert proc.stderr.count("no core file and no live target: open the image with") == 2


def test_vm_goto_moves_the_gdb_session(gdb: str, loader: Path, image_set: dict[str, Path]) -> None:
    # the PAE build of the demo scenario, generated with its timeline: the moment lasts
    # from one vm command to the next, and the convenience functions read it too
    base = image_set["pae"]
    prog = vmintro.open(f"{base}.vmcore")
    first = next(for_each_vm_area(prog)).addr.value_()
    lines = [
        f"p/x $vm_translate({first:#x})",
        "vm goto 0",
        "vm vmlist",
        f"p/x $vm_translate({first:#x})",
        "vm goto end",
        f"p/x $vm_translate({first:#x})",
    ]
    out, err = run_gdb(gdb, loader, base, lines)
    assert _gdb_values([out[0], out[5]]) == [prog.translate(first)] * 2
    assert out[1].startswith("entry 0/") and "(the booted kernel)" in out[1]
    assert "VM_STRUCT" in out[2] and len(out[2].splitlines()) == 1  # no area after boot
    assert out[3] == "" and f"$vm_translate: read of {first:#x}" in err
