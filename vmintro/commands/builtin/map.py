"""``map``: the kernel virtual address space, one line per region (or an SVG file)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import parse_address
from vmintro.commands.registry import CommandError, arg, command
from vmintro.commands.result import Text
from vmintro.mapview import (
    address_space,
    area_frames,
    render_frames_text,
    render_svg,
    render_text,
)

if TYPE_CHECKING:
    from vmintro.program import Program


@command(
    "map",
    help="the kernel address space: lowmem, gap, vmalloc areas, pkmap, fixmap",
    args=[
        arg("--svg", metavar="FILE", help="write the picture as SVG to FILE instead"),
        arg("--area", metavar="ADDR", help="also the frames behind the area holding ADDR"),
    ],
)
def map_(prog: Program, args: argparse.Namespace) -> Text:
    """A compact map of the kernel virtual address space from PAGE_OFFSET up,
    one line per region, with a bar of the vmalloc range (A vmalloc area,
    I ioremap area, g guard page, . free). With --svg, the same as a picture
    (Figure 8.1 of Gorman's chapter 8). With --area, also the physical frames
    behind the area holding ADDR, one line per page (drawn, with --svg), so
    that their non-contiguity shows.
    """
    space = address_space(prog)
    frames = area_frames(prog, parse_address(prog, args.area)) if args.area else None
    if args.svg is None:
        data = _data(space)
        if frames is None:
            return Text(render_text(space), "map", data=data)
        data["frames"] = [{"addr": va, "pfn": pfn} for va, pfn, _ in frames.pages]
        return Text(f"{render_text(space)}\n\n{render_frames_text(frames)}", "map", data=data)
    svg = render_svg(space, frames, prog["max_mapnr"].value_())
    try:
        with open(args.svg, "w", encoding="utf-8") as f:
            f.write(svg)
    except OSError as e:  # a path the user gave: their mistake, not an internal error
        raise CommandError(f"{args.svg}: {e.strerror}") from None
    return Text(f"wrote {args.svg}", "map", data={"svg": args.svg})


def _data(space) -> dict:  # noqa: ANN001
    return {
        "regions": [
            {"name": r.name, "kind": r.kind, "start": r.start, "end": r.end} for r in space.regions
        ],
        "areas": [
            {"vm_struct": a.vm_struct, "addr": a.addr, "size": a.size, "flags": a.flags}
            for a in space.areas
        ],
    }
