"""``page PFN|ADDR [COUNT]`` (crash's ``kmem -p ADDR``): the ``struct page`` of a frame."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT
from vmintro.commands.argtypes import check_address, parse_address, parse_number, split_count
from vmintro.commands.builtin._pages import page_table
from vmintro.commands.registry import CommandError, arg, command
from vmintro.commands.result import Table
from vmintro.helpers import page_to_pfn, pfn_valid

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["resolve_pfn"]


def resolve_pfn(prog: Program, address: int, physical: bool = False) -> int:
    """The frame ``address`` designates, as ``kmem -p`` reads it: a ``struct page``
    inside mem_map, else a kernel virtual address (translated), else (or with
    ``physical``) a physical address.

    :raises FaultError: for a virtual address that is not mapped.
    """
    if not physical and address >= PAGE_OFFSET:
        mem_map = prog["mem_map"].value_()
        size = prog.type("struct page").size
        end = mem_map + prog["max_mapnr"].value_() * size
        if mem_map <= address < end and (address - mem_map) % size == 0:
            return page_to_pfn(address, prog)
        return prog.translate(address) >> PAGE_SHIFT
    return address >> PAGE_SHIFT


def page_pfn(prog: Program, text: str, physical: bool) -> int:
    """``page``'s target: a decimal number is a PFN, anything else an address."""
    if not physical and re.fullmatch(r"\d+|0[xX][0-9a-fA-F]+", text):
        value = int(text, 0)
        if value < PAGE_OFFSET:
            return value
        return resolve_pfn(prog, check_address(prog, value))
    return resolve_pfn(prog, parse_address(prog, text, physical), physical)


@command(
    "page",
    help="the struct page of a frame, flags decoded (crash: kmem -p ADDR)",
    args=[
        arg("-P", "--physical", action="store_true", help="the argument is a physical address"),
        arg("target", nargs="+", help="PFN (decimal or 0x hex), or an address"),
    ],
)
def page(prog: Program, args: argparse.Namespace) -> Table:
    """Show mem_map[pfn] in crash's kmem -p layout: the struct page address, the
    frame's physical address, mapping, index, reference count and flags (hex,
    then the PG_ names).

    The target is a page frame number (a decimal number, or 0x hex below
    PAGE_OFFSET); a struct page address inside mem_map; a kernel virtual address
    (translated through the page tables); or, with -P, a physical address. A
    trailing COUNT shows that many consecutive frames.
    """
    text, count_text = split_count(args.target)
    first = page_pfn(prog, text, args.physical)
    count = parse_number(prog, count_text) if count_text else 1
    if count < 1:
        raise CommandError(f"bad count {count}")
    for pfn in (first, first + count - 1):
        if not pfn_valid(prog, pfn):
            raise CommandError(f"pfn {pfn:#x} is beyond max_mapnr: no struct page")
    return page_table(prog, range(first, first + count))
