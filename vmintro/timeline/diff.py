"""``diff(prog_a, prog_b)``: what changed between two moments of one machine, in kernel terms.

The two programs are two moments of one timeline (``prog.at(n)``) or two images of
the same machine (two runs of one scenario stopped at different steps, say)::

    >>> d = diff(prog.at(0), prog)
    >>> [hex(a.addr) for a in d.areas if a.kind == "added"][:2]
    ['0xc4800000', '0xc4812000']
    >>> print(d)            # the text the ``diff`` command prints
    >>> d.to_json()         # the same as plain data

What it reports, each read through the library's helpers: ``vmlist`` areas added,
removed, resized or remapped (with their ``vm_struct``); entries of
``swapper_pg_dir`` over the kernel range that were set, changed or cleared, by
virtual address, and the page tables below it allocated or freed; frames taken from
and given back to the buddy allocator, as blocks by zone and order, with what took
them where that is known (a vmalloc area, a page table); the free-list counts per
zone and order and each zone's ``free_pages``; ``struct page`` flags and counts that
changed; modules loaded, unloaded or changed; swap areas switched on, off or changed.

Pages are compared first (:mod:`vmintro.timeline.diff_scan`): only frames that
differ are decoded, so a diff of two moments costs what changed between them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from vmintro.errors import VmintroError
from vmintro.escape import escape_text
from vmintro.helpers import max_mapnr
from vmintro.timeline.diff_parts import (
    area_changes,
    buddy_changes,
    module_changes,
    note,
    page_table_changes,
    read_areas,
    read_zones,
    swap_changes,
)
from vmintro.timeline.diff_result import (
    AreaChange,
    Diff,
    FrameChange,
    FreeAreaChange,
    ModuleChange,
    PageChange,
    PteChange,
    SwapChange,
    TableChange,
    ZoneChange,
)
from vmintro.timeline.diff_scan import changed_frames, moment_shown, timeline_span

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = [
    "AreaChange",
    "Diff",
    "DiffError",
    "DifferentMachinesError",
    "FrameChange",
    "FreeAreaChange",
    "ModuleChange",
    "PageChange",
    "PteChange",
    "SwapChange",
    "TableChange",
    "ZoneChange",
    "check_same_machine",
    "diff",
]


class DiffError(VmintroError):
    """Two programs that cannot be compared; the message is one line."""


class DifferentMachinesError(DiffError):
    """Two programs that are not moments of one machine; the message is one line
    naming what differs."""


# -- the same machine --------------------------------------------------------------------


def _mib(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n:#x} bytes"


def check_same_machine(a: Program, b: Program, names: tuple[str, str] | None = None) -> None:
    """Refuse two programs of different machines, in one line naming what differs and
    the two images (``names``, by default their names).

    The same machine is the same kernel build (release, HIGHMEM, PAE, every symbol
    at the same address, ``struct page`` of the same size) on the same RAM
    (size, ``mem_map``, ``max_mapnr``, ``high_memory``, the zones' extents).

    :raises DifferentMachinesError: naming the first fact that differs, both values:
        ``different machines: RAM 64 MiB (images/demo) vs 128 MiB (/tmp/big)``.
    :raises DiffError: for an image without types (no vmlinux) to read the rest with.
    """
    old, new = names if names is not None else (_name(a, False), _name(b, False))

    def differ(what: str, x: object, y: object) -> None:
        if x != y:
            raise DifferentMachinesError(f"different machines: {what} {x} ({old}) vs {y} ({new})")

    differ("release", a.osrelease or "unknown", b.osrelease or "unknown")
    differ("paging", "PAE" if a.pae else "2-level", "PAE" if b.pae else "2-level")
    differ("HIGHMEM", "yes" if a.highmem else "no", "yes" if b.highmem else "no")
    differ("RAM", _mib(a.ram_size), _mib(b.ram_size))
    symbols_b = {s.name: s.address for s in b.symbols()}
    only = [(escape_text(s.name), old) for s in a.symbols() if s.name not in symbols_b]
    symbols_a = {s.name for s in a.symbols()}
    only += [(escape_text(n), new) for n in sorted(symbols_b) if n not in symbols_a]
    if only:
        name, side = only[0]
        raise DifferentMachinesError(
            f"different machines (kernel builds): symbol {name} only in {side}'s kernel"
        )
    for sym in a.symbols():
        differ(
            f"kernel builds: {escape_text(sym.name)} at",
            f"{sym.address:#x}",
            f"{symbols_b[sym.name]:#x}",
        )
    if not (a.has_debuginfo and b.has_debuginfo):
        raise DiffError(
            f"{old if not a.has_debuginfo else new} has no vmlinux: no types to compare"
        )
    differ("sizeof(struct page)", a.type("struct page").size, b.type("struct page").size)
    differ("mem_map", f"{a['mem_map'].value_():#x}", f"{b['mem_map'].value_():#x}")
    differ("max_mapnr", f"{max_mapnr(a):#x}", f"{max_mapnr(b):#x}")
    differ("high_memory", f"{a.high_memory:#x}", f"{b.high_memory:#x}")
    for (name, first, size, _), (name_b, first_b, size_b, _) in zip(
        read_zones(a), read_zones(b), strict=False
    ):
        differ("zone", name, name_b)
        differ(f"zone {name}", f"pfn {first:#x}+{size}", f"pfn {first_b:#x}+{size_b}")


def _name(prog: Program, moments: bool) -> str:
    """The image's name, with ``@N`` for a moment of its timeline, and for the image
    itself when two moments of one timeline are compared."""
    path = getattr(prog.backend, "vmcore_path", None)
    if path is not None:
        name = os.fspath(Path(path).with_suffix(""))
    else:  # the live kernel's program: named after the image it was resumed from
        from vmintro.timeline.moments import root_of

        live = getattr(root_of(prog), "_live", None)
        origin = getattr(live, "origin", None)
        name = f"{os.fspath(Path(origin).with_suffix(''))} (live)" if origin else "live"
    moment = moment_shown(prog)
    if moment is None and moments:
        moment = prog.moment
    return escape_text(f"{name}@{moment}" if moment is not None else name)


# -- the diff ----------------------------------------------------------------------------


def diff(
    prog_a: Program,
    prog_b: Program,
    *,
    names: tuple[str, str] | None = None,
) -> Diff:
    """What changed from ``prog_a`` to ``prog_b``, two moments of one machine: moments
    of one timeline (``prog.at(n)``) or images of the same machine.

    ``names`` label the two sides (default: each image's name, with ``@N`` for
    moments of one timeline).

    :raises DifferentMachinesError: for programs of different machines, naming what
        differs (:func:`check_same_machine`).
    """
    a, b = prog_a, prog_b
    span = timeline_span(a, b)
    old, new = (
        names if names is not None else (_name(a, span is not None), _name(b, span is not None))
    )
    check_same_machine(a, b, (old, new))
    result = Diff(old, new)
    changed = changed_frames(a, b, span)
    result.frames_changed = len(changed)
    if not len(changed):
        return result  # the same RAM: nothing of the kernel's differs
    errors = result.errors
    areas_a, why_a = read_areas(a)
    areas_b, why_b = read_areas(b)
    note(errors, "vmlist (old)", why_a)
    note(errors, "vmlist (new)", why_b)
    result.ptes, result.tables = page_table_changes(a, b, changed, errors)
    result.areas = area_changes(areas_a, areas_b, result.ptes)
    result.free_area, result.zones, result.pages, result.frames = buddy_changes(
        a, b, changed, max_mapnr(a), (areas_a, areas_b), result.ptes, result.tables, errors
    )
    result.modules = module_changes(a, b, errors)
    result.swap = swap_changes(a, b, errors)
    return result
