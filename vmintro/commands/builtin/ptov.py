"""``ptov PADDR``: the kernel virtual address of a physical address."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from vmintro.commands.argtypes import parse_address
from vmintro.commands.registry import arg, command
from vmintro.commands.result import Column, Row, Table
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


@command(
    "ptov",
    help="physical to virtual",
    args=[arg("address", nargs="+", help="physical address (hex) or expression")],
)
def ptov(prog: Program, args: argparse.Namespace) -> Table:
    """The kernel virtual address of a physical address: PAGE_OFFSET + paddr
    below high_memory; above it (HIGHMEM), the page's current kmap, if any.
    """
    paddr = parse_address(prog, " ".join(args.address), physical=True)
    virtual = ptov_address(prog, paddr)
    return Table(
        [
            Column(
                "virtual",
                "VIRTUAL",
                width=8,
                text=lambda r: "(not mapped)" if r["virtual"] is None else f"{r['virtual']:x}",
                json=True,
            ),
            Column("physical", "PHYSICAL", "x"),
        ],
        [Row(virtual=virtual, physical=paddr)],
        name="ptov",
    )
