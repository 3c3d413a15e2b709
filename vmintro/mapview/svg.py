"""The address-space picture as SVG.

Every drawn element carries its meaning in ``class`` and ``data-*`` attributes
(``class="area" data-addr="0xc4800000"``), so tests, scripts and a browser's
inspector can tie the picture back to the kernel's numbers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.escape import escape_text
from vmintro.mapview.layout import AddressSpace, Area, AreaFrames

if TYPE_CHECKING:
    from vmintro.mapview.changes import MapChanges

__all__ = ["COLOURS", "render_svg"]

WIDTH = 1000
MARGIN = 30
INNER = WIDTH - 2 * MARGIN
COLOURS = {
    "lowmem": "#8fbc8f",
    "gap": "#eeeeee",
    "vmalloc": "#b0c4de",
    "pkmap": "#dda0dd",
    "fixmap": "#f4a460",
    "area-vmalloc": "#1f5fbf",
    "area-ioremap": "#e07b00",
    "area-other": "#7f7f7f",
    "guard": "#c62828",
    "zone-DMA": "#ffe082",
    "zone-Normal": "#a5d6a7",
    "zone-HighMem": "#90caf9",
    "frame": "#000000",
    # map --diff: what changed between two moments
    "added": "#2e7d32",
    "removed": "#c62828",
    "remapped": "#ef6c00",
    "taken": "#2e7d32",
    "released": "#c62828",
}
# the outline of a changed area, by kind of change
_CHANGE_COLOUR = {"added": "added", "resized": "remapped", "remapped": "remapped"}
MIB = 1 << 20
# Schematic widths: the real scale would make everything but lowmem invisible.
_WEIGHT = {"lowmem": 28, "gap": 5, "vmalloc": 42, "pkmap": 7, "fixmap": 7}


def _el(parent: ET.Element, tag: str, **attrs: object) -> ET.Element:
    return ET.SubElement(
        parent, tag, {k.rstrip("_").replace("_", "-"): str(v) for k, v in attrs.items()}
    )


def _text(parent: ET.Element, x: float, y: float, s: str, size: int = 11, **attrs: object) -> None:
    t = _el(parent, "text", x=f"{x:.1f}", y=f"{y:.1f}", font_size=size, font_family="monospace")
    for k, v in attrs.items():
        t.set(k.replace("_", "-"), str(v))
    t.text = s


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n // 1024} KiB"


def _overview(svg: ET.Element, space: AddressSpace, y: int) -> None:
    _text(
        svg, MARGIN, y - 14, "Kernel virtual address space (PAGE_OFFSET to 4 GiB, not to scale)", 13
    )
    regions = [r for r in space.regions if r.size > 0]
    total = sum(_WEIGHT.get(r.kind, 5) for r in regions)
    x = float(MARGIN)
    for i, r in enumerate(regions):
        w = INNER * _WEIGHT.get(r.kind, 5) / total
        g = _el(
            svg,
            "g",
            class_="region",
            data_kind=r.kind,
            data_start=f"{r.start:#x}",
            data_end=f"{r.end:#x}",
        )
        rect = _el(
            g,
            "rect",
            x=f"{x:.1f}",
            y=y,
            width=f"{w:.1f}",
            height=40,
            fill=COLOURS[r.kind],
            stroke="#333333",
        )
        _el(rect, "title").text = f"{r.name}: {r.start:#010x}-{r.end:#010x} ({_mib(r.size)})"
        if r.kind != "gap" or w > 60:
            _text(g, x + 3, y + 25, r.name if w > 60 else r.kind, 10)
        if r.end < 1 << 32:
            _text(g, x, y + 54 + 12 * (i % 2), f"{r.start:#x}", 9)
        x += w


def _vmalloc_zoom(
    svg: ET.Element, space: AddressSpace, y: int, changes: MapChanges | None = None
) -> None:
    vm = next(r for r in space.regions if r.kind == "vmalloc")
    gone: list[Area] = changes.removed if changes is not None else []
    marks = changes.marks if changes is not None else {}
    end = max([a.addr + a.size for a in [*space.areas, *gone]] + [vm.start + MIB])
    # A tenth more for the free space after the last area, then up to a MiB
    # boundary (or VMALLOC_END), so that the scale ends at an address that means something.
    stop = min(vm.end, -(-(end + (end - vm.start) // 10) // MIB) * MIB)
    span = stop - vm.start
    scale = INNER / span
    _text(
        svg,
        MARGIN,
        y - 14,
        f"vmalloc areas: VMALLOC_START {vm.start:#x} to {stop:#x} "
        f"(VMALLOC_END {vm.end:#x}); guard pages in red",
        13,
    )
    _el(
        svg,
        "rect",
        x=MARGIN,
        y=y,
        width=INNER,
        height=36,
        fill=COLOURS["vmalloc"],
        stroke="#333333",
        class_="vmalloc-range",
    )
    for a in space.areas:
        x0 = MARGIN + (a.addr - vm.start) * scale
        body = max((a.size - PAGE_SIZE) * scale, 1.0)
        g = _el(
            svg,
            "g",
            class_="area",
            data_addr=f"{a.addr:#x}",
            data_size=a.size,
            data_flags=a.flags,
            data_vm_struct=f"{a.vm_struct:#x}",
        )
        rect = _el(
            g,
            "rect",
            x=f"{x0:.2f}",
            y=y + 2,
            width=f"{body:.2f}",
            height=32,
            fill=COLOURS[f"area-{a.kind}"],
            class_="area-body",
        )
        _el(rect, "title").text = (
            f"{a.kind} area {a.addr:#x}-{a.addr + a.size:#x} ({_mib(a.size)}, "
            f"vm_struct {a.vm_struct:#x})"
        )
        kind = marks.get(a.addr)
        if kind is not None:  # map --diff: the area changed since the earlier moment
            g.set("data-change", kind)
            _el(
                g,
                "rect",
                x=f"{x0:.2f}",
                y=y,
                width=f"{max(a.size * scale, 1.0):.2f}",
                height=36,
                fill="none",
                stroke=COLOURS[_CHANGE_COLOUR[kind]],
                stroke_width="2",
                class_=f"change change-{kind}",
            )
        gx = MARGIN + (a.guard - vm.start) * scale
        _el(
            g,
            "rect",
            x=f"{gx:.2f}",
            y=y + 2,
            width=f"{max(PAGE_SIZE * scale, 1.0):.2f}",
            height=32,
            fill=COLOURS["guard"],
            class_="guard",
            data_addr=f"{a.guard:#x}",
        )
    for a in gone:  # drawn where they were, dashed: they are in the earlier moment only
        rect = _el(
            svg,
            "rect",
            x=f"{MARGIN + (a.addr - vm.start) * scale:.2f}",
            y=y + 2,
            width=f"{max(a.size * scale, 1.0):.2f}",
            height=32,
            fill="none",
            stroke=COLOURS["removed"],
            stroke_width="1.5",
            stroke_dasharray="3,2",
            class_="change change-removed",
            data_addr=f"{a.addr:#x}",
            data_size=a.size,
            data_vm_struct=f"{a.vm_struct:#x}",
        )
        _el(rect, "title").text = f"removed: {a.addr:#x}-{a.addr + a.size:#x} ({_mib(a.size)})"
    _text(
        svg,
        MARGIN,
        y + 50,
        f"{vm.start:#x}",
        9,
        **{"class": "scale", "data-addr": f"{vm.start:#x}"},
    )
    _text(
        svg,
        WIDTH - MARGIN - 70,
        y + 50,
        f"{stop:#x}",
        9,
        **{"class": "scale", "data-addr": f"{stop:#x}"},
    )
    _text(svg, MARGIN + 120, y + 50, f"{len(space.areas)} areas", 9)
    if space.error is not None:
        _text(
            svg,
            MARGIN,
            y + 64,
            f"only the areas before the break: {space.error}",
            9,
            fill=COLOURS["guard"],
            **{"class": "error"},
        )


def _vpage_runs(frames: AreaFrames) -> list[tuple[int, int, int]]:
    """(index, address, pages) of each virtual page to draw: one page each while a
    page is wider than a pixel; past that (an area of hundreds of thousands of
    pages) one run of pages that are all mapped or all unmapped, so the picture
    grows with what it can show, not with the area's size.
    """
    pages = frames.pages
    if len(pages) <= INNER:
        return [(i, va, 1) for i, (va, _pfn, _zone) in enumerate(pages)]
    runs: list[tuple[int, int, int]] = []
    for i, (va, pfn, _zone) in enumerate(pages):
        if runs and (pfn is None) == (pages[i - 1][1] is None):
            first, addr, count = runs[-1]
            runs[-1] = (first, addr, count + 1)
        else:
            runs.append((i, va, 1))
    return runs


def _frames(svg: ET.Element, frames: AreaFrames, max_pfn: int, y: int) -> None:
    a = frames.area
    _text(
        svg,
        MARGIN,
        y - 14,
        f"Frames behind the area at {a.addr:#x}: contiguous in virtual memory, "
        "scattered in physical memory",
        13,
    )
    n = max(len(frames.pages), 1)
    cell = INNER / n
    for i, va, count in _vpage_runs(frames):
        extra = {"data_pages": count} if count > 1 else {}
        _el(
            svg,
            "rect",
            x=f"{MARGIN + i * cell:.2f}",
            y=y,
            width=f"{max(count * cell - 0.5, 0.5):.2f}",
            height=20,
            fill=COLOURS[f"area-{a.kind}"],
            class_="vpage",
            data_addr=f"{va:#x}",
            **extra,
        )
    _text(svg, MARGIN, y + 32, "virtual pages, in order", 9)
    # A zoomed strip around the frames shows their order and gaps; the full
    # physical bar below shows where in RAM, and in which zone, they are.
    pfns = [p for _, p, _ in frames.pages if p is not None]
    # The physical bar spans max_mapnr frames, or what the frames and zones reach when
    # a damaged image's max_mapnr says fewer (0, even).
    span = max(max_pfn, max(pfns, default=0) + 1, *(end for _, _, end in frames.zones), 1)
    lo = max(min(pfns, default=0) - 2, 0)
    hi = min(max(pfns, default=0) + 3, span)
    zy, fy = y + 100, y + 160
    zscale = INNER / max(hi - lo, 1)
    _el(
        svg,
        "rect",
        x=MARGIN,
        y=zy,
        width=INNER,
        height=20,
        fill="#f5f5f5",
        stroke="#333333",
        class_="zoom",
        data_first=lo,
        data_end=hi,
    )
    _text(svg, MARGIN, zy + 32, f"pfn {lo:#x}", 9)
    _text(svg, WIDTH - MARGIN - 70, zy + 32, f"pfn {hi:#x}", 9)
    for i, (va, pfn, zone) in enumerate(frames.pages):
        if pfn is None:
            continue
        fx = MARGIN + (pfn - lo) * zscale
        _el(
            svg,
            "rect",
            x=f"{fx:.2f}",
            y=zy,
            width=f"{max(zscale - 0.5, 0.8):.2f}",
            height=20,
            fill=COLOURS[f"area-{a.kind}"],
            class_="pframe",
            data_pfn=pfn,
        )
        line = _el(
            svg,
            "line",
            x1=f"{MARGIN + (i + 0.5) * cell:.2f}",
            y1=y + 20,
            x2=f"{fx + zscale / 2:.2f}",
            y2=zy,
            stroke=COLOURS["frame"],
            stroke_width="0.6",
            class_="frame",
            data_pfn=pfn,
            data_addr=f"{va:#x}",
            data_zone=zone if zone is not None else "",
        )
        _el(line, "title").text = f"{va:#x} -> pfn {pfn:#x}"
    for name, first, end in frames.zones:
        g, x0, w = _zone(svg, name, first, end, span, fy, 24)
        label = f"ZONE_{name.upper()} (pfn {first:#x}-{end:#x})" if w > 150 else name
        _text(g, x0 + 3, fy + 16, label, 10)
    wx = MARGIN + lo * INNER / span
    ww = max((hi - lo) * INNER / span, 2.0)
    _el(
        svg,
        "rect",
        x=f"{wx:.2f}",
        y=fy - 3,
        width=f"{ww:.2f}",
        height=30,
        fill="none",
        stroke="#000000",
        stroke_width="1.5",
        class_="zoom-window",
    )
    _el(
        svg,
        "line",
        x1=MARGIN,
        y1=zy + 20,
        x2=f"{wx:.2f}",
        y2=fy - 3,
        stroke="#999999",
        stroke_dasharray="3,3",
    )
    _el(
        svg,
        "line",
        x1=WIDTH - MARGIN,
        y1=zy + 20,
        x2=f"{wx + ww:.2f}",
        y2=fy - 3,
        stroke="#999999",
        stroke_dasharray="3,3",
    )
    _text(svg, MARGIN, fy + 40, "physical memory, pfn 0 to max_mapnr, by zone", 10)


def _zone(
    svg: ET.Element, name: str, first: int, end: int, span: int, y: float, height: int
) -> tuple[ET.Element, float, float]:
    """A zone's bar on a strip of ``span`` frames: its group, x and width."""
    x0 = MARGIN + first * INNER / span
    w = (end - first) * INNER / span
    g = _el(svg, "g", class_="zone", data_name=name, data_first=first, data_end=end)
    _el(
        g,
        "rect",
        x=f"{x0:.2f}",
        y=y,
        width=f"{w:.2f}",
        height=height,
        fill=COLOURS.get(f"zone-{name}", "#cccccc"),
        stroke="#333333",
    )
    return g, x0, w


def _short(name: str) -> str:
    """An image's name without its directory (``demo@3``): the picture is narrow."""
    return name.rsplit("/", 1)[-1]


def _frame_changes(svg: ET.Element, changes: MapChanges, y: int) -> None:
    """Physical memory by zone, each column marked where frames were taken (above)
    or released (below): one column per pixel, however many frames it stands for."""
    d = changes.diff
    _text(
        svg,
        MARGIN,
        y - 14,
        "Frames taken (green, above) and released (red, below) from "
        f"{_short(d.old)} to {_short(d.new)}",
        13,
    )
    span = max(changes.max_pfn, *(end for _, _, end in changes.zones), 1)
    columns = int(INNER)
    for name, first, end in changes.zones:
        g, x0, _w = _zone(svg, name, first, end, span, y + 20, 16)
        _text(g, x0 + 3, y + 32, name, 9)
    for what, blocks, top in (("taken", changes.taken, y), ("released", changes.released, y + 38)):
        counts: dict[int, int] = {}
        for pfn, pages in blocks:
            column = min(pfn * columns // span, columns - 1)
            counts[column] = counts.get(column, 0) + pages
        for column, pages in sorted(counts.items()):
            first = -(-column * span // columns)
            rect = _el(
                svg,
                "rect",
                x=f"{MARGIN + column * INNER / columns:.2f}",
                y=top,
                width="2",
                height=18,
                fill=COLOURS[what],
                class_=f"frames-{what}",
                data_first=first,
                data_pages=pages,
            )
            _el(rect, "title").text = f"{pages} frame(s) {what} near pfn {first:#x}"
    taken = sum(p for _, p in changes.taken)
    released = sum(p for _, p in changes.released)
    _text(
        svg,
        MARGIN,
        y + 72,
        f"{taken} frames taken, {released} released; pfn 0 to {span:#x}",
        10,
        **{"class": "frames-summary", "data-taken": taken, "data-released": released},
    )


def render_svg(
    space: AddressSpace,
    frames: AreaFrames | None = None,
    max_pfn: int = 0,
    title: str = "",
    changes: MapChanges | None = None,
) -> str:
    """The picture: overview, vmalloc zoom and (with ``frames``) the backing frames;
    with ``changes`` (``map --diff``), what changed marked on the zoom, and the frames
    taken and released."""
    height = 260 + (250 if frames is not None else 0) + (110 if changes is not None else 0)
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "width": str(WIDTH),
            "height": str(height),
            "viewBox": f"0 0 {WIDTH} {height}",
        },
    )
    _el(svg, "rect", x=0, y=0, width=WIDTH, height=height, fill="#ffffff")
    if title:
        _text(svg, MARGIN, 20, title, 14, font_weight="bold")
    _overview(svg, space, 60)
    _vmalloc_zoom(svg, space, 170, changes)
    if changes is not None:
        legend = "outlined: green added, orange resized or remapped; dashed red: removed"
        _text(svg, MARGIN, 248, legend, 9)
        _frame_changes(svg, changes, 290)
    if frames is not None:
        _frames(svg, frames, max_pfn, 290 + (110 if changes is not None else 0))
    _escape_tree(svg)
    ET.indent(svg)
    return ET.tostring(svg, encoding="unicode") + "\n"


def _escape_tree(root: ET.Element) -> None:
    """Every text and attribute through :func:`escape_text`: zone names come from the
    image, and a control character would make the file invalid XML (ElementTree
    escapes only ``& < > "``)."""
    for el in root.iter():
        if el.text:
            el.text = escape_text(el.text)
        for key, value in el.attrib.items():
            el.set(key, escape_text(value))
