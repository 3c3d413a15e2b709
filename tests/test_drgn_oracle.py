"""drgn, through libkdumpfile's own page-table walk, reads the images as vmintro does."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from drgn_child import drgn_child_json

import vmintro
from vmintro.errors import FaultError
from vmintro.helpers import for_each_vm_area

HERE = Path(__file__).resolve().parent


def drgn_view(base: Path) -> dict:
    return drgn_child_json("drgn_dump.py", base)


@pytest.mark.parametrize("name", ["demo", "highmem", "pae"])
def test_drgn_agrees_on_vmlist_and_vmalloc_pages(
    drgn_available: bool, image_set: dict[str, Path], name: str
) -> None:
    base = image_set[name]
    view = drgn_view(base)
    assert view["platform"] == "Architecture.I386"
    prog = vmintro.open(f"{base}.vmcore")
    core = prog.backend.core  # physical frames the core stores
    ours = list(for_each_vm_area(prog))
    assert [
        (a.value_(), a.flags.value_(), a.addr.value_(), a.size.value_(), a.next.value_())
        for a in ours
    ] == [(d["vm_struct"], d["flags"], d["addr"], d["size"], d["next"]) for d in view["areas"]]
    compared = compared_high = 0
    for area, theirs in zip(ours, view["areas"], strict=True):
        start = area.addr.value_()
        for i, digest in enumerate(theirs["pages"]):
            va = start + i * 4096
            try:
                data = prog.read(va, 4096)
            except FaultError:
                assert digest.startswith("fault"), f"{va:#x}: drgn read it, vmintro faulted"
                continue
            if digest.startswith("fault"):
                # libkdumpfile cannot read RAM the core does not store (all-zero
                # frames); vmintro reads those as zeros. Anything else disagrees.
                paddr = prog.translate(va)
                stored = any(p <= paddr < p + n for p, n, _ in core.segments)
                assert not stored and data == bytes(4096), f"{va:#x}: {digest}"
                continue
            assert hashlib.sha1(data).hexdigest() == digest, f"{va:#x} differs"
            compared += 1
            compared_high += prog.translate(va) >= 896 << 20
    assert compared > 50
    if name == "highmem":  # 1 GiB: pages in frames above 896 MiB, in HighMem
        assert compared_high > 10
