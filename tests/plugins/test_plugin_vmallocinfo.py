"""``vmallocinfo`` against the ground truth: every area, its pages, its kind, ioremap frames."""

from __future__ import annotations

from typing import Any

from pluginkit import Image

PAGE = 4096


def ioremap_phys(truth: dict[str, Any]) -> dict[int, int]:
    """Virtual address -> physical address of every ioremap the scenario made."""
    return {e["addr"]: e["phys"] for e in truth["events"] if e["op"] == "ioremap"}


def expected_line(area: dict[str, Any], phys: dict[int, int]) -> str:
    start, size = area["addr"], area["size"]
    text = f"0x{start:08x}-0x{start + size:08x} {size:7d}"
    if area["flags"] == 2:
        return f"{text} pages={sum(p is not None for p in area['pages'])} vmalloc"
    assert area["flags"] == 1
    return f"{text} phys={phys[start]:#x} ioremap"


def test_one_line_per_area_as_proc_vmallocinfo(image: Image) -> None:
    phys = ioremap_phys(image.truth)
    expected = [expected_line(a, phys) for a in image.truth["areas"]]
    later, *lines = image.text("vmallocinfo").splitlines()
    assert later.startswith("(/proc/vmallocinfo is 2.6.28's; 2.4.20 has none")  # printed
    assert lines == expected


def test_the_demo_lines_read_as_linux_prints_them(demo: Image) -> None:
    lines = demo.text("vmallocinfo").splitlines()[1:]
    assert lines[0] == "0xc4800000-0xc4811000   69632 pages=16 vmalloc"
    assert "0xc4842000-0xc4943000 1052672 phys=0xe0000000 ioremap" in lines


def test_json_rows_carry_every_field(image: Image) -> None:
    doc = image.json("vmallocinfo")["vmallocinfo"]
    assert doc["columns"] == [
        "vm_struct", "start", "end", "size", "pages", "phys", "phys_end", "flags", "kinds",
    ]  # fmt: skip
    phys = ioremap_phys(image.truth)
    for row, area in zip(doc["rows"], image.truth["areas"], strict=True):
        assert row["vm_struct"] == area["vm_struct"]
        assert (row["start"], row["end"]) == (area["addr"], area["addr"] + area["size"])
        assert row["flags"] == area["flags"]
        if area["flags"] == 1:  # an ioremap maps every page, contiguous from its phys
            assert row["kinds"] == ["ioremap"]
            assert row["phys"] == phys[area["addr"]]
            assert row["phys_end"] == row["phys"] + row["pages"] * PAGE
            assert row["pages"] == area["size"] // PAGE - 1
        else:
            assert row["kinds"] == ["vmalloc"]
            assert row["phys"] is None and row["phys_end"] is None
            assert row["pages"] == len(area["pages"])
