"""The banner shown when a session opens, in the manner of crash's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro._version import __version__

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["banner"]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def banner(prog: Program, image: str) -> str:
    """Kernel release, RAM, HIGHMEM/PAE and the vmalloc range of ``prog``."""
    backend = prog.backend
    vmlinux = getattr(backend, "vmlinux_path", None)
    vmcore = getattr(backend, "vmcore_path", None)
    lines = [
        f"vmintro {__version__}: a simulated Linux 2.4.20 i386 memory manager",
        "",
        f"      KERNEL: {vmlinux if vmlinux is not None else image}",
        f"    DUMPFILE: {vmcore if vmcore is not None else image}",
        f"     RELEASE: {prog.osrelease}",
        f"      MEMORY: {prog.ram_size >> 20} MB",
        f"     HIGHMEM: {_yes(prog.highmem)}    PAE: {_yes(prog.pae)}",
        f"     VMALLOC: {prog.vmalloc_start:08x} - {prog.vmalloc_end:08x}",
        "",
        "Type help for the commands, py for Python; Ctrl-D quits.",
        "",
    ]
    return "\n".join(lines)
