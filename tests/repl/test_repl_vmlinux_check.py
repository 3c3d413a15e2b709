"""The REPL reads its vmlinux's DWARF once the first prompt is drawn: a vmlinux of
another build still ends the session with one line and status 2, no traceback."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pexpect
from replkit import DEMO, spawn_repl

from vmintro.errors import EXIT_USAGE


def test_a_vmlinux_of_another_layout_ends_the_session_in_one_line(tmp_path: Path) -> None:
    # The core says vm_struct is 24 bytes (the same length of text: no offset moves);
    # the vmlinux's DWARF says 16. Its .symtab agrees with the core's SYMBOL() lines,
    # so only the DWARF, read after the prompt, can tell.
    core = Path(f"{DEMO}.vmcore").read_bytes()
    assert core.count(b"SIZE(vm_struct)=16") == 1
    (tmp_path / "x.vmcore").write_bytes(core.replace(b"SIZE(vm_struct)=16", b"SIZE(vm_struct)=24"))
    shutil.copy(f"{DEMO}.vmlinux", tmp_path / "x.vmlinux")
    repl = spawn_repl(tmp_path / "history", image=tmp_path / "x")
    repl.child.expect(pexpect.EOF)
    repl.child.close()
    out = repl.child.before
    assert repl.child.exitstatus == EXIT_USAGE, out
    message = (
        "vmintro: x.vmlinux does not belong to x.vmcore: sizeof(struct vm_struct) is 16 "
        "in the vmlinux, the core's SIZE(vm_struct)=24\r\n"
    )
    assert out.endswith(message), out
    assert "Traceback" not in out
    # the first prompt was drawn before the DWARF was read
    assert "vmintro>" in out.removesuffix(message)


def test_a_command_typed_at_once_runs_on_the_checked_vmlinux(tmp_path: Path) -> None:
    """The first line waits for the DWARF the background is reading, whatever it needs."""
    repl = spawn_repl(tmp_path / "history")
    repl.prompt()
    out = repl.run("p sizeof(struct vm_struct)")
    assert "$1 = 16" in out, out
    repl.child.sendline("quit")
    repl.child.expect(pexpect.EOF)
    repl.child.close()
    assert repl.child.exitstatus == 0


def _other_layout(tmp_path: Path) -> Path:
    core = Path(f"{DEMO}.vmcore").read_bytes()
    (tmp_path / "x.vmcore").write_bytes(core.replace(b"SIZE(vm_struct)=16", b"SIZE(vm_struct)=24"))
    shutil.copy(f"{DEMO}.vmlinux", tmp_path / "x.vmlinux")
    return tmp_path / "x"


def test_tab_while_a_wrong_vmlinux_is_read_ends_in_one_line(tmp_path: Path) -> None:
    """Tab that needs the types waits for the DWARF; when it cannot be used, the
    completion offers nothing and the session ends as without the Tab."""
    repl = spawn_repl(tmp_path / "history", image=_other_layout(tmp_path), preload="slow_dwarf")
    repl.prompt()
    repl.child.send("ptype struct vm_s\t")
    repl.child.expect(pexpect.EOF)
    repl.child.close()
    out = repl.child.before
    assert repl.child.exitstatus == EXIT_USAGE, out
    assert "Traceback" not in out and "Unhandled exception" not in out, out
    assert out.endswith("the core's SIZE(vm_struct)=24\r\n"), out


def test_ctrl_c_while_the_first_line_waits_for_the_dwarf(tmp_path: Path) -> None:
    """Ctrl-C drops the line waiting for the DWARF, as it stops a command: the prompt
    comes back and the session goes on."""
    repl = spawn_repl(tmp_path / "history", preload="slow_dwarf")
    repl.prompt()
    repl.child.send("vm\r")
    time.sleep(0.5)
    repl.child.sendintr()
    repl.child.expect_exact("^C: interrupted")
    repl.prompt()
    assert "$1 = 16" in repl.run("p sizeof(struct vm_struct)")
    repl.child.sendline("quit")
    repl.child.expect(pexpect.EOF)
    repl.child.close()
    assert repl.child.exitstatus == 0
