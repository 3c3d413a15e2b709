"""The REPL in a real pseudo-terminal (pexpect): banner, completion, history,
Ctrl-C, errors, Python, the pager and the toolbar.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pexpect
from replkit import DEMO, Repl, spawn_repl


def test_banner_states_the_image(tmp_path: Path, truth) -> None:
    session = spawn_repl(tmp_path / "h", quiet=False)
    banner = session.prompt()
    assert "RELEASE: 2.4.20" in banner
    assert f"MEMORY: {truth['config']['ram'] >> 20} MB" in banner
    assert "HIGHMEM: no    PAE: no" in banner
    assert f"VMALLOC: {truth['vmalloc_start']:08x} - {truth['vmalloc_end']:08x}" in banner
    session.child.sendcontrol("d")
    session.child.expect(pexpect.EOF)
    session.child.close()
    assert session.child.exitstatus == 0


def test_banner_of_a_core_without_its_vmlinux(tmp_path: Path) -> None:
    shutil.copy(DEMO.with_suffix(".vmcore"), tmp_path / "demo.vmcore")
    session = spawn_repl(tmp_path / "h", quiet=False, image=tmp_path / "demo")
    banner = session.prompt()
    assert "demo.vmlinux" not in banner.replace("no demo.vmlinux beside", "")
    assert "KERNEL: none: no vmlinux is loaded" in banner
    assert "--vmlinux FILE" in banner
    out = session.run("p vmlist")
    assert "no vmlinux is loaded" in out
    session.child.close(force=True)


def test_map_of_a_corrupt_vmlist_shows_the_areas_read(tmp_path: Path) -> None:
    from exercise_machines import exercise_machine

    image = exercise_machine("vmlist-cycle")  # not the exercise's image: map is not allowed there
    session = spawn_repl(tmp_path / "h", image=image)
    session.prompt()
    out = session.run("map")
    import vmintro  # the areas before the cycle, and where the last of them ends

    prog, seen = vmintro.open(image), []
    node = prog["vmlist"]
    while node.value_() not in seen:
        seen.append(node.value_())
        last, node = node, node.next
    assert f"] {len(seen)} areas up to {last.addr.value_() + last.size.value_():x}" in out
    assert "map: vmlist: cycle: node at 0x" in out.split("areas up to")[1]
    session.child.close(force=True)


def test_completes_a_command(repl: Repl) -> None:
    repl.complete("vmli", "st")
    out = repl.run("")
    assert "VM_STRUCT  ADDRESS RANGE" in out


def test_completes_a_symbol(repl: Repl) -> None:
    repl.complete("sym contig_pa", "ge_data")
    assert "(B) contig_page_data" in repl.run("")


def test_completes_struct_members(repl: Repl, truth) -> None:
    repl.complete("p vmlist->ne", "xt")
    assert f"$1 = (struct vm_struct *) {truth['areas'][1]['vm_struct']:#x}" in repl.run("")
    repl.complete("struct vm_struct.ad", "dr")
    assert f"addr = {truth['areas'][0]['addr']:#x}" in repl.run(" *vmlist")


def test_history_persists_across_sessions(tmp_path: Path) -> None:
    history = tmp_path / "history"
    first = spawn_repl(history)
    first.prompt()
    first.run("sym max_mapnr")
    first.child.sendcontrol("d")
    first.child.expect(pexpect.EOF)
    assert "sym max_mapnr" in history.read_text()
    second = spawn_repl(history)
    second.prompt()
    second.child.send("\x1b[A")  # Up: the previous session's last line
    assert "(B) max_mapnr" in second.run("")
    second.child.close(force=True)


def test_ctrl_c_stops_a_long_read_and_the_prompt_returns(repl: Repl, tmp_path: Path) -> None:
    # every word of the 64 MiB of RAM: about twenty seconds of work
    target = tmp_path / "dump.txt"
    repl.child.sendline(f"rd -p 0 0x1000000 > {target}")
    time.sleep(1.0)
    repl.child.sendintr()
    repl.child.expect_exact("interrupted")
    repl.prompt()
    lines = target.read_text().splitlines()
    assert 0 < len(lines) < 0x1000000 // 4  # partial output, then stopped
    assert "(B) vmlist" in repl.run("sym vmlist")  # the session goes on


def test_ctrl_c_stops_a_plugin_walk(tmp_path: Path) -> None:
    session = spawn_repl(tmp_path / "h", preload="slow_plugin")
    session.prompt()
    session.run("set scroll off")
    session.child.sendline("slowwalk")
    session.child.expect(r"\n\s*20\r?\n")  # it is running
    session.child.sendintr()
    session.child.expect_exact("interrupted")
    session.prompt()
    assert "(B) vmlist" in session.run("sym vmlist")
    session.child.close(force=True)


def test_a_bad_command_prints_one_line_and_the_session_goes_on(repl: Repl) -> None:
    out = repl.run("vmlst")
    assert "vmlst: command not found (did you mean 'vmlist'?)" in out
    out = repl.run("vtop nosuch_symbol")
    assert 'vtop: no symbol "nosuch_symbol" in current context' in out
    assert "Traceback" not in out
    assert "(B) vmlist" in repl.run("sym vmlist")


def test_py_mode_and_bang_lines(repl: Repl, truth) -> None:
    repl.child.sendline("py")
    repl.py_prompt()
    repl.child.sendline("len(list(for_each_vm_area(prog)))")
    repl.child.expect_exact(str(len(truth["areas"])))
    repl.child.sendline("1/0")
    repl.child.expect_exact("ZeroDivisionError: division by zero")
    repl.child.sendline("first = prog['vmlist']")
    repl.child.sendline("for i in range(2):")
    repl.child.sendline("    print('line', i)")
    repl.child.sendline("")
    repl.child.expect_exact("line 1")
    repl.py_prompt()
    repl.child.sendcontrol("d")
    repl.prompt()
    # the same namespace serves ! lines; an Object prints as gdb would
    assert f"(void *) {truth['areas'][0]['addr']:#x}" in repl.run("!first.addr")
    pfn = truth["areas"][0]["pages"][0]
    assert hex(pfn) in repl.run(f"!hex(vmalloc_to_pfn(prog, {truth['areas'][0]['addr']:#x}))")
    out = repl.run("!container_of(nosuch, 'struct page', 'lru')")
    assert "NameError" in out and "Traceback" in out
    assert "(B) vmlist" in repl.run("sym vmlist")


def test_long_output_is_paged(tmp_path: Path) -> None:
    session = spawn_repl(tmp_path / "h", rows=12)
    session.prompt()
    session.child.sendline("kmem -p")
    session.child.expect_exact("-- MORE --")
    session.child.send(" ")
    session.child.expect_exact("-- MORE --")
    session.child.send("q")
    out = session.prompt()
    assert "PHYSICAL" not in out  # the heading was on the first page
    assert "(B) vmlist" in session.run("sym vmlist")
    session.child.close(force=True)


def test_toolbar_shows_the_image_and_settings(tmp_path: Path) -> None:
    # with cursor-position reports answered, prompt-toolkit draws the toolbar
    session = spawn_repl(tmp_path / "h", PROMPT_TOOLKIT_NO_CPR="")
    child = session.child
    child.expect_exact("\x1b[6n")
    child.send("\x1b[1;1R")
    # the moment appears once the timeline, read after the first prompt, is in
    moment = r"(?:entry \d+/\d+\s+\|\s+)?"
    child.expect(rf"images/demo\s+\|\s+{moment}2\.4\.20 i386 2-level, 64 MiB\s+\|\s+radix 10")
    child.sendline("set radix 16")
    child.expect_exact("\x1b[6n")
    child.send("\x1b[1;1R")
    child.expect(r"radix 16")
    child.close(force=True)


def test_exit_and_quit_leave_the_py_prompt_only(repl: Repl) -> None:
    for leave in ("exit()", "quit()"):
        repl.child.sendline("py")
        repl.py_prompt()
        repl.child.sendline("quit")
        repl.child.expect_exact("Ctrl-D to return to the vmintro prompt")
        repl.child.sendline(leave)
        out = repl.prompt()
        assert "Traceback" not in out
        assert "(B) vmlist" in repl.run("sym vmlist")  # the terminal is still ours
    out = repl.run("!exit()")
    assert "already at the vmintro prompt" in out
    assert "(B) vmlist" in repl.run("sym vmlist")
