"""``ptov PADDR...``: the kernel virtual addresses of physical addresses."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from vmintro.commands.argtypes import parse_addresses
from vmintro.commands.registry import arg, command
from vmintro.commands.result import Column, Row, Table
from vmintro.commands.showcode import hexlits
from vmintro.helpers import page_address, pfn_to_page, pfn_valid

if TYPE_CHECKING:
    from vmintro.program import Program


def ptov_address(prog: Program, paddr: int) -> int | None:
    """``__va(paddr)`` in lowmem; for highmem, where the page is kmapped; else None."""
    if PAGE_OFFSET + paddr < prog.high_memory:
        return PAGE_OFFSET + paddr
    pfn = paddr >> PAGE_SHIFT
    if not pfn_valid(prog, pfn):
        return None
    virtual = page_address(pfn_to_page(prog, pfn))
    return virtual + (paddr & (PAGE_SIZE - 1)) if virtual else None


NOT_MAPPED = "(not mapped)"


def _ptov_py(prog: Program, args: argparse.Namespace) -> str:
    listed = hexlits(parse_addresses(prog, args.address, physical=True))
    return f"""\
        from vmintro.arch.x86 import PAGE_OFFSET
        from vmintro.helpers import page_address, pfn_to_page, pfn_valid

        for paddr in {listed}:
            if PAGE_OFFSET + paddr < prog.high_memory:  # __va(): the direct map
                virtual = PAGE_OFFSET + paddr
            elif pfn_valid(prog, paddr >> 12):  # highmem: where the page is kmapped, if it is
                virtual = page_address(pfn_to_page(prog, paddr >> 12)) or None
                virtual = virtual + (paddr & 0xFFF) if virtual else None
            else:  # no struct page: beyond max_mapnr
                virtual = None
            shown = "(not mapped)" if virtual is None else f"{{virtual:x}}"
            print(f"{{shown}}  {{paddr:x}}")
        """


@command(
    "ptov",
    crash="`ptov`",
    gdb="none: `p/x PADDR + 0xc0000000` by hand, lowmem only",
    help="physical to virtual",
    expressions=("address",),
    args=[arg("address", nargs="+", help="physical address (hex), symbol or expression")],
    py=_ptov_py,
)
def ptov(prog: Program, args: argparse.Namespace) -> Table:
    """The kernel virtual address of each physical address (hex, with or
    without 0x): PAGE_OFFSET + paddr below high_memory; above it (HIGHMEM),
    the page's current kmap, if any, else (not mapped).
    """
    rows = [
        Row(virtual=ptov_address(prog, paddr), physical=paddr)
        for paddr in parse_addresses(prog, args.address, physical=True)
    ]
    # the rows are known: the column is as wide as "(not mapped)" when one is
    width = len(NOT_MAPPED) if any(r["virtual"] is None for r in rows) else 8
    return Table(
        [
            Column(
                "virtual",
                "VIRTUAL",
                width=width,
                text=lambda r: NOT_MAPPED if r["virtual"] is None else f"{r['virtual']:x}",
                json=True,
            ),
            Column("physical", "PHYSICAL", "x"),
        ],
        rows,
        name="ptov",
    )
