"""Reading an image imports the reader only: never the simulator, the scenarios or the writer.

The reader checks the writer (docs/reference/design.rst), so it must not share its code.
In a fresh process, the demo image is opened, every registered command (the
built-in ones and the shipped plugins') runs through the command runner, and
every helper of :data:`vmintro.helpers.__all__` is called, and the browser explorer
draws every moment (``vmintro html``'s document); then ``sys.modules``
must hold nothing of :mod:`vmintro.sim`, :mod:`vmintro.scenario`,
:mod:`vmintro.image.writer`, the generator, or :mod:`vmintro.types.kernel`
(the kernel types the writer derives the DWARF from: the reader takes the
image's own). The demo image is given a timeline for the commands that move in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from timeline.handmade import image_with_timeline

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "images" / "demo"

FORBIDDEN = (
    "vmintro.sim",
    "vmintro.scenario",
    "vmintro.image.writer",
    "vmintro.generate",
    "vmintro.types.kernel",
)

_PACKAGES = [name.split(".") for name in FORBIDDEN]

# Runs in the child: argv[1] is the image, argv[2] a directory for files commands write.
CHILD = r"""
import io, json, sys
from pathlib import Path

import numpy as np

import vmintro
import vmintro.helpers as helpers
from vmintro.cmdline.runner import Runner
from vmintro.commands import commands
from vmintro.commands.discovery import load_plugins
from vmintro.commands.registry import QuitRequested

image, out_dir = sys.argv[1], Path(sys.argv[2])
truth = json.loads(Path(image + ".truth.json").read_text())
prog = vmintro.open(image)
area = next(a for a in truth["areas"] if a["flags"] == 2 and a["pages"])
addr, pfn, vm_struct = area["addr"], area["pages"][0], area["vm_struct"]
page = truth["mem_map"] + pfn * truth["sizeof_page"]
frame = truth["config"]["ram"] - 3 * 4096

vmlist_at = truth["areas"][0]["vm_struct"]  # a slab object (size-32)

# Each command with representative arguments, as a user types them.
LINES = {
    "buddyinfo": ["buddyinfo"],
    "check": ["check", "check --json"],
    "diff": [f"diff {image}", f"diff --json -s {image}", "diff 0", "diff 0 1"],
    "help": ["help", "help vtop"],
    "kmem": ["kmem -f", "kmem -v", f"kmem -p {page:x}", f"kmem {addr:x} {vmlist_at:x}", "kmem -s"]
    + ["kmem -S size-32", "kmem -i"],
    "dec": ["dec"],
    "eval": ["eval vmlist"],
    "hex": ["hex"],
    "list": ["list -o vm_struct.next -s vm_struct.size *vmlist"],
    "log": ["log", "log -m"],
    # a call runs the simulator and save the writer: only their help is the reader's
    "sim": ["sim --help"],
    "save": ["save --help"],
    "mod": ["mod"],
    "search": [f"search {vmlist_at:#x}", "search -p -c size-32"],
    "x": ["x/4wx vmlist"],
    "map": ["map", f"map --area {addr:x}", f"map -o {out_dir / 'map.svg'}", "map --diff 0"]
    + [f"map --diff 0 1 -o {out_dir / 'diff.svg'}"],
    "meminfo": ["meminfo"],
    "modules": ["modules"],
    "p": ["p *vmlist", "p/x vmlist->size + 1", "p sizeof(struct page)"],
    "page": [f"page -n {pfn:x}", f"page {page:x}"],
    "plugins": ["plugins"],
    "ptov": [f"ptov {pfn << 12:x}"],
    "ptype": ["ptype struct vm_struct", "ptype -o struct page"],
    "rd": [f"rd {addr:x} 8", f"rd -p {pfn << 12:x} 8", "rd -a contig_page_data.node_zones[1].name"]
    + ["rd -s zone_table 3"],
    "set": ["set", "set radix 16"],
    "struct": [f"struct vm_struct {vm_struct:x}"],
    "swapinfo": ["swapinfo"],
    "sym": ["sym vmlist", "sym vmlist+2"],
    "vmallocinfo": ["vmallocinfo"],
    "vmlist": ["vmlist", "vmlist --json"],
    "vtop": [f"vtop {addr:x}", "vtop PAGE_OFFSET + 0x100000", f"vtop -c 1 {addr:x}"],
    "ps": ["ps", "ps --json"],
    "vm": ["vm 1", "vm -p 1 --json"],
    "whatis": ["whatis vmlist", "whatis (char)1 + 1"],
    # the image's hand-made timeline writes the frame 3 pages below RAM's end (tests/timeline)
    "back": ["back"],
    "blame": ["blame vmlist", f"blame -p {frame:x}"],
    "goto": ["goto 1", "goto end", "goto 2"],
    "history": ["history vmlist", f"history -p {frame:x}"],
    "step": ["step"],
    "timeline": ["timeline", "timeline -c vmalloc", f"timeline -p {frame:x}"],
    "quit": ["quit"],
}
# Each helper called with representative arguments; constants are only looked up.
area_obj = next(helpers.for_each_vm_area(prog))
zone = next(helpers.for_each_zone(prog))
page_obj = helpers.pfn_to_page(prog, pfn)
module = next(helpers.for_each_module(prog))
vmlist = prog.symbol("vmlist").address
free_list = zone.free_area[0].free_list.address_of_().value_()
head0 = zone.free_area[0].free_list.address_of_()
cache = next(helpers.for_each_slab_cache(prog))
slab = next(s for _, s in helpers.for_each_slab(cache))
CALLS = {
    "AddressInfo": lambda: helpers.AddressInfo,
    "FreeBlock": lambda: helpers.FreeBlock,
    "SlabCacheStats": lambda: helpers.SlabCacheStats,
    "SlabObjectInfo": lambda: helpers.SlabObjectInfo,
    "classify_address": lambda: helpers.classify_address(prog, addr),
    "find_free_block": lambda: helpers.find_free_block(prog, pfn),
    "find_slab_cache": lambda: helpers.find_slab_cache(prog, "size-32"),
    "frame_mappings": lambda: helpers.frame_mappings(prog, pfn),
    "for_each_slab": lambda: list(helpers.for_each_slab(cache)),
    "for_each_slab_cache": lambda: list(helpers.for_each_slab_cache(prog)),
    "identify_address": lambda: helpers.identify_address(prog, vmlist_at),
    "kmem_cache_stats": lambda: helpers.kmem_cache_stats(cache),
    "page_table_frames": lambda: helpers.page_table_frames(prog),
    "search_memory": lambda: list(helpers.search_memory(prog, vmlist_at)),
    "slab_cache_name": lambda: helpers.slab_cache_name(cache),
    "slab_free_objects": lambda: helpers.slab_free_objects(cache, slab),
    "slab_object_info": lambda: helpers.slab_object_info(prog, vmlist_at),
    "PFN_PHYS": lambda: helpers.PFN_PHYS(prog, pfn),
    "decode_module_flags": lambda: helpers.decode_module_flags(module.flags.value_()),
    "decode_page_flags": lambda: helpers.decode_page_flags(page_obj),
    "find_vm_area": lambda: helpers.find_vm_area(prog, addr),
    "for_each_free_area": lambda: list(helpers.for_each_free_area(prog, zone)),
    "for_each_free_page": lambda: list(helpers.for_each_free_page(prog)),
    "for_each_module": lambda: list(helpers.for_each_module(prog, include_kernel=True)),
    "for_each_vm_area": lambda: list(helpers.for_each_vm_area(prog)),
    "for_each_zone": lambda: list(helpers.for_each_zone(prog)),
    "get_vm_area_size": lambda: helpers.get_vm_area_size(area_obj),
    "is_vmalloc_addr": lambda: helpers.is_vmalloc_addr(prog, addr),
    "list_for_each": lambda: list(helpers.list_for_each(prog, free_list)),
    "list_for_each_entry": lambda: list(helpers.list_for_each_entry("struct page", head0, "list")),
    "max_mapnr": lambda: helpers.max_mapnr(prog),
    "max_vm_areas": lambda: helpers.max_vm_areas(prog),
    "module_name": lambda: helpers.module_name(module),
    "page_address": lambda: helpers.page_address(page_obj),
    "page_count": lambda: helpers.page_count(page_obj),
    "page_flag_names": lambda: helpers.page_flag_names(page_obj.flags.value_()),
    "page_to_pfn": lambda: helpers.page_to_pfn(page_obj),
    "page_zone": lambda: helpers.page_zone(page_obj),
    "page_zone_index": lambda: helpers.page_zone_index(page_obj),
    "pfn_to_page": lambda: helpers.pfn_to_page(prog, pfn),
    "pfn_valid": lambda: helpers.pfn_valid(prog, pfn),
    "singly_linked": lambda: list(helpers.singly_linked(prog, vmlist, 4, "vmlist")),
    "virt_to_page": lambda: helpers.virt_to_page(prog, 0xC0100000),
    "virt_to_pfn": lambda: helpers.virt_to_pfn(prog, 0xC0100000),
    "vm_area_nr_pages": lambda: helpers.vm_area_nr_pages(prog, vm_struct, addr, area["size"]),
    "vm_area_pages": lambda: list(helpers.vm_area_pages(area_obj)),
    "vmalloc_area_pages": lambda: helpers.vmalloc_area_pages(area_obj),
    "vmalloc_area_pfns": lambda: helpers.vmalloc_area_pfns(prog),
    "vmalloc_to_page": lambda: helpers.vmalloc_to_page(prog, addr),
    "vmalloc_to_pfn": lambda: helpers.vmalloc_to_pfn(prog, addr),
    "vmalloc_to_pfn_many": lambda: helpers.vmalloc_to_pfn_many(prog, np.array([addr])),
    "zone_name": lambda: helpers.zone_name(zone),
    "pid_hashfn": lambda: helpers.pid_hashfn(1),
}
swapper = prog.symbol("swapper_pg_dir").address
CALLS["follow_pte"] = lambda: helpers.follow_pte(prog, swapper, addr)
if "super_blocks" in prog:  # the filesystem helpers (an image older than them has none)
    CALLS.update({
        "for_each_super_block": lambda: list(helpers.for_each_super_block(prog)),
        "get_super": lambda: helpers.get_super(prog, 0x0301),
        "dentry_path": lambda: helpers.dentry_path(helpers.get_super(prog, 0x0301).s_root),
        "inode_path": lambda: helpers.inode_path(helpers.get_super(prog, 0x0301).s_root.d_inode),
        "page_buffers": lambda: list(helpers.page_buffers(page_obj)),
    })
else:
    CALLS.update(dict.fromkeys(
        ("for_each_super_block", "get_super", "dentry_path", "inode_path", "page_buffers"),
        lambda: None,
    ))
CALLS.update({  # the task helpers
    "init_task": lambda: helpers.init_task(prog),
    "for_each_task": lambda: list(helpers.for_each_task(prog, idle=True)),
    "find_task": lambda: helpers.find_task(prog, 1),
    "task_pgd": lambda: helpers.task_pgd(helpers.find_task(prog, 1)),
    "for_each_vma": lambda: list(helpers.for_each_vma(helpers.find_task(prog, 1).mm)),
})

load_plugins(err=sys.stderr)
names = sorted(c.name for c in commands())
out, err = io.StringIO(), io.StringIO()
runner = Runner(prog, out=out, err=err)
statuses = {}
for name in names:
    for line in LINES.get(name, []):
        try:
            statuses[line] = runner.run_line(line)
        except QuitRequested:
            statuses[line] = "quit"
callable_helpers = sorted(n for n in helpers.__all__ if callable(getattr(helpers, n)))
for name in callable_helpers:
    if name in CALLS:
        CALLS[name]()
# the browser explorer: every view of every moment, as vmintro html writes them
from vmintro.explorer.document import file_document
from vmintro.explorer.page import self_contained

document = file_document(prog, "demo")
self_contained(document)
explored = len(document["moments"])
print(json.dumps({
    "commands": names,
    "without_lines": sorted(set(names) - set(LINES)),
    "helpers": callable_helpers,
    "without_calls": sorted(set(callable_helpers) - set(CALLS)),
    "statuses": statuses,
    "errors": err.getvalue(),
    "modules": sorted(sys.modules),
    "explored": explored,
}))
"""


def test_reading_imports_neither_the_simulator_nor_the_writer(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(image_with_timeline(DEMO, tmp_path)), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    # every command and every helper was exercised, so the check below means something
    assert report["without_lines"] == [], "give these commands a line to run here"
    assert report["without_calls"] == [], "give these helpers a call here"
    assert report["errors"] == ""
    assert {
        line for line, status in report["statuses"].items() if status not in (0, "quit")
    } == set()
    assert "vmintro.image.reader.core" in report["modules"]
    assert "meminfo" in report["commands"]  # the shipped plugins were loaded
    assert report["explored"] == 4  # the explorer drew each moment of the timeline
    forbidden = [
        m for m in report["modules"] if any(m.split(".")[: len(p)] == p for p in _PACKAGES)
    ]
    assert forbidden == []
