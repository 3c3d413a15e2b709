"""What the explorer shows, as JSON-ready data, from the library's public API.

One *snapshot* is everything the page draws for one moment of the machine: the
regions and vm areas of ``map`` (:func:`vmintro.mapview.address_space`), the
frames behind each area (:func:`vmintro.mapview.layout.frames_of`, the list
``map --area`` prints), the zones and free lists of ``kmem -f --json``, and the
owner of every frame (:mod:`vmintro.explorer.owners`). A page walk is the
document ``vtop ADDR --json`` prints, run through the same command runner. The
page computes nothing of the kernel's: it draws these numbers.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.errors import VmintroError
from vmintro.explorer.owners import FrameOwners, frame_owners
from vmintro.helpers.module import for_each_module, module_name
from vmintro.mapview import address_space
from vmintro.mapview.layout import AddressSpace, Area, frames_of
from vmintro.types.flags import MAX_SWAPFILES, VM_ALLOC, VM_IOREMAP

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["SCHEMA", "area_owners", "command_document", "parse_address", "snapshot", "vtop"]

SCHEMA = 1
_VM_FLAGS = (("VM_IOREMAP", VM_IOREMAP), ("VM_ALLOC", VM_ALLOC))
ADDRESS_LIMIT = 1 << 32


class AddressError(ValueError):
    """Text that is no kernel virtual address in crash's hex form."""


def parse_address(text: str) -> int:
    """A kernel virtual address as every command prints one: hex, with or without
    ``0x``, at most 32 bits. Nothing else (no symbol, no expression: the page
    sends only numbers, and nothing it sends is evaluated).

    :raises AddressError: one line saying what is wrong.
    """
    word = text.strip().lower()
    digits = word[2:] if word.startswith("0x") else word
    if not digits or len(digits) > 8 or any(c not in "0123456789abcdef" for c in digits):
        raise AddressError(f"not a hex address: {text[:40]!r}")
    return int(digits, 16)


def command_document(prog: Program, line: str) -> dict[str, Any]:
    """The document ``vmintro --json -c LINE`` prints, through the same runner.

    ``line`` is made here from numbers only: never text from a request (a ``|``
    in it would run a shell command).
    """
    from vmintro.cmdline.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    Runner(prog, out=out, err=err, json=True).run_command(line)
    document: dict[str, Any] = json.loads(out.getvalue().splitlines()[0])
    return document


def vtop(prog: Program, addr: int) -> dict[str, Any]:
    """``vtop ADDR --json``: the walk of ``addr``, level by level."""
    return command_document(prog, f"vtop {addr:#x}")


def area_owners(prog: Program, space: AddressSpace) -> tuple[dict[int, str], list[str]]:
    """Who each area belongs to, by its address: ``module NAME`` for the area a
    module was loaded into, ``swap_map of swap_info[I]`` for a swap map,
    ``ioremap`` or ``vmalloc`` for the rest; and the walks that broke."""
    owners: dict[int, str] = {}
    errors: list[str] = []
    try:
        for mod in for_each_module(prog):
            area = space.area_at(mod.value_())
            if area is not None:
                owners[area.addr] = f"module {module_name(mod)}"
    except VmintroError as e:
        errors.append(f"module_list: {e}")
    try:
        infos = prog["swap_info"]
        for i in range(min(prog["nr_swapfiles"].value_(), MAX_SWAPFILES)):
            area = space.area_at(infos[i].swap_map.value_())
            if area is not None:
                owners.setdefault(area.addr, f"swap_map of swap_info[{i}]")
    except (VmintroError, KeyError) as e:
        errors.append(f"swap_info: {e}")
    for a in space.areas:
        owners.setdefault(a.addr, a.kind if a.kind != "other" else "vm area")
    return owners, errors


def _kind(area: Area, owner: str) -> str:
    if owner.startswith("module "):
        return "module"
    return "ioremap" if area.kind == "ioremap" else "vmalloc"


def _buddy(prog: Program) -> dict[str, Any]:
    """``kmem -f --json``: each zone, then its free lists by order."""
    document = command_document(prog, "kmem -f")
    zones: list[dict[str, Any]] = []
    for result in document["results"]:
        if result["name"] == "zone":
            zones.extend(dict(row, free_area=[]) for row in result["rows"])
        elif result["name"] == "free_area" and zones:
            zones[-1]["free_area"] = result["rows"]
    return {"zones": zones, "error": document["error"]}


def snapshot(prog: Program, title: str = "") -> dict[str, Any]:
    """Everything the page draws for ``prog`` as it is now (see the module's text).

    A part the image cannot give (a broken list, a type the vmlinux lacks) costs only
    itself: the others are drawn, and ``errors`` says what is missing, one line each.
    """
    layout = prog.layout
    try:
        space = address_space(prog)
    except VmintroError as e:  # not even the walk's start (vmlist's type) can be read
        space = AddressSpace([], [], prog.highmem, prog.pae, e)
    errors = [" ".join(str(space.error).split())] if space.error is not None else []
    owners, owner_errors = area_owners(prog, space)
    errors += owner_errors
    areas: list[dict[str, Any]] = []
    for a in space.areas:
        entry: dict[str, Any] = {
            "vm_struct": a.vm_struct,
            "addr": a.addr,
            "size": a.size,
            "flags": a.flags,
            "flag_names": [name for name, bit in _VM_FLAGS if a.flags & bit],
            "kind": _kind(a, owners[a.addr]),
            "owner": owners[a.addr],
            "guard": a.guard,
            "pages": [],
        }
        try:
            entry["pages"] = [list(p) for p in frames_of(prog, a).pages]
        except VmintroError as e:
            entry["error"] = str(e)
            errors.append(f"area {a.addr:#x}: {e}")
        areas.append(entry)
    try:
        frames = frame_owners(prog, [(a["kind"], [p[1] for p in a["pages"]]) for a in areas])
    except VmintroError as e:  # mem_map or max_mapnr unreadable: no frame can be coloured
        frames = FrameOwners(0, [], [f"frames: {' '.join(str(e).split())}"])
    errors += frames.errors
    buddy = _buddy(prog)
    if buddy["error"]:
        errors.append(buddy["error"])
    return {
        "schema": SCHEMA,
        "title": title,
        "osrelease": prog.osrelease,
        "ram_size": prog.ram_size,
        "highmem": prog.highmem,
        "pae": prog.pae,
        "paging": prog.paging.name,
        "page_size": PAGE_SIZE,
        "layout": {
            "page_offset": PAGE_OFFSET,
            "high_memory": layout.high_memory,
            "vmalloc_start": layout.vmalloc_start,
            "vmalloc_end": layout.vmalloc_end,
            "fixaddr_start": layout.fixaddr_start,
            "fixaddr_top": layout.fixaddr_top,
        },
        "regions": [
            {"name": r.name, "kind": r.kind, "start": r.start, "end": r.end} for r in space.regions
        ],
        "areas": areas,
        "zones": buddy["zones"],
        "frames": frames.as_dict(),
        "errors": errors,
    }
