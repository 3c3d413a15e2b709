"""``map``: the kernel virtual address space, one line per region (or an SVG file).

The REPL's ``map`` and the command line's ``vmintro map IMAGE`` are this one
function, :func:`map_parts`, with the same options (``-o FILE``, ``--area ADDR``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from vmintro.commands.argtypes import parse_address
from vmintro.commands.registry import CommandError, arg, command
from vmintro.commands.result import Text
from vmintro.mapview import address_space, render_frames_text, render_svg, render_text
from vmintro.mapview.layout import AddressSpace, frames_of

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["OutputError", "map_parts"]

OUTPUT_HELP = "write the picture as SVG to FILE instead (--svg: the same)"
AREA_HELP = "also the frames behind the area holding ADDR (drawn, or listed as text)"


class OutputError(CommandError):
    """The SVG file cannot be written (a path the user gave)."""


def map_parts(
    prog: Program, area: str | None = None, output: str | None = None, title: str = ""
) -> Iterator[Text]:
    """What ``map`` shows: the text map (and with ``area`` the frames behind the area
    holding that address), or with ``output`` the SVG written there, atomically.

    On a corrupt ``vmlist`` it shows the areas read before the walk broke, then
    raises the walk's error, as ``vmlist`` does.

    :raises OutputError: when ``output`` cannot be written.
    """
    space = address_space(prog)
    frames = None
    if area is not None:
        addr = parse_address(prog, area)
        found = space.area_at(addr)
        if found is None and space.error is None:
            raise CommandError(f"{addr:#x} is in no vm area")
        # beyond a broken vmlist: the map alone, then the walk's error
        frames = frames_of(prog, found) if found is not None else None
    if output is None:
        text = render_text(space)
        data = _data(space)
        if frames is not None:
            text += f"\n\n{render_frames_text(frames)}"
            data["frames"] = [{"addr": va, "pfn": pfn} for va, pfn, _ in frames.pages]
        yield Text(text, "map", data=data)
    else:
        svg = render_svg(space, frames, prog["max_mapnr"].value_(), title)
        _write(output, svg)
        yield Text(f"wrote {output}", "map", data={"svg": output})
    if space.error is not None:
        raise space.error


def _write(path: str, svg: str) -> None:
    from vmintro.files import atomic_output

    try:
        with atomic_output(path) as f:
            f.write(svg.encode())
    except OSError as e:  # a path the user gave: their mistake, not an internal error
        raise OutputError(f"{path}: {e.strerror}") from None


@command(
    "map",
    help="the kernel address space: lowmem, gap, vmalloc areas, pkmap, fixmap",
    expressions=("area",),
    args=[
        arg("-o", "--output", "--svg", metavar="FILE", help=OUTPUT_HELP),
        arg("--area", metavar="ADDR", help=AREA_HELP),
    ],
)
def map_(prog: Program, args: argparse.Namespace) -> Iterator[Text]:
    """A compact map of the kernel virtual address space from PAGE_OFFSET up,
    one line per region, with a bar of the vmalloc range (A vmalloc area,
    I ioremap area, g guard page, . free). With -o FILE, the same as an SVG
    picture (Figure 8.1 of Gorman's chapter 8). With --area, also the physical
    frames behind the area holding ADDR, one line per page (drawn, with -o),
    so that their non-contiguity shows. On a corrupt vmlist, the areas before
    the break, then the error. The command line's `vmintro map IMAGE` is the same.
    """
    return map_parts(prog, args.area, args.output)


def _data(space: AddressSpace) -> dict[str, Any]:
    return {
        "regions": [
            {"name": r.name, "kind": r.kind, "start": r.start, "end": r.end} for r in space.regions
        ],
        "areas": [
            {"vm_struct": a.vm_struct, "addr": a.addr, "size": a.size, "flags": a.flags}
            for a in space.areas
        ],
    }
