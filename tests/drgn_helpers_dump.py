"""Run under drgn in a child process: what vmintro's drgn helpers and drgn itself read, as JSON.

Kept out of the test process because libkdumpfile can crash on some reads.
Usage: python drgn_helpers_dump.py IMAGE.vmcore IMAGE.vmlinux
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys

os.environ["DRGN_USE_LIBKDUMPFILE_FOR_ELF"] = "1"

import drgn  # noqa: E402
from drgn.commands import run_command  # noqa: E402
from drgn.helpers.linux import mm as drgn_mm  # noqa: E402

from vmintro.backends.drgn import DrgnBackend  # noqa: E402
from vmintro.hosts.drgn_helpers import (  # noqa: E402
    decode_page_flags,
    find_task,
    follow_pte,
    for_each_slab_cache,
    for_each_vm_area,
    for_each_vma,
    identify_address,
    search_memory,
    slab_object_info,
    vmalloc_to_page,
    vmalloc_to_pfn,
)

VM_ALLOC = 0x2


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def main() -> None:
    vmcore, vmlinux = sys.argv[1], sys.argv[2]
    prog = drgn.Program()
    prog.set_core_dump(vmcore)
    prog.main_module("kernel", create=True).try_file(vmlinux, force=True)
    areas = []
    for area in for_each_vm_area(prog):
        assert area.type_.type_name() == "struct vm_struct *"
        addr, size = area.addr.value_(), area.size.value_()
        pages = []
        # every page but the guard; ioremap areas map device memory: no struct page there
        end = addr + size - 4096 if area.flags.value_() & VM_ALLOC else addr
        for va in range(addr, end, 4096):
            pfn = vmalloc_to_pfn(prog, va)
            page = vmalloc_to_page(prog, drgn.Object(prog, "void *", va))
            assert page.type_.type_name() == "struct page *"
            try:
                virtual = sha1(prog.read(va, 4096))  # drgn's own translation of va
            except drgn.FaultError as e:
                virtual = f"fault: {e}"
            pages.append(
                {
                    "va": va,
                    "pfn": pfn,
                    "page": page.value_(),
                    "flags": decode_page_flags(page),
                    "flags_of_struct": decode_page_flags(page[0]),
                    "walk": follow_pte(prog, va).paddr,
                    "drgn_virtual": virtual,
                    "drgn_physical": sha1(prog.read(pfn << 12, 4096, True)),
                }
            )
        areas.append({"vm_struct": area.value_(), "addr": addr, "size": size, "pages": pages})

    first = areas[0]["addr"]
    guard = first + areas[0]["size"] - 4096  # never mapped: vmalloc_to_page is NULL
    null = {"pfn": vmalloc_to_pfn(prog, guard), "page": vmalloc_to_page(prog, guard).value_()}
    try:
        drgn_mm.vmalloc_to_page(prog, first)
        own = "worked"
    except NotImplementedError as e:
        own = f"NotImplementedError: {e}"

    backend = DrgnBackend(prog)
    # the frame just before a stored segment: libkdumpfile crashes reading it itself
    unstored = backend.read_phys(0x100000, 4096)

    # the slab and address helpers, on the first vm_struct (a size-32 object) and area
    vm_struct = areas[0]["vm_struct"]
    info = slab_object_info(prog, drgn.Object(prog, "void *", vm_struct))
    assert info is not None and info.slab_cache.type_.type_name() == "kmem_cache_t *"
    slab = {
        "cache": info.slab_cache.value_(),
        "cache_name": info.slab_cache.name.string_().decode(),
        "slab": info.slab.value_(),
        "address": info.address,
        "allocated": info.allocated,
    }
    identified = [identify_address(prog, a) for a in (vm_struct, first, first + 8)]
    caches = [c.value_() for c in for_each_slab_cache(prog)]
    found = list(search_memory(prog, drgn.Object(prog, "void *", vm_struct)))

    init_mm = find_task(prog, 1).mm
    vmas = [[v.value_(), v.vm_start.value_(), v.vm_end.value_()] for v in for_each_vma(init_mm)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_command(prog, "vm vmlist; vtop " + hex(first) + "; vm 1")
    json.dump(
        {
            "areas": areas,
            "drgn_vmalloc_to_page": own,
            "guard": null,
            "unstored_frame_is_zeros": unstored == bytes(4096),
            "vm_command": out.getvalue(),
            "init_vmas": vmas,
            "slab": slab,
            "identified": identified,
            "caches": caches,
            "found": found,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
