"""``vmlist`` (crash's ``kmem -v``): every area on ``vmlist``."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import parse_addresses
from vmintro.commands.registry import CommandError, arg, command
from vmintro.commands.result import Column, Row, Table
from vmintro.commands.showcode import hexlits
from vmintro.helpers import find_vm_area, for_each_vm_area

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = ["VMLIST_COLUMNS", "vmlist_py", "vmlist_table"]

VMLIST_COLUMNS = [
    Column("vm_struct", "VM_STRUCT", "x", 9),
    Column(
        "addr",
        "ADDRESS RANGE",
        width=19,
        text=lambda r: f"{r['addr']:x} - {r['end']:x}",
        json=True,
    ),
    Column("end"),
    Column("size", "SIZE", "d", 9, ">"),
    Column("flags"),
]


def _row(area: Object) -> Row:
    value = area.deref().read_()
    addr = value.addr.value_()
    size = value.size.value_()
    return Row(
        vm_struct=int(area), addr=addr, end=addr + size, size=size, flags=value.flags.value_()
    )


def vmlist_table(prog: Program, addresses: Sequence[int] = ()) -> Table:
    """The ``kmem -v`` table: all areas, or the one containing each of ``addresses``.

    :raises CommandError: naming an address no area contains (before any row).
    """
    if not addresses:
        areas: Iterable[Object] = for_each_vm_area(prog)
    else:
        areas = []
        for address in addresses:
            area = find_vm_area(prog, address)
            if area is None:
                raise CommandError(f"{address:#x}: not in any vmalloc area")
            areas.append(area)
    return Table(VMLIST_COLUMNS, (_row(a) for a in areas), name="vmlist")


def vmlist_py(prog: Program, addresses: Sequence[int]) -> str:
    """The script of ``vmlist [ADDR...]`` (and ``kmem -v``)."""
    if addresses:
        walk = f"areas = [find_vm_area(prog, addr) for addr in {hexlits(list(addresses))}]\n"
    else:
        walk = "areas = for_each_vm_area(prog)  # vmlist, in address order\n"
    return (
        "from vmintro.helpers import find_vm_area, for_each_vm_area\n\n"
        + walk
        + "for area in areas:\n"
        "    addr, size = area.addr.value_(), area.size.value_()  # size: guard page included\n"
        '    print(f"{area.value_():x}  {addr:x} - {addr + size:x}  {size}")\n'
    )


@command(
    "vmlist",
    crash="`kmem -v`",
    gdb="none: a loop over `vmlist->next` by hand",
    help="the vmalloc areas on vmlist (crash: kmem -v)",
    expressions=("address",),
    args=[arg("address", nargs="*", help="only the areas holding these addresses (hex)")],
    py=lambda prog, args: vmlist_py(prog, parse_addresses(prog, args.address)),
)
def vmlist(prog: Program, args: argparse.Namespace) -> Table:
    """One line per vm_struct on vmlist, in list (address) order: the vm_struct,
    the range it covers (its guard page included, as vm_struct.size counts it)
    and its size in bytes. JSON rows also give the end address and the flags
    (1 VM_IOREMAP, 2 VM_ALLOC). With addresses, the area holding each.
    """
    return vmlist_table(prog, parse_addresses(prog, args.address))
