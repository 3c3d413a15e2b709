"""The address-space picture: its elements against the ground truth, rendered by a real renderer."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from oracles import import_oracle

import vmintro
from vmintro.mapview import address_space, area_frames, render_svg, render_text
from vmintro.mapview.svg import COLOURS

DEMO = Path(__file__).resolve().parent.parent / "images" / "demo"
NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads(Path(f"{DEMO}.truth.json").read_text())


@pytest.fixture(scope="module")
def picture(truth: dict) -> tuple[str, dict]:
    prog = vmintro.open(DEMO)
    area = next(a for a in truth["areas"] if a["owner"] == "module ext3")
    frames = area_frames(prog, area["addr"] + 4096)
    return render_svg(address_space(prog), frames, prog["max_mapnr"].value_()), area


def _elements(svg: str, cls: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [e for e in root.iter() if e.get("class") == cls]


def test_every_area_and_guard_is_drawn(picture: tuple[str, dict], truth: dict) -> None:
    svg, _ = picture
    drawn = [
        (int(g.get("data-addr"), 16), int(g.get("data-size")), int(g.get("data-flags")))
        for g in _elements(svg, "area")
    ]
    assert drawn == [(a["addr"], a["size"], a["flags"]) for a in truth["areas"]]
    guards = [int(r.get("data-addr"), 16) for r in _elements(svg, "guard")]
    assert guards == [a["addr"] + a["size"] - 4096 for a in truth["areas"]]


def test_regions_follow_the_kernel_layout(picture: tuple[str, dict], truth: dict) -> None:
    svg, _ = picture
    regions = {g.get("data-kind"): g for g in _elements(svg, "region")}
    assert int(regions["lowmem"].get("data-start"), 16) == truth["page_offset"]
    assert int(regions["lowmem"].get("data-end"), 16) == truth["high_memory"]
    assert int(regions["vmalloc"].get("data-start"), 16) == truth["vmalloc_start"]
    assert int(regions["vmalloc"].get("data-end"), 16) == truth["vmalloc_end"]


def test_frames_are_the_ones_the_simulator_chose(picture: tuple[str, dict]) -> None:
    svg, area = picture
    lines = _elements(svg, "frame")
    assert [int(e.get("data-pfn")) for e in lines] == area["pages"]
    assert [int(e.get("data-addr"), 16) for e in lines] == [
        area["addr"] + 4096 * i for i in range(len(area["pages"]))
    ]


def test_rendered_pixels_show_areas_and_guards(picture: tuple[str, dict]) -> None:
    cairosvg = import_oracle("cairosvg")
    from PIL import Image

    svg, _ = picture
    png = cairosvg.svg2png(bytestring=svg.encode())
    img = Image.open(io.BytesIO(png)).convert("RGB")
    root = ET.fromstring(svg)
    assert img.size == (int(root.get("width")), int(root.get("height")))

    def colour(hexcode: str) -> tuple[int, int, int]:
        return tuple(int(hexcode[i : i + 2], 16) for i in (1, 3, 5))

    checked = 0
    for rect in _elements(svg, "area-body") + _elements(svg, "guard"):
        x, w = float(rect.get("x")), float(rect.get("width"))
        if w < 3:  # too thin to sample without antialiasing
            continue
        y = float(rect.get("y")) + float(rect.get("height")) / 2
        want = rect.get("fill")
        assert img.getpixel((int(x + w / 2), int(y))) == colour(want)
        checked += 1
    assert checked >= 5
    assert COLOURS["guard"] != COLOURS["area-vmalloc"]


def test_terminal_map_has_one_line_per_region(truth: dict) -> None:
    text = render_text(address_space(vmintro.open(DEMO)))
    lines = text.splitlines()
    assert lines[0].startswith(f"lowmem   {truth['page_offset']:08x}-")
    vm = next(line for line in lines if line.startswith("vmalloc"))
    assert f"{truth['vmalloc_start']:08x}" in vm and f"{len(truth['areas'])} areas" in vm
    assert "I" in vm.split("[")[1]  # the frame-buffer ioremap
