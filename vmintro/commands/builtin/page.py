"""``page [-P | -n] [-c COUNT] ADDR|PFN...`` (crash's ``kmem -p``): frames' ``struct page``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT
from vmintro.commands.argtypes import (
    VIRTUAL_BITS,
    parse_addresses,
    parse_number,
    parse_pfn,
    split_values,
)
from vmintro.commands.builtin._pages import page_table, pages_py
from vmintro.commands.registry import CommandError, arg, command, one_of
from vmintro.commands.result import Table
from vmintro.commands.showcode import hexlit
from vmintro.helpers import page_to_pfn, pfn_valid

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["frame_runs", "resolve_pfn", "runs_py"]


def resolve_pfn(prog: Program, address: int, physical: bool = False) -> int:
    """The frame ``address`` designates, as crash's ``kmem -p`` reads it: a kernel
    virtual address is a ``struct page`` inside mem_map, or else translated; any
    other address (below PAGE_OFFSET, or past 32 bits under PAE; with ``physical``,
    every address) is physical.

    :raises FaultError: for a virtual address that is not mapped.
    """
    if not physical and PAGE_OFFSET <= address < 1 << VIRTUAL_BITS:
        mem_map = prog["mem_map"].value_()
        size = prog.type("struct page").size
        end = mem_map + prog["max_mapnr"].value_() * size
        if mem_map <= address < end and (address - mem_map) % size == 0:
            return page_to_pfn(address, prog)
        return prog.translate(address) >> PAGE_SHIFT
    return address >> PAGE_SHIFT


def frame_runs(prog: Program, firsts: list[int], count: int = 1) -> Iterator[int]:
    """The pfns of ``count`` frames from each of ``firsts``, every one checked
    (before the first is yielded) to have a ``struct page``.

    :raises CommandError: naming the first pfn beyond max_mapnr.
    """
    for first in firsts:
        for pfn in (first, first + count - 1):  # a run is valid when both its ends are
            if not pfn_valid(prog, pfn):
                raise CommandError(f"pfn {pfn:#x} is beyond max_mapnr: no struct page")
    return (first + i for first in firsts for i in range(count))


@command(
    "page",
    crash="`kmem -p`",
    gdb="`p mem_map[PFN]`",
    help="the struct page of frames, flags decoded (crash: kmem -p ADDR)",
    expressions=("target",),
    args=[
        one_of(
            arg("-P", "--physical", action="store_true", help="each ADDR is a physical address"),
            arg("-n", "--pfn", action="store_true", help="each argument is a page frame number"),
        ),
        arg("-c", "--count", metavar="COUNT", help="COUNT consecutive frames from each"),
        arg("target", nargs="+", help="address (hex), symbol or expression; with -n a PFN (hex)"),
    ],
    py=lambda prog, args: _page_py(prog, args),
)
def page(prog: Program, args: argparse.Namespace) -> Table:
    """Show mem_map[pfn] in crash's kmem -p layout: the struct page address, the
    frame's physical address, mapping, index, reference count and flags (hex,
    then the PG_ names).

    Each ADDR is read as crash's kmem -p reads it (hex, with or without 0x): a
    struct page address inside mem_map; another kernel virtual address
    (translated through the page tables); below PAGE_OFFSET or past 32 bits
    (PAE), or with -P, a physical address. So page 10b4 is the frame holding
    physical address 0x10b4 (pfn 1). With -n each argument is a page frame
    number, also hex: page -n 10b4 is mem_map[0x10b4], the PFN column of map
    --area. -c COUNT (decimal unless 0x) shows that many consecutive frames
    from each.
    """
    firsts, count = _frames(prog, args)
    return page_table(prog, frame_runs(prog, firsts, count))


def _frames(prog: Program, args: argparse.Namespace) -> tuple[list[int], int]:
    """The first pfn of each run ``page`` shows, and the run's length."""
    count = parse_number(prog, args.count) if args.count is not None else 1
    if count < 1:
        raise CommandError(f"page: bad count {count}")
    if args.pfn:
        return [parse_pfn(prog, text) for text in split_values(prog, args.target)], count
    # an address is as wide as a physical one: past 32 bits it can only be physical
    addresses = parse_addresses(prog, args.target, physical=True)
    return [resolve_pfn(prog, a, args.physical) for a in addresses], count


def runs_py(firsts: list[int], count: int = 1) -> str:
    """The pfns of ``count`` frames from each of ``firsts``, as a Python expression."""
    listed = ", ".join(hexlit(f) for f in firsts)
    if count == 1:
        return f"[{listed}]"
    return f"[first + i for first in ({listed},) for i in range({count})]"


def _page_py(prog: Program, args: argparse.Namespace) -> str:
    firsts, count = _frames(prog, args)
    return pages_py(runs_py(firsts, count))
