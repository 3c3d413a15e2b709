"""The banner shown when a session opens, in the manner of crash's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro._version import __version__

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["banner"]


# What a core alone allows: symbols from its VMCOREINFO, memory, the page tables.
NO_VMLINUX = [
    "Without a vmlinux there are symbols (from the core's VMCOREINFO) but no types:",
    "rd, sym, ptov, vtop's walk, list by offset and p with a cast (p (unsigned long)vmlist)",
    "work; commands that need types say so. Give the vmlinux with --vmlinux FILE.",
    "",
]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def banner(prog: Program, image: str) -> str:
    """Kernel release, RAM, HIGHMEM/PAE and the vmalloc range of ``prog``; without a
    vmlinux, says so and what works without one.
    """
    backend = prog.backend
    vmlinux = getattr(backend, "vmlinux_path", None)
    vmcore = getattr(backend, "vmcore_path", None)
    if not prog.has_debuginfo:
        kernel = "none: no vmlinux is loaded"
        if vmlinux is not None and vmcore is not None:
            kernel += f" (no {vmlinux.name} beside {vmcore.name})"
    else:
        kernel = str(vmlinux if vmlinux is not None else image)
    lines = [
        f"vmintro {__version__}: a simulated Linux 2.4.20 i386 memory manager",
        "",
        f"      KERNEL: {kernel}",
        f"    DUMPFILE: {vmcore if vmcore is not None else image}",
        f"     RELEASE: {prog.osrelease}",
        f"      MEMORY: {prog.ram_size >> 20} MB",
        f"     HIGHMEM: {_yes(prog.highmem)}    PAE: {_yes(prog.pae)}",
        f"     VMALLOC: {prog.vmalloc_start:08x} - {prog.vmalloc_end:08x}",
        "",
        *([] if prog.has_debuginfo else NO_VMLINUX),
        "Type help for the commands, py for Python; Ctrl-D quits.",
        "",
    ]
    return "\n".join(lines)
