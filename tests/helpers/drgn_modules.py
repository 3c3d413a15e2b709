"""Run under drgn in a child process: ``module_list`` as drgn reads it, as JSON.

Each ``struct module`` lives at the start of its vmalloc area, which gdb cannot
read from a core; drgn (through libkdumpfile's page-table walk) can. The walk
goes to NULL, as ``find_module`` does, so the kernel's own ``kernel_module`` ends it.
Usage: python drgn_modules.py IMAGE.vmcore IMAGE.vmlinux
"""

from __future__ import annotations

import json
import os
import sys

os.environ["DRGN_USE_LIBKDUMPFILE_FOR_ELF"] = "1"

import drgn  # noqa: E402

BOUND = 1 << 16  # more modules than any test image has: a cycle must not hang the test


def main() -> None:
    prog = drgn.Program()
    prog.set_core_dump(sys.argv[1])
    prog.main_module("kernel", create=True).try_file(sys.argv[2], force=True)
    modules = []
    mod = prog["module_list"]
    while mod.value_() and len(modules) < BOUND:
        modules.append(
            {
                "address": mod.value_(),
                "name": mod.name.string_().decode(),
                "flags": mod.flags.value_(),
            }
        )
        mod = mod.next
    json.dump({"kernel_module": prog["kernel_module"].address_, "modules": modules}, sys.stdout)


if __name__ == "__main__":
    main()
