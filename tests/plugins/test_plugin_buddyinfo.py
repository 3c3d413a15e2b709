"""``buddyinfo``: per zone and order, as /proc/buddyinfo, agreeing with the zones' counters."""

from __future__ import annotations

from pluginkit import Image


def test_one_line_per_populated_zone(image: Image) -> None:
    later, *lines = image.text("buddyinfo").splitlines()
    assert later == (  # printed, not only in help
        "(/proc/buddyinfo is 2.6's; 2.4.20 has none: its view computed over this 2.4 image)"
    )
    zones = ["DMA", "Normal"] + (["HighMem"] if image.path.name == "highmem" else [])
    assert [line.split(",")[1].split()[1] for line in lines] == zones
    for line in lines:
        head, counts = line[:21], line[21:]
        assert head.startswith("Node 0, zone ")
        assert len(counts) == 70  # ten counts of " %6d"
        assert all(c.isdigit() for c in counts.split())


def test_counts_hold_each_zones_free_pages(image: Image) -> None:
    """The lists, walked, hold exactly the pages the zone's own counter says are free."""
    for row in image.rows("buddyinfo"):
        assert len(row["free"]) == 10
        assert row["pages"] == sum(n << order for order, n in enumerate(row["free"]))
        assert row["pages"] == row["free_pages"] > 0


def test_counts_agree_with_kmem_f(image: Image) -> None:
    by_zone: dict[str, list[int]] = {}
    zone = ""
    for part in image.parts("kmem -f"):  # a zone table, then its free_area table
        if part["name"] == "zone":
            zone = part["rows"][0]["name"]
        elif part["name"] == "free_area" and part["rows"]:
            by_zone[zone] = [r["blocks"] for r in part["rows"]]
    assert {r["zone"]: r["free"] for r in image.rows("buddyinfo")} == by_zone


def test_highmem_zone_holds_highmem_pages(highmem: Image) -> None:
    [row] = [r for r in highmem.rows("buddyinfo") if r["zone"] == "HighMem"]
    assert row["index"] == 2
    [high_kb] = highmem.log_kb(r"[( ](\d+)k highmem\)")
    assert 0 < row["pages"] * 4 <= high_kb
