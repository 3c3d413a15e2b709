"""Run under drgn in a child process: print what drgn reads of an image as JSON.

Kept out of the test process because libkdumpfile can crash on some cores.
Usage: python drgn_dump.py IMAGE.vmcore IMAGE.vmlinux
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

os.environ["DRGN_USE_LIBKDUMPFILE_FOR_ELF"] = "1"

import drgn  # noqa: E402


def main() -> None:
    vmcore, vmlinux = sys.argv[1], sys.argv[2]
    prog = drgn.Program()
    prog.set_core_dump(vmcore)
    prog.main_module("kernel", create=True).try_file(vmlinux, force=True)
    areas = []
    node = prog["vmlist"]
    while node.value_():
        pages = []
        addr, size = node.addr.value_(), node.size.value_()
        for va in range(addr, addr + size - 4096, 4096):
            try:
                pages.append(hashlib.sha1(prog.read(va, 4096)).hexdigest())
            except drgn.FaultError as e:
                pages.append(f"fault: {e}")
        areas.append(
            {
                "vm_struct": node.value_(),
                "flags": node.flags.value_(),
                "addr": addr,
                "size": size,
                "next": node.next.value_(),
                "pages": pages,
            }
        )
        node = node.next
    json.dump({"platform": str(prog.platform.arch), "areas": areas}, sys.stdout)


if __name__ == "__main__":
    main()
