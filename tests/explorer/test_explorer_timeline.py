"""The explorer over an image's timeline: each moment is ``prog.at(n)``, and each
entry's changes are what its call did."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import vmintro
from vmintro.explorer.document import Explorer, MomentError, file_document
from vmintro.helpers import for_each_vm_area

# entry points that make one area (their result) and that remove one (their argument)
MAKERS = ("vmalloc", "vmalloc_32", "vmalloc_dma", "ioremap", "ioremap_nocache")
REMOVERS = ("vfree", "iounmap")


@pytest.fixture(scope="module")
def prog(timeline_image: Path) -> vmintro.Program:
    return vmintro.open(timeline_image)


@pytest.fixture(scope="module")
def explorer(prog: vmintro.Program) -> Explorer:
    return Explorer(prog, "demo")


def _areas(snap: dict[str, Any]) -> list[tuple[int, int]]:
    return [(a["addr"], a["size"]) for a in snap["areas"]]


def test_the_document_lists_every_entry_and_shows_the_last(
    explorer: Explorer, prog: vmintro.Program
) -> None:
    document = explorer.document()
    timeline = prog.timeline
    assert timeline is not None
    last = len(timeline.entries) - 1
    assert document["timeline"]["last"] == last
    assert [e["entry"] for e in document["timeline"]["entries"]] == list(range(last + 1))
    assert document["snapshot"]["moment"] == last
    image = [(a.addr.value_(), a.size.value_()) for a in for_each_vm_area(prog)]
    assert _areas(document["snapshot"]) == image


@pytest.mark.parametrize("n", [0, 1, 9, 15, 20])
def test_each_moment_shows_the_areas_of_prog_at_n(
    explorer: Explorer, prog: vmintro.Program, n: int
) -> None:
    want = [(a.addr.value_(), a.size.value_()) for a in for_each_vm_area(prog.at(n))]
    assert _areas(explorer.moment(n)) == want


def test_each_entry_adds_and_removes_the_areas_its_call_names(
    explorer: Explorer, prog: vmintro.Program
) -> None:
    timeline = prog.timeline
    assert timeline is not None
    seen = set()
    for e in timeline.entries[1:]:
        changes = explorer.moment(e.number)["entry"]
        args = dict(e.args)
        if e.call in MAKERS and e.result.kind == "address":
            assert changes["areas"] == [e.result.value], e
            seen.add("made")
        elif e.call in REMOVERS:
            assert [a for a, _size in changes["removed"]] == [args["addr"]], e
            seen.add("removed")
        # every write of the entry is on one of its call paths, each from the call itself
        assert sum(count for _path, count in changes["paths"]) == e.write_count
        assert all(path.split(" > ")[0] == e.call for path, _count in changes["paths"])
    assert seen == {"made", "removed"}


def test_a_walk_at_a_moment_is_vtop_after_goto(
    explorer: Explorer, prog: vmintro.Program, timeline_image: Path
) -> None:
    timeline = prog.timeline
    assert timeline is not None
    # the first area freed whose address the image maps again: the moment of its vfree
    at_end = {a.addr.value_() for a in for_each_vm_area(prog)}
    n, addr = next(
        (e.number, dict(e.args)["addr"])
        for e in timeline.entries
        if e.call in REMOVERS and dict(e.args)["addr"] in at_end
    )
    line = f"goto {n}; vtop {addr:#x}"
    done = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "--json", "-c", line, str(timeline_image)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    want = [json.loads(d) for d in done.stdout.splitlines()][1]
    assert explorer.walk(addr, n) == want
    assert explorer.walk(addr) != want  # the image's own walk differs: the area is back


@pytest.mark.parametrize(
    "past_last", [None, 1, 10**9], ids=["before-the-first", "first-missing", "far-past"]
)
def test_no_such_moment(explorer: Explorer, prog: vmintro.Program, past_last: int | None) -> None:
    timeline = prog.timeline
    assert timeline is not None
    n = -1 if past_last is None else timeline.entries[-1].number + past_last
    with pytest.raises(MomentError, match="no entry"):
        explorer.moment(n)


def test_an_image_without_a_timeline_has_no_moments(timeline_image: Path, tmp_path: Path) -> None:
    for ext in (".vmcore", ".vmlinux", ".truth.json"):  # the image without its timeline
        Path(f"{tmp_path / 'demo'}{ext}").write_bytes(Path(f"{timeline_image}{ext}").read_bytes())
    plain = Explorer(vmintro.open(tmp_path / "demo"), "demo")
    assert plain.document()["timeline"] is None
    with pytest.raises(MomentError, match="no timeline"):
        plain.moment(0)
    with pytest.raises(MomentError, match="no timeline"):
        plain.walk(0xC4800000, 0)


@pytest.mark.slow
def test_the_file_holds_every_moment(prog: vmintro.Program) -> None:
    document = file_document(prog, "demo")
    last = document["timeline"]["last"]
    assert sorted(map(int, document["moments"])) == list(range(last + 1))
    assert document["moments"][str(last)] == document["snapshot"]


def test_a_damaged_timeline_leaves_the_image_and_says_why(
    timeline_image: Path, tmp_path: Path
) -> None:
    for ext in (".vmcore", ".vmlinux", ".truth.json", ".timeline"):
        data = Path(f"{timeline_image}{ext}").read_bytes()
        if ext == ".timeline":
            data = data[:200] + bytes(64) + data[264:]
        Path(f"{tmp_path / 'demo'}{ext}").write_bytes(data)
    explorer = Explorer(vmintro.open(tmp_path / "demo"), "demo")
    document = explorer.document()
    assert document["timeline"] is None
    [error] = [e for e in document["snapshot"]["errors"] if "demo.timeline" in e]
    assert "\n" not in error
    image = vmintro.open(timeline_image)
    assert len(document["snapshot"]["areas"]) == len(list(for_each_vm_area(image)))


def test_a_file_says_what_it_leaves_out(
    prog: vmintro.Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vmintro.explorer.document as doc

    monkeypatch.setattr(doc, "MAX_FILE_MOMENTS", 10)
    monkeypatch.setattr(doc, "MAX_FILE_WALKS", 7)
    document = doc.file_document(prog, "demo")
    assert document["timeline"] is None and "moments" not in document
    assert len(document["walks"]) == 7
    pages = sum(len(a["pages"]) for a in document["snapshot"]["areas"])
    entries = len(prog.timeline.entries) if prog.timeline else 0
    assert document["notes"] == [
        f"the timeline has {entries} entries, more than a file holds (10): 'vmintro serve' "
        "moves through them",
        f"the file holds the walks of the first 7 of the areas' {pages} pages: 'vmintro serve' "
        "walks any address",
    ]
    assert document["snapshot"]["errors"] == []  # no fault of the image
