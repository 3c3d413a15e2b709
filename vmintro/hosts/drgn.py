"""vmintro's drgn plugin (entry point ``vmintro`` in the group ``drgn.plugins``).

drgn loads it for every ``Program``; it acts only on a 2.4 kernel (VMCOREINFO
``OSRELEASE=2.4.*``), so other programs are untouched. It does two things:

* **finds the vmlinux.** :func:`drgn_prog_set` registers a debugging-information
  finder, ``vmintro``, that gives the kernel's main module ``NAME.vmlinux``
  from beside ``NAME.vmcore``. drgn's standard finders look for a build ID,
  which these images do not have, so without it ``drgn -c images/demo.vmcore``
  finds no symbols at all::

      DRGN_USE_LIBKDUMPFILE_FOR_ELF=1 drgn -c images/demo.vmcore

* **adds the ``vm`` command.** ``%vm vmlist``, ``%vm vtop c4800000``,
  ``%vm help`` in drgn's interactive mode (or ``run_command(prog, "vm ...")``)
  run vmintro's commands on the program, through vmintro's own page-table walk,
  and print exactly what vmintro's REPL prints. ``;``, ``> FILE``,
  ``| SHELL`` and gdb's ``pipe CMD | SHELL`` work as there, and a C operator
  is never taken for a redirection (``%vm help pipe``).

The helpers themselves are in :mod:`vmintro.hosts.drgn_helpers`
(``from vmintro.hosts.drgn_helpers import *``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import drgn
from drgn.commands import raw_command

__all__ = ["drgn_prog_set", "find_vmlinux", "is_24_kernel"]

logger = logging.getLogger("drgn.plugins.vmintro")

FINDER_NAME = "vmintro"
_KERNEL_KEY = "vmintro.is_24_kernel"
# prog.cache key of the moment of the image's timeline the session reads (vm goto)
MOMENT_KEY = "vmintro.moment"


def is_24_kernel(prog: drgn.Program) -> bool:
    """Whether ``prog`` is a Linux 2.4 kernel (its VMCOREINFO says ``OSRELEASE=2.4.*``)."""
    known = prog.cache.get(_KERNEL_KEY)
    if known is None:
        known = False
        if prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL:
            try:
                note = prog["VMCOREINFO"].string_()
            except Exception:  # noqa: BLE001 - no note, or one drgn cannot read: not ours
                note = b""
            known = any(line.startswith(b"OSRELEASE=2.4.") for line in note.splitlines())
        prog.cache[_KERNEL_KEY] = known
    return known


def find_vmlinux(prog: drgn.Program) -> Path | None:
    """``NAME.vmlinux`` beside the core drgn has open (``NAME.vmcore``), if it is a file.

    Anything else of that name (a FIFO, a device) is left alone, with a
    warning: drgn would block reading it.
    """
    core = prog.core_dump_path
    if not core:
        return None
    from vmintro.files import not_regular
    from vmintro.image.format.names import vmlinux_beside

    path = vmlinux_beside(core)
    kind = not_regular(path)
    if kind is not None:
        logger.warning("%s: is %s, not a regular file; not loading it", path, kind)
        return None
    return path if path.exists() else None


def _finder(vmlinux: Path) -> Any:
    """A debug-info finder giving the kernel's main module ``vmlinux``."""

    def find(modules: list[drgn.Module]) -> None:
        for module in modules:
            if isinstance(module, drgn.MainModule) and module.wants_debug_file():
                # force: the images carry no build ID for drgn to match
                module.try_file(str(vmlinux), force=True)

    return find


def drgn_prog_set(prog: drgn.Program) -> None:
    """drgn's hook once the program has its core: register the vmlinux finder for 2.4."""
    if not is_24_kernel(prog):
        return
    vmlinux = find_vmlinux(prog)
    if vmlinux is None:
        logger.debug("no vmlinux beside %s", prog.core_dump_path)
        return
    # first, so drgn's standard finders do not warn about the missing build ID
    prog.register_debug_info_finder(FINDER_NAME, _finder(vmlinux), enable_index=0)


@raw_command(
    name="vm",
    description="run a vmintro command on this 2.4 kernel",
    usage="**vm** *COMMAND* [*ARGUMENTS*] [; *COMMAND* ...]",
    long_description="""
    Runs vmintro's crash-style commands (vmlist, vtop, page, kmem -f, check,
    rd, p, ptype, ...) through vmintro's own walk of swapper_pg_dir, with the
    same output as vmintro's REPL. 'vm help' lists them, 'vm help COMMAND'
    shows one. '> FILE', '| SHELL' and 'pipe CMD | SHELL' redirect the output
    as in the REPL; a line where '>' or '|' could also be C is refused
    ('vm help pipe').
    """,
    enabled=is_24_kernel,
)
def _cmd_vm(prog: drgn.Program, name: str, args: str, **kwargs: Any) -> None:
    import sys

    from vmintro.cmdline.runner import Runner
    from vmintro.commands.discovery import load_plugins
    from vmintro.errors import VmintroError
    from vmintro.hosts.drgn_helpers import vmintro_program

    load_plugins()  # as the REPL does: plugin commands run here too (loaded once)
    try:
        program = vmintro_program(prog)
    except VmintroError as e:  # a vmlinux vmintro refuses: one line, as the REPL says it
        sys.stderr.write(f"vm: {e}\n")
        return
    # the moment `vm goto` moved this drgn session to lasts until the next move
    runner = Runner(prog.cache.get(MOMENT_KEY, program), out=sys.stdout, err=sys.stderr)
    try:
        # sys.stdout at call time: drgn may have replaced it for a pipe or a file
        runner.run_line(args or "help")
    finally:
        prog.cache[MOMENT_KEY] = runner.prog
