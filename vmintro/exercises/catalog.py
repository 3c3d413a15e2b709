"""The post-mortem exercises: a scenario, a question, and how the answer follows from the truth.

Answers are computed from the generator's ground truth when an exercise is
built; only a salted hash of the answer is shipped with the image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EXERCISES", "Exercise"]

Truth = dict[str, Any]


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    kind: str  # "int", "addr", "int-list" or "word": how answers are compared
    scenario: str
    question: Callable[[Truth], str]
    answer: Callable[[Truth], Any]
    hints: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)


def _area(truth: Truth, owner: str) -> dict[str, Any]:
    return next(a for a in truth["areas"] if a["owner"] == owner)


def _fault(truth: Truth) -> dict[str, Any]:
    (fault,) = truth["faults"]
    return fault


_BASE = """
[[step]]
op = "swapon"
size = "32M"

[[step]]
op = "insmod"
name = "ext3"
size = 30720

[[step]]
op = "insmod"
name = "jbd"
size = 24576
"""


def _largest_hole(truth: Truth) -> int:
    areas = sorted(truth["areas"], key=lambda a: a["addr"])
    gaps = [b["addr"] - (a["addr"] + a["size"]) for a, b in zip(areas, areas[1:], strict=False)]
    return max(gaps)


def _dma_pages(truth: Truth) -> int:
    return sum(1 for p in _area(truth, "bigbuf")["pages"] if p < 4096)


def _guard_of(truth: Truth) -> dict[str, Any]:
    return _area(truth, "oops-victim")


EXERCISES: list[Exercise] = [
    Exercise(
        name="swap-map-frames",
        title="Which frames back the swap map?",
        kind="int-list",
        scenario=_BASE,
        question=lambda t: (
            "`sys_swapon` allocated the `swap_map` of the first swap area with `vmalloc`. "
            "List the page frame numbers (pfns) behind it, in the order of its virtual pages, "
            "separated by commas."
        ),
        answer=lambda t: _area(t, "swap_map of swap_info[0]")["pages"],
        hints=["p swap_info[0].swap_map", "vmlist", "vtop ADDR"],
    ),
    Exercise(
        name="find-leaked-module",
        title="Find the leaked module",
        kind="word",
        scenario=_BASE
        + """
[[step]]
op = "insmod"
name = "usbcore"
size = 20480

[[step]]
op = "fault"
kind = "vmalloc_leak"
target = "jbd"
""",
        question=lambda t: (
            "One module was unloaded, but its memory was never given back with `vfree`. "
            "What is the module's name?"
        ),
        answer=lambda t: _fault(t)["module"],
        hints=["vmlist", "p *module_list", "rd ADDR 32", "struct module ADDR"],
    ),
    Exercise(
        name="why-oops",
        title="Why does this address oops?",
        kind="addr",
        scenario=_BASE
        + """
[[step]]
op = "vmalloc"
size = "12K"
label = "oops-victim"

[[step]]
op = "vmalloc"
size = "8K"
""",
        question=lambda t: (
            f"A driver oopsed writing to `{_guard_of(t)['addr'] + _guard_of(t)['size'] - 4096:#x}`."
            " That address belongs to a vm area, yet no page is mapped there. Which "
            "`struct vm_struct` (give its address) does the address belong to?"
        ),
        answer=lambda t: _guard_of(t)["vm_struct"],
        hints=["vtop ADDR", "vmlist", "struct vm_struct ADDR"],
    ),
    Exercise(
        name="use-after-vfree",
        title="Use after vfree",
        kind="addr",
        scenario=_BASE + '\n[[step]]\nop = "fault"\nkind = "use_after_vfree"\n',
        question=lambda t: (
            "A driver freed its vmalloc buffer, yet the kernel page tables still map part of "
            "it to frames that are back on the buddy free lists. Give the lowest virtual "
            "address that is in no vm area but still mapped."
        ),
        answer=lambda t: _fault(t)["ptes"][0]["vaddr"],
        hints=["vmlist", "vtop ADDR", "kmem -f", "page -n PFN"],
    ),
    Exercise(
        name="double-free",
        title="A frame freed twice",
        kind="int",
        scenario=_BASE + '\n[[step]]\nop = "fault"\nkind = "double_free"\n',
        question=lambda t: (
            "One page frame is mapped in a live vm area and, at the same time, sits on a buddy "
            "free list. Which pfn is it?"
        ),
        answer=lambda t: _fault(t)["pfn"],
        hints=["kmem -f", "vtop ADDR", "page -n PFN"],
    ),
    Exercise(
        name="vmlist-cycle",
        title="The list that never ends",
        kind="addr",
        scenario=_BASE + '\n[[step]]\nop = "fault"\nkind = "vmlist_cycle"\n',
        question=lambda t: (
            "Walking `vmlist` never reaches NULL. Which `struct vm_struct` (its address) has the "
            "`next` pointer that closes the loop?"
        ),
        answer=lambda t: _fault(t)["vm_struct"],
        hints=["p vmlist", "list -s vm_struct.next ADDR", "struct vm_struct ADDR"],
    ),
    Exercise(
        name="largest-hole",
        title="First fit and its holes",
        kind="int",
        scenario=_BASE
        + """
[[step]]
op = "random"
count = 40
min_size = "4K"
max_size = "48K"
free_ratio = 0.45
""",
        question=lambda t: (
            "`get_vm_area` fits a new area into the first hole big enough, counting the guard "
            "page. How many bytes does the largest hole between two consecutive areas span?"
        ),
        answer=_largest_hole,
        hints=["vmlist"],
    ),
    Exercise(
        name="dma-spill",
        title="When Normal runs low",
        kind="int",
        scenario="""
[[step]]
op = "vmalloc"
size = "3M"
label = "bigbuf"
""",
        machine={"ram": 18 << 20},
        question=lambda t: (
            "This machine has 18 MiB: 16 MiB of ZONE_DMA and 2 MiB of ZONE_NORMAL. A 3 MiB "
            "`vmalloc` took pages from Normal until its watermark stopped it. How many pages "
            "of that area came from ZONE_DMA?"
        ),
        answer=_dma_pages,
        hints=["vmlist", "vtop ADDR", "page -n PFN", "kmem -f"],
    ),
    Exercise(
        name="ioremap-phys",
        title="What does the ioremap map?",
        kind="addr",
        scenario=_BASE
        + """
[[step]]
op = "ioremap"
phys = 0xfebf8000
size = "16K"
nocache = true
label = "nic"
""",
        question=lambda t: (
            "A network driver mapped its registers with `ioremap_nocache`. Which physical "
            "address does the first page of that area map?"
        ),
        answer=lambda t: next(e["phys"] for e in t["events"] if e["op"] == "ioremap"),
        hints=["vmlist", "vtop ADDR"],
    ),
    Exercise(
        name="zero-count",
        title="A page nobody holds",
        kind="addr",
        scenario=_BASE + '\n[[step]]\nop = "fault"\nkind = "zero_count"\n',
        question=lambda t: (
            "A vmalloc'ed page is mapped, but its reference count says nobody holds it: the "
            "next `put_page` anywhere could hand it out twice. Give the address of its "
            "`struct page`."
        ),
        answer=lambda t: _fault(t)["page"],
        hints=["vmlist", "vtop ADDR", "page -n PFN"],
    ),
]
