"""The REPL reads its vmlinux's DWARF once the first prompt is drawn: a vmlinux of
another build still ends the session with one line and status 2, no traceback."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pexpect
from replkit import DEMO, spawn_repl

import vmintro
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


def _high_memory_moved(tmp_path: Path, dwarf_address: int | None) -> Path:
    """The demo image, its vmlinux's DWARF changed about ``high_memory`` (which the
    program reads as it opens, before any DWARF): the variable put at ``dwarf_address``,
    or renamed away when None; ``.symtab`` and the core are left as they are."""
    vmlinux = bytearray(Path(f"{DEMO}.vmlinux").read_bytes())
    symtab_address = vmintro.open(str(DEMO)).symbol("high_memory").address
    location = b"\x03" + struct.pack("<I", symtab_address)  # DW_OP_addr
    assert vmlinux.count(location) == 1 and vmlinux.count(b"high_memory\0") == 2
    if dwarf_address is None:
        at = vmlinux.rindex(b"high_memory\0")  # .debug_str's, after .strtab's
        vmlinux[at : at + 11] = b"high_memorz"
    else:
        at = vmlinux.index(location)
        vmlinux[at + 1 : at + 5] = struct.pack("<I", dwarf_address)
    (tmp_path / "x.vmlinux").write_bytes(vmlinux)
    shutil.copy(f"{DEMO}.vmcore", tmp_path / "x.vmcore")
    return tmp_path / "x"


def _session_ends(image: Path, tmp_path: Path) -> tuple[int | None, str]:
    repl = spawn_repl(tmp_path / "history", image=image)
    repl.child.sendline("p high_memory")
    repl.child.sendline("quit")
    repl.child.expect(pexpect.EOF)
    repl.child.close()
    return repl.child.exitstatus, repl.child.before


def test_a_dwarf_without_high_memory_reads_it_where_symtab_says(tmp_path: Path) -> None:
    """As gdb reads a variable the DWARF lacks from its minimal symbol, both the REPL
    (which reads .symtab before the DWARF) and -c read high_memory from .symtab."""
    image = _high_memory_moved(tmp_path, None)
    truth = vmintro.open(str(DEMO))["high_memory"].value_()
    done = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "-c", "vm", str(image)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    status, out = _session_ends(image, tmp_path)
    assert status == 0, out
    prog = vmintro.open(str(image))
    assert prog.high_memory == truth


def test_a_dwarf_that_moves_high_memory_is_refused_alike(tmp_path: Path) -> None:
    image = _high_memory_moved(tmp_path, 0xC0232018)
    symtab_address = vmintro.open(str(DEMO)).symbol("high_memory").address
    message = (
        f"vmintro: x.vmlinux: high_memory is 0xc0232018 in the DWARF but "
        f"{symtab_address:#x} in .symtab"
    )
    done = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "-c", "vm", str(image)],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (EXIT_USAGE, message + "\n")
    status, out = _session_ends(image, tmp_path)
    assert status == EXIT_USAGE and out.endswith(message + "\r\n"), out
