"""``modules`` against the ground truth: what insmod loaded and rmmod did not remove."""

from __future__ import annotations

from pluginkit import Image


def loaded(image: Image) -> list[tuple[str, int]]:
    """(name, address) of the modules still loaded, newest first, from the events."""
    order = [(e["name"], e["addr"]) for e in image.truth["events"] if e["op"] == "insmod"]
    owners = {a["owner"] for a in image.truth["areas"]}
    return [(n, a) for n, a in reversed(order) if f"module {n}" in owners]


def test_modules_newest_first_without_the_kernel(image: Image) -> None:
    rows = image.rows("modules")
    assert [(r["name"], r["module"]) for r in rows] == loaded(image)
    assert "" not in [r["name"] for r in rows]  # kernel_module's name is ""


def test_sizes_areas_and_state(image: Image) -> None:
    areas = {a["owner"]: a for a in image.truth["areas"]}
    for row in image.rows("modules"):
        area = areas[f"module {row['name']}"]
        assert row["size"] == image.module_sizes[row["name"]]
        assert (row["area"], row["area_size"]) == (area["addr"], area["size"])
        assert row["area_size"] == -(-row["size"] // 4096) * 4096 + 4096  # pages + guard
        assert row["flag_names"] == ["MOD_RUNNING"] and row["state"] == ["unused"]
        assert row["usecount"] == row["shown_count"] == 0 and row["refs"] == []


def test_proc_modules_text(demo: Image) -> None:
    lines = demo.text("modules").splitlines()
    assert lines[0].split() == [
        "NAME", "SIZE", "USED", "MODULE", "VM_AREA", "AREA_SIZE", "STATE",
    ]  # fmt: skip
    assert lines[1].startswith(f"{'e100':<20}  {22880:8d}     0  ")
    assert lines[1].endswith("(unused)")
    assert len(lines) == 4


def test_lsmod_is_an_alias(demo: Image) -> None:
    assert demo.text("lsmod") == demo.text("modules")
