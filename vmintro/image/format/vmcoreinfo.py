"""The VMCOREINFO note: what a dump tool needs to know about the kernel, as text.

The format is makedumpfile's: one ``KEY=value`` line per fact, ``\\n``-terminated.
Keys written (sizes and offsets in decimal, addresses in lowercase hex without
``0x``, as the kernel's own ``vmcoreinfo_append_str`` prints them):

``OSRELEASE=2.4.20``, ``PAGESIZE=4096``, ``KERNELOFFSET=0``
    Release, page size and KASLR slide (there is none in 2.4).
``SYMBOL(name)=c0101000``
    Address of every kernel symbol of the image (each name once).
``SIZE(type)=44``
    ``sizeof`` under makedumpfile's short names (:data:`VMCOREINFO_TYPES`):
    ``page``, ``vm_struct``, ``zone`` (``zone_t``), ``pglist_data``,
    ``free_area`` (``free_area_t``), ``list_head``, ``pgd_t``, ``pmd_t``, ``pte_t``.
``OFFSET(type.member)=20``
    ``offsetof`` with the 2.4.20 member names (``page.count``, not the newer
    ``page._count``; ``pglist_data.node_start_paddr``, not ``node_start_pfn``),
    those of :data:`VMCOREINFO_OFFSETS`. ``OFFSET(page.virtual)`` exists only
    with CONFIG_HIGHMEM, like the member.
``LENGTH(array)=N``
    Element counts (:data:`VMCOREINFO_LENGTHS`): ``zone_table``,
    ``zone.free_area``, ``pglist_data.node_zones``.
``NUMBER(name)=N``
    ``MAX_ORDER`` and the bit number of every ``PG_*`` page flag.
``CONFIG_HIGHMEM=y``, ``CONFIG_X86_PAE=y``
    Present only when the kernel was built with the option.
``E820(i)=TYPE START-END``
    The BIOS memory map, entry ``i`` from 0 (:func:`e820_line`): ``TYPE`` is
    ``usable`` or ``reserved``, ``START``/``END`` a half-open physical range in
    ``0x`` hex, e.g. ``E820(0)=usable 0x0-0x9fc00``. The highest ``END`` is the
    RAM size: physical memory below it that the core does not store reads as zeros.

The writer derives every size and offset from :mod:`vmintro.types.kernel`, so
the note agrees with the DWARF written beside it; the reader checks a vmlinux
against the note.
"""

from __future__ import annotations

from vmintro.arch.x86 import PAGE_SIZE

__all__ = [
    "E820MAX",
    "OSRELEASE",
    "PAGESIZE",
    "VMCOREINFO_LENGTHS",
    "VMCOREINFO_MAX",
    "VMCOREINFO_OFFSETS",
    "VMCOREINFO_TYPES",
    "e820_line",
]

OSRELEASE = "2.4.20"
PAGESIZE = PAGE_SIZE

# makedumpfile's short name -> the C type it stands for in 2.4.20
VMCOREINFO_TYPES: dict[str, str] = {
    "page": "struct page",
    "vm_struct": "struct vm_struct",
    "zone": "zone_t",
    "pglist_data": "pg_data_t",
    "free_area": "free_area_t",
    "list_head": "struct list_head",
    "pgd_t": "pgd_t",
    "pmd_t": "pmd_t",
    "pte_t": "pte_t",
}

# Members written as OFFSET() lines; a trailing "?" marks a member that only
# some configurations have (it is skipped when absent, never misspelt silently).
VMCOREINFO_OFFSETS: dict[str, tuple[str, ...]] = {
    "page": ("list", "mapping", "index", "count", "flags", "lru", "virtual?"),
    "vm_struct": ("flags", "addr", "size", "next"),
    "zone": (
        "free_pages",
        "free_area",
        "zone_pgdat",
        "zone_mem_map",
        "zone_start_paddr",
        "zone_start_mapnr",
        "name",
        "size",
    ),
    "pglist_data": (
        "node_zones",
        "nr_zones",
        "node_mem_map",
        "node_start_paddr",
        "node_start_mapnr",
        "node_size",
        "node_id",
        "node_next",
    ),
    "free_area": ("free_list", "map"),
    "list_head": ("next", "prev"),
}

# LENGTH() lines: (key, C type holding the array or None for a variable, member or variable)
VMCOREINFO_LENGTHS: tuple[tuple[str, str | None, str], ...] = (
    ("zone_table", None, "zone_table"),
    ("zone.free_area", "zone_t", "free_area"),
    ("pglist_data.node_zones", "pg_data_t", "node_zones"),
)

# The kernel's own buffer is a page (VMCOREINFO_BYTES); this is sixteen.
VMCOREINFO_MAX = 64 << 10
# E820MAX in include/asm-i386/e820.h: the BIOS map the 2.4 kernel keeps.
E820MAX = 32


def e820_line(index: int, start: int, end: int, kind: str) -> str:
    """The line of E820 entry ``index``, without its newline: ``E820(0)=usable 0x0-0x9fc00``."""
    return f"E820({index})={kind} {start:#x}-{end:#x}"
