"""``map``: the kernel virtual address space, one line per region (or an SVG file).

The REPL's ``map`` and the command line's ``vmintro map IMAGE`` are this one
function, :func:`map_parts`, with the same options (``-o FILE``, ``--area ADDR``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from vmintro.commands.argtypes import parse_address
from vmintro.commands.builtin.diff import resolve_moments
from vmintro.commands.registry import CommandError, UsageError, arg, command
from vmintro.commands.result import Text
from vmintro.errors import VmintroError
from vmintro.mapview import address_space, render_frames_text, render_svg, render_text
from vmintro.mapview.layout import AddressSpace, frames_of

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["OutputError", "map_parts"]

OUTPUT_HELP = "write the picture as SVG to FILE instead (--svg: the same)"
AREA_HELP = "also the frames behind the area holding ADDR (drawn, or listed as text)"
DIFF_HELP = (
    "mark what changed from entry N to entry M of the timeline (default: the current "
    "one): areas added, removed, resized or remapped, frames taken and released"
)


class OutputError(CommandError):
    """The SVG file cannot be written (a path the user gave)."""


def map_parts(
    prog: Program,
    area: str | None = None,
    output: str | None = None,
    title: str = "",
    moments: list[str] | None = None,
) -> Iterator[Text]:
    """What ``map`` shows: the text map (and with ``area`` the frames behind the area
    holding that address), or with ``output`` the SVG written there, atomically.
    With ``moments`` (``N`` or ``N M``, entries of the timeline) the map of the
    later moment, marked with what changed since the earlier one.

    On a corrupt ``vmlist`` it shows the areas read before the walk broke, then
    raises the walk's error, as ``vmlist`` does.

    :raises OutputError: when ``output`` cannot be written.
    """
    if moments is not None:
        yield from _diff_parts(prog, moments, output, title, area)
        return
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
        _write(prog, output, svg)
        yield Text(f"wrote {output}", "map", data={"svg": output})
    if space.error is not None:
        raise space.error


def _diff_parts(
    prog: Program, moments: list[str], output: str | None, title: str, area: str | None
) -> Iterator[Text]:
    """``map --diff N [M]``: the map of moment M, marked with the changes since N."""
    from vmintro.mapview.changes import map_changes, render_changes_text

    if area is not None:
        raise UsageError("map: --diff and --area do not go together")
    if len(moments) > 2:
        raise UsageError("map: --diff takes N and at most one M")
    try:
        old, new = resolve_moments(prog, moments[0], moments[1] if len(moments) > 1 else None)
        changes = map_changes(old, new)
    except CommandError:
        raise
    except VmintroError as e:  # no timeline, a damaged one, another machine
        raise CommandError(str(e)) from None
    space = changes.space
    if output is None:
        text = f"{render_text(space)}\n\n{render_changes_text(changes)}"
        data = _data(space)
        data["changes"] = {
            "old": changes.diff.old,
            "new": changes.diff.new,
            "areas": changes.diff.to_json()["areas"],
            "taken": [list(b) for b in changes.taken],
            "released": [list(b) for b in changes.released],
        }
        yield Text(text, "map", data=data)
    else:
        svg = render_svg(space, None, changes.max_pfn, title, changes)
        _write(prog, output, svg)
        yield Text(f"wrote {output}", "map", data={"svg": output})
    if space.error is not None:
        raise space.error


def _write(prog: Program, path: str, svg: str) -> None:
    from vmintro.files import atomic_output, output_refusal, writes_over_image

    refusal = output_refusal(path)
    if refusal:
        raise OutputError(f"{path}: {refusal}")
    if writes_over_image(prog.backend, path):
        raise OutputError(f"{path} is a file of the image itself; nothing was written")
    try:
        with atomic_output(path) as f:
            f.write(svg.encode())
    except OSError as e:  # a path the user gave: their mistake, not an internal error
        raise OutputError(f"{path}: {e.strerror}") from None


def _map_py(prog: Program, args: argparse.Namespace) -> str:
    if args.moments is not None:
        return _map_diff_py(prog, args)
    names = ["address_space"]
    lines = ["space = address_space(prog)  # regions from the globals, areas from vmlist"]
    frames = "None"
    if args.area is not None:
        names.append("area_frames")
        lines.append(f"frames = area_frames(prog, {parse_address(prog, args.area):#x})")
        frames = "frames"
    if args.output is not None:
        names.append("render_svg")
        lines += [
            f'svg = render_svg(space, {frames}, prog["max_mapnr"].value_())',
            *_write_py(args.output),
        ]
    else:
        names.append("render_text")
        lines.append("print(render_text(space))")
        if args.area is not None:
            names.append("render_frames_text")
            lines += ["print()", "print(render_frames_text(frames))  # the pfn behind each page"]
    return f"from vmintro.mapview import {', '.join(sorted(names))}\n\n" + "\n".join(lines) + "\n"


def _write_py(path: str) -> list[str]:
    return [f"with open({path!r}, 'w') as f:", "    f.write(svg)", f'print("wrote {path}")']


def _map_diff_py(prog: Program, args: argparse.Namespace) -> str:
    first, *rest = args.moments
    resolve_moments(prog, first, rest[0] if rest else None)  # refused as the command refuses
    old = f"prog.at({first})"
    new = f"prog.at({rest[0]})" if rest else "prog"
    if args.output is not None:
        lines = [
            "from vmintro.mapview import render_svg",
            "from vmintro.mapview.changes import map_changes\n",
            f"changes = map_changes({old}, {new})  # vmintro.diff's areas and frames, drawn",
            "svg = render_svg(changes.space, None, changes.max_pfn, '', changes)",
            *_write_py(args.output),
        ]
        return "\n".join(lines) + "\n"
    return (
        "from vmintro.mapview import render_text\n"
        "from vmintro.mapview.changes import map_changes, render_changes_text\n\n"
        f"changes = map_changes({old}, {new})  # vmintro.diff's areas and frames\n"
        "print(render_text(changes.space))\n"
        "print()\n"
        "print(render_changes_text(changes))\n"
    )


@command(
    "map",
    crash="none: a picture of the address space (Figure 8.1 of Gorman's chapter 8)",
    gdb="none",
    help="the kernel address space: lowmem, gap, vmalloc areas, pkmap, fixmap",
    expressions=("area",),
    args=[
        arg("-o", "--output", "--svg", metavar="FILE", help=OUTPUT_HELP),
        arg("--area", metavar="ADDR", help=AREA_HELP),
        arg("--diff", nargs="+", metavar="N", dest="moments", help=DIFF_HELP, synopsis="N [M]"),
    ],
    py=_map_py,
)
def map_(prog: Program, args: argparse.Namespace) -> Iterator[Text]:
    """A compact map of the kernel virtual address space from PAGE_OFFSET up,
    one line per region, with a bar of the vmalloc range (A vmalloc area,
    I ioremap area, g guard page, . free). With -o FILE, the same as an SVG
    picture (Figure 8.1 of Gorman's chapter 8). With --area, also the physical
    frames behind the area holding ADDR, one line per page (drawn, with -o),
    so that their non-contiguity shows. With --diff N [M], the map of entry M
    of the timeline (default: the current moment) with what changed since
    entry N marked: areas added (+), removed (-), resized or remapped (~), and
    the frames taken and released, zone by zone. On a corrupt vmlist, the areas
    before the break, then the error. The command line's `vmintro map IMAGE`
    is the same.
    """
    return map_parts(prog, args.area, args.output, moments=args.moments)


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
