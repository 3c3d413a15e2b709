"""The exercises: a scenario drawn from a variant's seed, a question, and its answer.

Each exercise is a puzzle on one topic of chapter 8 (or a post-mortem of a kernel
bug). Its scenario and the numbers in its question are drawn from a
:class:`random.Random` seeded per variant (the practice one, or one per student,
see :mod:`vmintro.exercises.variants`), so every variant has its own image and
answer. Answers come from the generator's ground truth — of the image, or of a
*probe*: the same scenario run one step further (what the kernel would do next).

An exercise declares the commands (and plugins) it allows; ``vmintro exercise
open`` refuses the others. None of them prints the answer: each variant's build
runs each, bare and with the hints' arguments, and draws again where one does
(:mod:`vmintro.exercises.leaks`). A part marked ``hidden`` never appears in
their output at all; the others (which area, which vm_struct: what a listing
shows among its rows) never appear with the rest of the answer.

Answer spaces (``Part.space``) are counted from the part's form on the exercise's
machine, as a guesser who has found everything a listing shows still faces them:
an exercise's space is the product of its hidden parts' (:attr:`Exercise.space`),
each frame of a list counting once its frames are not runs of one another (the
machines boot with their page cache spread over memory, so ``alloc_page`` hands out
scattered frames; a test checks it on the solved answers). The test checks that
guessing through the space at :data:`~vmintro.exercises.verify.SECONDS_PER_GUESS`
takes more than a day.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vmintro.arch.x86 import MachineConfig
from vmintro.exercises.verify import DAY, SECONDS_PER_GUESS, Part

__all__ = ["EXERCISES", "LEVELS", "Exercise", "Hint", "NotThisDraw", "by_name"]

Truth = dict[str, Any]
Params = dict[str, Any]

LEVELS = {1: "first steps", 2: "reading the structures", 3: "post-mortem puzzle"}

# What a part can be, counted on a 16 MiB machine (the exercises' usual one):
PFNS = 4096  # frames of 16 MiB
RUN = 16  # pages: frames this close are a run a guesser follows, not independent guesses
VM_STRUCTS = (16 << 20) // 32  # a kmalloc'ed vm_struct: a 32-byte object somewhere in lowmem
VMALLOC_PAGES = (0xFFFFC000 - 0xC1800000) // 4096  # page addresses VMALLOC_START..VMALLOC_END
# where a device's registers may lie on a 16 MiB machine: above RAM, below the
# top 16 MiB (APIC, BIOS); the ioremap exercise draws them evenly from there
BUS_START, BUS_END = 16 << 20, 0xFF000000
PHYS_PAGES = (BUS_END - BUS_START) // 4096
# VMALLOC_START of a machine of 24-880 MiB: an 8 MiB boundary up to 896 MiB's
LOWMEM_STARTS = 108
SLAB_SLOTS = 2 * 4096 // 32  # a size-32 object of the two slab pages the live vm_structs use
MODULE_NAMES = (
    "usbcore", "e100", "sd_mod", "scsi_mod", "ide-cd", "cdrom", "nfs", "lockd", "sunrpc",
    "vfat", "fat", "isofs", "loop", "8139too", "mii", "parport", "lp", "soundcore", "uhci",
    "ohci", "ehci-hcd", "hid", "input", "serial", "ppp_generic", "slhc", "reiserfs", "raid1",
    "md", "dm-mod", "agpgart", "radeon", "tulip", "3c59x", "ne2k-pci", "8390", "bttv",
    "videodev", "i2c-core", "emu10k1",
)  # fmt: skip


class NotThisDraw(Exception):
    """Raised by an exercise's ``answer`` for a draw whose machine does not pose its
    question (why-vmalloc's, with a free block of the order it asks about left over):
    the builder draws again from the same generator."""


@dataclass(frozen=True)
class Hint:
    """One step toward the answer: advice, and commands that run on the exercise's image."""

    text: str
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    level: int  # a key of LEVELS
    topic: str
    params: Callable[[random.Random], Params]
    scenario: Callable[[Params], str]
    question: Callable[[Params, Truth], str]
    parts: tuple[Part, ...]
    answer: Callable[[Params, Truth, Truth | None], list[Any]]
    commands: tuple[str, ...]
    hints: Callable[[Params, Truth], list[Hint]]
    plugins: tuple[str, ...] = ()
    hidden: tuple[int, ...] = ()  # the parts no allowed command may print at all
    machine: Callable[[Params], dict[str, Any]] = field(default=lambda v: {"ram": 16 << 20})
    # steps run after the scenario for the answer only: the image does not show them
    probe: Callable[[Params], str] | None = None
    shipped: bool = True  # built into images/exercises (else on first use, into the cache)
    # whether the image keeps its NAME.timeline: only where the question is which call
    # broke the kernel (elsewhere blame and history would answer what the image asks)
    timeline: bool = False

    @property
    def allowed(self) -> tuple[str, ...]:
        """Every command the exercise allows: its commands, its plugins' and help, quit."""
        return (*self.commands, *self.plugins, "help", "quit")

    @property
    def space(self) -> int:
        """What is left to guess once every part a listing shows is found: the product
        of the hidden parts' spaces (the others count as found)."""
        total = 1
        for i in self.hidden:
            total *= self.parts[i].space
        return total

    def guesses(self, answer: list[Any]) -> int:
        """What a variant's ``answer`` leaves a guesser who follows runs: as
        :attr:`space`, but a hex number (a pfn, or an address's page) within
        :data:`RUN` pages of an earlier hidden one costs ``2 * RUN + 1`` guesses, not its
        part's space, and a list counts its frames, however many the part states."""
        total = 1
        seen: list[int] = []  # the pages of the hidden numbers so far
        for i in self.hidden:
            part = self.parts[i]
            if not part.form.startswith("hex"):
                total *= part.space
                continue
            each = min(part.space, PFNS) if part.is_list else part.space
            for value in answer[i] if part.is_list else [answer[i]]:
                if value is None:
                    continue
                page = value >> 12 if value >= 1 << 20 else value
                near = any(abs(page - p) <= RUN for p in seen)
                total *= 2 * RUN + 1 if near else each
                seen.append(page)
        return total

    def fair(self, answer: list[Any]) -> bool:
        """Whether guessing through what ``answer`` leaves outlasts a day of one core."""
        return self.guesses(answer) * SECONDS_PER_GUESS > DAY


def _step(op: str, **fields: Any) -> str:
    body = "".join(f"{k} = {_toml(v)}\n" for k, v in fields.items())
    return f'\n[[step]]\nop = "{op}"\n{body}'


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _module_size(rng: random.Random) -> int:
    """A module's size in bytes: 3 to 9 pages of vmalloc, its last page partly used."""
    return rng.randint(3, 9) * 4096 - rng.randint(0, 4000)


def _base_params(rng: random.Random) -> Params:
    names = rng.sample(MODULE_NAMES, 3)
    return {
        "noise": rng.randint(1, 10),
        "swap": rng.randint(20, 60),
        "modules": [(n, _module_size(rng)) for n in names],
    }


def _base(v: Params, modules: int = 2, holes: bool = True) -> str:
    """Swap, modules and a seeded mix of vmalloc and vfree: the variant's own layout
    (without ``holes``, no vfree: a new area goes after the last)."""
    ratio = 0.3 if holes else 0.0
    text = _step("random", count=v["noise"], min_size="4K", max_size="24K", free_ratio=ratio)
    text += _step("swapon", size=f"{v['swap']}M")
    for name, size in v["modules"][:modules]:
        text += _step("insmod", name=name, size=size)
    return text


def _area(t: Truth, owner: str) -> dict[str, Any]:
    return next(a for a in t["areas"] if a["owner"] == owner)


def _fault(t: Truth) -> dict[str, Any]:
    (fault,) = t["faults"]
    return fault


def _vm_part() -> Part:
    return Part("vm_struct", "hex", VM_STRUCTS)


def _pfns_part(least: int) -> Part:
    return Part("pfns", "hex-list", PFNS**least)


LIST_HINT = Hint(
    "vtop walks the page tables for one address: its PTE holds the frame "
    "(the physical address without its low 12 bits is the pfn)"
)

# ---------------------------------------------------------------------------- level 1


def _vmalloc_start_params(rng: random.Random) -> Params:
    return {
        **_base_params(rng),
        "ram": rng.randint(17, 28),  # the core holds all of it: small enough to ship
        "other": rng.randint(24, 880),
        "odd": rng.randint(24, 880) // 8 * 8 + rng.choice((1, 3, 5, 7)),
        "highmem": rng.randint(900, 3800),
        "third": rng.randint(24, 880),
    }


def _vmalloc_start_of(ram_mib: int, highmem: bool = False) -> int:
    return MachineConfig(ram=ram_mib << 20, highmem=highmem).layout.vmalloc_start


def _vmalloc_start_answer(v: Params, t: Truth, _: Truth | None) -> list[Any]:
    return [
        t["vmalloc_start"],
        _vmalloc_start_of(v["other"]),
        _vmalloc_start_of(v["odd"]),
        _vmalloc_start_of(v["third"]),
        _vmalloc_start_of(v["highmem"], highmem=True),
    ]


def _why_oops_params(rng: random.Random) -> Params:
    return {**_base_params(rng), "victim": rng.randint(2, 6), "after": rng.randint(1, 3)}


def _why_oops_addr(t: Truth) -> int:
    a = _area(t, "oops-victim")
    return int(a["addr"] + a["size"] - 4096)


def _module_params(rng: random.Random) -> Params:
    return {**_base_params(rng), "which": rng.randint(0, 1)}


def _module_area(v: Params, t: Truth) -> dict[str, Any]:
    return _area(t, f"module {v['modules'][v['which']][0]}")


def _ioremap_params(rng: random.Random) -> Params:
    return {
        **_base_params(rng),
        "phys": rng.randrange(BUS_START, BUS_END, 4096),
        "pages": rng.randint(2, 8),
    }


def _size_params(rng: random.Random) -> Params:
    return {**_base_params(rng), "bytes": rng.randint(2, 5) * 4096 + rng.randint(1, 4095)}


# ---------------------------------------------------------------------------- level 2


def _first_fit_params(rng: random.Random) -> Params:
    return {
        **_base_params(rng),
        "sizes": [rng.randint(1, 5) for _ in range(6)],
        "freed": sorted(rng.sample(range(5), 2)),
        "want": rng.randint(3, 5),
    }


def _first_fit_scenario(v: Params) -> str:
    text = _base(v)
    for i, pages in enumerate(v["sizes"]):
        text += _step("vmalloc", size=f"{pages * 4}K", label=f"buf{i}")
    for i in v["freed"]:
        text += _step("vfree", label=f"buf{i}")
    return text


def _first_fit_answer(v: Params, t: Truth, probe: Truth | None) -> list[Any]:
    assert probe is not None
    new = _area(probe, "probe")
    return [new["addr"], new["pages"]]


def _largest_hole_params(rng: random.Random) -> Params:
    return {**_base_params(rng), "count": rng.randint(30, 50)}


def _holes(t: Truth) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    areas = sorted(t["areas"], key=lambda a: a["addr"])
    pairs = zip(areas, areas[1:], strict=False)
    return [(b["addr"] - (a["addr"] + a["size"]), a, b) for a, b in pairs]


def _largest_hole_answer(v: Params, t: Truth, _: Truth | None) -> list[Any]:
    size, before, after = max(_holes(t), key=lambda h: h[0])  # the first of equal ones
    return [before["addr"] + before["size"], size, before["pages"][0], after["pages"][0]]


def _dma_spill_params(rng: random.Random) -> Params:
    ram = rng.randint(17, 20)
    return {"ram": ram, "kib": (ram - 16) * 1024 + rng.randint(4, 12) * 64}


def _dma_pages(v: Params, t: Truth) -> list[int]:
    return [p for p in _area(t, "bigbuf")["pages"] if p < 4096]


def _zones_params(rng: random.Random) -> Params:
    order = ["vmalloc", "vmalloc_dma", "vmalloc_32"]
    rng.shuffle(order)
    return {**_base_params(rng), "order": order, "pages": [rng.randint(3, 6) for _ in order]}


def _zones_scenario(v: Params) -> str:
    text = _base(v)
    for i, (op, pages) in enumerate(zip(v["order"], v["pages"], strict=False)):
        text += _step(op, size=f"{pages * 4}K", label=f"buffer {i + 1}")
    return text


def _zones_dma(v: Params, t: Truth) -> dict[str, Any]:
    return _area(t, f"buffer {v['order'].index('vmalloc_dma') + 1}")


def _fault_params(rng: random.Random) -> Params:
    return _base_params(rng)


def _fault_scenario(kind: str, holes: bool = True) -> Callable[[Params], str]:
    return lambda v: _base(v, holes=holes) + _step("fault", kind=kind)


def _area_at(t: Truth, addr: int) -> dict[str, Any]:
    return next(a for a in t["areas"] if a["addr"] <= addr < a["addr"] + a["size"])


def _by_vm_struct(t: Truth, vm_struct: int) -> dict[str, Any]:
    return next(a for a in t["areas"] if a["vm_struct"] == vm_struct)


def _below(t: Truth, addr: int) -> dict[str, Any]:
    """The area just below ``addr``."""
    return max((a for a in t["areas"] if a["addr"] < addr), key=lambda a: a["addr"])


def _leak_params(rng: random.Random) -> Params:
    return {**_base_params(rng), "leaked": rng.randint(0, 2)}


def _leak_scenario(v: Params) -> str:
    target = v["modules"][v["leaked"]][0]
    return _base(v, modules=3) + _step("fault", kind="vmalloc_leak", target=target)


def _leaked(v: Params, t: Truth) -> dict[str, Any]:
    return _area(t, f"module {_fault(t)['module']}")


# ---------------------------------------------------------------------------- level 3


def _highmem_params(rng: random.Random) -> Params:
    return {"ram": rng.choice((960, 1024, 1088)), "kib": rng.randint(8, 40) * 4}


def _highmem_area(t: Truth) -> dict[str, Any]:
    return _area(t, "hbuf")


def _max_low_pfn(t: Truth) -> int:
    return int(t["max_low_pfn"])


_VM = ("vmlist", "vtop", "struct", "p", "rd", "page", "sym", "whatis", "ptype")


def _oops_hints(v: Params, t: Truth) -> list[Hint]:
    addr = _why_oops_addr(t)
    return [
        Hint(
            "Which area's range holds the address? vmlist takes addresses.", (f"vmlist {addr:x}",)
        ),
        Hint(
            "An area's size counts one page more than it maps: what does the page-table "
            "walk find there?",
            (f"vtop {addr:x}",),
        ),
        LIST_HINT,
    ]


EXERCISES: list[Exercise] = [
    Exercise(
        name="vmalloc-start",
        shipped=False,  # images/ holds a subset (all of images/ under 20 MiB)
        title="Where does vmalloc begin?",
        level=1,
        topic="8.1 the vmalloc address space: VMALLOC_START above high_memory",
        params=_vmalloc_start_params,
        machine=lambda v: {"ram": v["ram"] << 20},
        scenario=_base,
        question=lambda v, t: (
            f"This kernel booted with {v['ram']} MiB of RAM, without HIGHMEM. Where does "
            f"`VMALLOC_START` lie on it? And where would it lie on the same kernel booted "
            f"with {v['other']} MiB, with {v['odd']} MiB, with {v['third']} MiB, and (a HIGHMEM "
            f"kernel) with {v['highmem']} MiB? Answer with the five addresses in that order."
        ),
        # what each can be, given the sizes the question draws from: this machine's
        # 17-28 MiB two; 24-880 MiB each of the 8 MiB steps up to 896; HIGHMEM one
        # (high_memory stops at 896 MiB), so it counts as found
        parts=(
            Part("here", "hex", 2),
            Part("other", "hex", LOWMEM_STARTS),
            Part("odd", "hex", LOWMEM_STARTS),
            Part("third", "hex", LOWMEM_STARTS),
            Part("highmem", "hex", 2),
        ),
        hidden=(0, 1, 2, 3),
        answer=_vmalloc_start_answer,
        commands=("p", "ptype", "whatis", "sym", "rd"),
        hints=lambda v, t: [
            Hint("The direct map of RAM ends at high_memory.", ("p high_memory",)),
            Hint(
                "include/asm-i386/pgtable.h: VMALLOC_START is "
                "(high_memory + 2*VMALLOC_OFFSET - 1) & ~(VMALLOC_OFFSET - 1), "
                "VMALLOC_OFFSET being 8 MiB."
            ),
            Hint(
                "The kernel maps at most 896 MiB of RAM directly (1 GiB less the 128 MiB "
                "VMALLOC_RESERVE); above that, with HIGHMEM, high_memory stops there."
            ),
        ],
    ),
    Exercise(
        name="why-oops",
        title="Why does this address oops?",
        level=1,
        topic="8.1-8.2 guard pages: get_vm_area adds a page it never maps",
        params=_why_oops_params,
        scenario=lambda v: (
            _base(v)
            + _step("vmalloc", size=f"{v['victim'] * 4}K", label="oops-victim")
            + _step("vmalloc", size=f"{v['after'] * 4}K")
        ),
        question=lambda v, t: (
            f"A driver oopsed writing to `{_why_oops_addr(t):x}`. That address belongs to a "
            "vm area, yet no page is mapped there. Which `struct vm_struct` (its address) "
            "does the address belong to, and which frames (pfns) back that area's pages, "
            "in order?"
        ),
        parts=(_vm_part(), _pfns_part(2)),
        hidden=(1,),
        answer=lambda v, t, p: [
            _area(t, "oops-victim")["vm_struct"],
            _area(t, "oops-victim")["pages"],
        ],
        commands=_VM,
        hints=_oops_hints,
    ),
    Exercise(
        name="swap-map-frames",
        title="Which frames back the swap map?",
        level=1,
        topic="8.2 vmalloc users: sys_swapon's swap_map",
        params=_base_params,
        scenario=_base,
        question=lambda v, t: (
            "`sys_swapon` allocated the `swap_map` of the first swap area with `vmalloc`. "
            "List the page frame numbers (pfns) behind it, in the order of its virtual pages."
        ),
        parts=(_pfns_part(3),),
        hidden=(0,),
        answer=lambda v, t, p: [_area(t, "swap_map of swap_info[0]")["pages"]],
        commands=("p", "vmlist", "vtop", "struct", "page"),
        plugins=("swapinfo",),
        hints=lambda v, t: [
            Hint("Where is the map?", ("p swap_info[0].swap_map", "swapinfo")),
            Hint("How many pages does its area map?", ("vmlist swap_info[0].swap_map",)),
            LIST_HINT,
        ],
    ),
    Exercise(
        name="module-frames",
        title="Where does a module live?",
        level=1,
        topic="8.2 vmalloc users: sys_create_module",
        params=_module_params,
        scenario=_base,
        question=lambda v, t: (
            f"Module `{v['modules'][v['which']][0]}` was loaded with `insmod`: "
            "`sys_create_module` vmalloc'ed the memory its `struct module` and code share. "
            "Give that area's `struct vm_struct` address, then the pfns behind the pages of "
            "the module's memory, in order."
        ),
        parts=(_vm_part(), _pfns_part(3)),  # a module takes 3 pages or more
        hidden=(1,),
        answer=lambda v, t, p: [_module_area(v, t)["vm_struct"], _module_area(v, t)["pages"]],
        commands=_VM,
        plugins=("modules",),
        hints=lambda v, t: [
            Hint("Which modules are loaded, and where?", ("modules", "p *module_list")),
            Hint("The module's memory is one vmalloc area.", ("vmlist",)),
            LIST_HINT,
        ],
    ),
    Exercise(
        name="ioremap-phys",
        title="What does the ioremap map?",
        level=1,
        topic="8.3 ioremap: device memory through the vmalloc range",
        params=_ioremap_params,
        scenario=lambda v: (
            _base(v)
            + _step("ioremap", phys=v["phys"], size=f"{v['pages'] * 4}K", nocache=True, label="nic")
        ),
        question=lambda v, t: (
            "A network driver mapped its registers with `ioremap_nocache`. Give the address "
            "of that area's `struct vm_struct`, and the physical address its first page maps."
        ),
        parts=(_vm_part(), Part("physical address", "hex", PHYS_PAGES)),
        hidden=(1,),
        answer=lambda v, t, p: [
            next(a["vm_struct"] for a in t["areas"] if a["owner"] == "nic"),
            v["phys"],
        ],
        commands=_VM,
        hints=lambda v, t: [
            Hint("The flags of a vm_struct say how it was made (VM_IOREMAP is 1).", ("vmlist",)),
            Hint("Its PTEs hold device addresses, not RAM: walk them."),
        ],
    ),
    Exercise(
        name="area-size",
        shipped=False,  # images/ holds a subset (all of images/ under 20 MiB)
        title="How big is the area?",
        level=1,
        topic="8.2 vmalloc rounds to pages, get_vm_area adds the guard",
        params=_size_params,
        scenario=lambda v: _base(v, holes=False) + _step("vmalloc", size=v["bytes"], label="odd"),
        question=lambda v, t: (
            f"A driver called `vmalloc({v['bytes']})`, its last vmalloc. What `size` does its "
            "`struct vm_struct` record (in bytes, decimal), and which pfns back the area, "
            "in order?"
        ),
        parts=(Part("size", "dec", 1 << 18), _pfns_part(3)),
        hidden=(1,),
        answer=lambda v, t, p: [_area(t, "odd")["size"], _area(t, "odd")["pages"]],
        commands=_VM,
        hints=lambda v, t: [
            Hint("vmalloc rounds the size up to whole pages; get_vm_area adds one more."),
            Hint(
                "Nothing was vfree'd before it, so get_vm_area's first fit found no hole and "
                "put it after every other area: which is that in vmlist?",
                ("vmlist",),
            ),
            LIST_HINT,
        ],
    ),
    Exercise(
        name="first-fit",
        title="Where will the next vmalloc go?",
        level=3,
        topic="8.2 get_vm_area's first fit, and the buddy allocator behind vmalloc",
        params=_first_fit_params,
        scenario=_first_fit_scenario,
        probe=lambda v: _step("vmalloc", size=f"{v['want'] * 4}K", label="probe"),
        question=lambda v, t: (
            f"The next call is `vmalloc({v['want'] * 4096})`. At which address will "
            "`get_vm_area` place it, and which frames will `__vmalloc` map there, in order "
            "(each page from `alloc_page`, after `kmalloc` of its vm_struct)?"
        ),
        parts=(Part("address", "hex", VMALLOC_PAGES), _pfns_part(3)),
        hidden=(1,),
        answer=_first_fit_answer,
        commands=(*_VM, "kmem -f", "list"),
        plugins=("buddyinfo",),
        hints=lambda v, t: [
            Hint(
                "get_vm_area walks vmlist in address order and takes the first hole that "
                "holds the size plus a guard page.",
                ("vmlist",),
            ),
            Hint(
                "alloc_page takes from the lowest order with a free block "
                "(rmqueue), splitting it (expand); kmalloc may need a page first.",
                ("kmem -f", "p contig_page_data.node_zones[0].free_area[0]"),
            ),
            Hint(
                "The free lists are struct page's list members, linked through list_head.",
                ("list -H -o page.list contig_page_data.node_zones[0].free_area[0].free_list",),
            ),
        ],
    ),
    Exercise(
        name="largest-hole",
        title="First fit and its holes",
        level=2,
        topic="8.2 get_vm_area's first fit leaves holes",
        params=_largest_hole_params,
        scenario=lambda v: (
            _base(v)
            + _step("random", count=v["count"], min_size="4K", max_size="48K", free_ratio=0.45)
        ),
        question=lambda v, t: (
            "Between two consecutive vm areas (guard pages counted as part of their area), "
            "where does the largest hole begin, how many bytes does it span (decimal), and "
            "which pfns back the first page of the area before it and of the area after it?"
        ),
        parts=(
            Part("address", "hex", VMALLOC_PAGES),
            Part("bytes", "dec", VMALLOC_PAGES),
            Part("pfn before", "hex", PFNS),
            Part("pfn after", "hex", PFNS),
        ),
        hidden=(2, 3),
        answer=_largest_hole_answer,
        commands=_VM,
        hints=lambda v, t: [
            Hint("vmlist shows each area's range, guard page included.", ("vmlist",)),
            LIST_HINT,
        ],
    ),
    Exercise(
        name="dma-spill",
        title="When Normal runs low",
        level=2,
        topic="8.2 __vmalloc's pages: zone fallback from ZONE_NORMAL to ZONE_DMA",
        params=_dma_spill_params,
        machine=lambda v: {"ram": v["ram"] << 20},
        scenario=lambda v: _step("vmalloc", size=f"{v['kib']}K", label="bigbuf"),
        question=lambda v, t: (
            f"This machine has {v['ram']} MiB: 16 MiB of ZONE_DMA and {v['ram'] - 16} MiB of "
            f"ZONE_NORMAL. A {v['kib']} KiB `vmalloc` took pages from Normal until its "
            "watermark stopped it. How many pages of that area came from ZONE_DMA (decimal), "
            "and which are the first and the last of them (pfns, in the area's page order)?"
        ),
        parts=(Part("count", "dec", 1024), Part("first", "hex", PFNS), Part("last", "hex", PFNS)),
        hidden=(1, 2),
        answer=lambda v, t, p: [len(_dma_pages(v, t)), _dma_pages(v, t)[0], _dma_pages(v, t)[-1]],
        commands=(*_VM, "kmem -f"),
        plugins=("buddyinfo",),
        hints=lambda v, t: [
            Hint("One big area.", ("vmlist",)),
            Hint("ZONE_DMA is the first 16 MiB: pfns below 0x1000.", ("kmem -f",)),
            LIST_HINT,
        ],
        shipped=False,  # a machine above 16 MiB: built on first use
    ),
    Exercise(
        name="dma-zone",
        title="Which buffer is for DMA?",
        level=2,
        topic="8.2 vmalloc_dma and vmalloc_32: the zones behind the gfp mask",
        params=_zones_params,
        machine=lambda v: {"ram": 64 << 20},
        scenario=_zones_scenario,
        question=lambda v, t: (
            "The last three areas came from `vmalloc`, `vmalloc_32` and `vmalloc_dma`, in some "
            "order. Give the `struct vm_struct` of the `vmalloc_dma` one, then the "
            "pfns behind its pages, in order."
        ),
        parts=(Part("vm_struct", "hex", (64 << 20) // 32), Part("pfns", "hex-list", 16384**3)),
        hidden=(1,),
        answer=lambda v, t, p: [_zones_dma(v, t)["vm_struct"], _zones_dma(v, t)["pages"]],
        commands=(*_VM, "kmem -f"),
        hints=lambda v, t: [
            Hint("GFP_DMA asks for ZONE_DMA: the frames below 16 MiB.", ("kmem -f",)),
            Hint("The three newest areas.", ("vmlist",)),
            LIST_HINT,
        ],
        shipped=False,  # a 64 MiB machine: built on first use
    ),
    Exercise(
        name="zero-count",
        title="A page nobody holds",
        level=2,
        topic="post-mortem: a mapped page whose count dropped to 0",
        params=_fault_params,
        scenario=_fault_scenario("zero_count"),
        question=lambda v, t: (
            "A vmalloc'ed page is mapped, but its reference count says nobody holds it: the "
            "next `put_page` anywhere could hand it out twice. Give the address of its "
            "`struct page`, then the pfns behind the area that maps it, in order."
        ),
        parts=(Part("struct page", "hex", 2), _pfns_part(2)),  # one of the area's pages
        hidden=(0, 1),
        answer=lambda v, t, p: [
            _fault(t)["page"],
            _area_at(t, _fault(t)["addr"])["pages"],
        ],
        commands=_VM,
        hints=lambda v, t: [
            Hint("page shows a frame's count (CNT).", ("vmlist", "page -n 1")),
            LIST_HINT,
        ],
    ),
    Exercise(
        name="double-free",
        title="A frame freed twice",
        level=2,
        topic="post-mortem: a mapped frame back on the buddy free lists",
        params=_fault_params,
        scenario=_fault_scenario("double_free"),
        question=lambda v, t: (
            "One page frame is mapped in a live vm area and, at the same time, sits on a "
            "buddy free list. Give the virtual address where it is mapped, then the pfns "
            "behind that whole area, in order."
        ),
        parts=(Part("address", "hex", VMALLOC_PAGES), _pfns_part(2)),
        hidden=(1,),
        answer=lambda v, t, p: [_fault(t)["addr"], _area_at(t, _fault(t)["addr"])["pages"]],
        commands=(*_VM, "kmem -f", "list"),
        hints=lambda v, t: [
            Hint("A free page has count 0.", ("vmlist", "kmem -f")),
            Hint(
                "Free blocks hang on free_area[order].free_list by page.list.",
                ("list -H -o page.list contig_page_data.node_zones[0].free_area[0].free_list",),
            ),
            LIST_HINT,
        ],
    ),
    Exercise(
        name="vmlist-cycle",
        title="The list that never ends",
        level=2,
        topic="post-mortem: vmlist corrupted into a loop",
        params=_fault_params,
        scenario=_fault_scenario("vmlist_cycle"),
        question=lambda v, t: (
            "Walking `vmlist` never reaches NULL. Which `struct vm_struct` (its address) has "
            "the `next` pointer that closes the loop, which `vm_struct` does that pointer go "
            "back to, and which pfns back the pages of each one's area (the first one's, "
            "then the other's, in order)?"
        ),
        parts=(_vm_part(), _vm_part(), _pfns_part(2)),
        hidden=(2,),
        answer=lambda v, t, p: [
            _fault(t)["vm_struct"],
            _fault(t)["next"],
            _by_vm_struct(t, _fault(t)["vm_struct"])["pages"]
            + _by_vm_struct(t, _fault(t)["next"])["pages"],
        ],
        commands=("list", "struct", "p", "rd", "vtop", "page", "sym", "whatis", "ptype"),
        hints=lambda v, t: [
            Hint("Where does the list start?", ("p vmlist",)),
            Hint(
                "list follows vm_struct.next and stops where it has been before.",
                ("list -o vm_struct.next -s vm_struct.addr,size *vmlist",),
            ),
            LIST_HINT,
        ],
    ),
    Exercise(
        name="find-leaked-module",
        shipped=False,  # images/ holds a subset (all of images/ under 20 MiB)
        title="Find the leaked module",
        level=2,
        topic="post-mortem: a module unloaded without vfree",
        params=_leak_params,
        scenario=_leak_scenario,
        question=lambda v, t: (
            "One module was unloaded, but its memory was never given back with `vfree`. "
            "What is the module's name, the `struct vm_struct` of its area, and the pfns "
            "behind the pages of its memory, in order?"
        ),
        parts=(Part("name", "word", len(MODULE_NAMES)), _vm_part(), _pfns_part(3)),
        hidden=(0, 2),
        answer=lambda v, t, p: [
            _fault(t)["module"],
            _leaked(v, t)["vm_struct"],
            _leaked(v, t)["pages"],
        ],
        commands=_VM,
        plugins=("modules",),
        hints=lambda v, t: [
            Hint("Which modules are still on module_list?", ("modules", "p *module_list")),
            Hint(
                "A module's area starts with its struct module; its name points inside it.",
                ("vmlist", "ptype struct module"),
            ),
            LIST_HINT,
        ],
    ),
    Exercise(
        name="size-mismatch",
        shipped=False,  # images/ holds a subset (all of images/ under 20 MiB)
        title="An area larger than its pages",
        level=2,
        topic="post-mortem: vm_struct.size grown past what was mapped",
        params=_fault_params,
        scenario=_fault_scenario("size_mismatch", holes=False),
        question=lambda v, t: (
            "One area's `size` claims more pages than were ever mapped: `vfree` would unmap "
            "pages it never had. Give its `struct vm_struct`, the first address inside it "
            "(before the guard) that nothing maps, then the pfns of its mapped pages followed "
            "by the pfns of the area just below it (at lower addresses), in order."
        ),
        # the address: one of the few pages of an area once it is found
        parts=(_vm_part(), Part("address", "hex", 2), _pfns_part(2)),
        hidden=(1, 2),
        answer=lambda v, t, p: [
            _fault(t)["vm_struct"],
            _fault(t)["addr"] + _fault(t)["mapped_size"] - 4096,
            [
                pfn
                for area in (_area_at(t, _fault(t)["addr"]), _below(t, _fault(t)["addr"]))
                for pfn in area["pages"]
                if pfn is not None
            ],
        ],
        commands=_VM,
        hints=lambda v, t: [
            Hint("Every page of an area but the guard is mapped.", ("vmlist",)),
            LIST_HINT,
        ],
    ),
    Exercise(
        name="missing-guard",
        shipped=False,  # images/ holds a subset (all of images/ under 20 MiB)
        title="A guard page that is mapped",
        level=2,
        topic="post-mortem: an overrun caught too late — the guard page got a PTE",
        params=_fault_params,
        scenario=_fault_scenario("missing_guard"),
        question=lambda v, t: (
            "One area's guard page is mapped, so an overrun past it would not oops. Give the "
            "area's `struct vm_struct`, the pfn mapped at its guard page, and the pfn behind "
            "its first page."
        ),
        parts=(_vm_part(), Part("guard pfn", "hex", PFNS), Part("first pfn", "hex", PFNS)),
        hidden=(1, 2),
        answer=lambda v, t, p: [
            _fault(t)["vm_struct"],
            _fault(t)["pfn"],
            _by_vm_struct(t, _fault(t)["vm_struct"])["pages"][0],
        ],
        commands=_VM,
        hints=lambda v, t: [
            Hint("The guard is the last page of each range.", ("vmlist",)),
            LIST_HINT,
        ],
    ),
    Exercise(
        name="use-after-vfree",
        title="Use after vfree",
        level=3,
        topic="post-mortem: vfree that left its PTEs",
        params=_fault_params,
        scenario=_fault_scenario("use_after_vfree"),
        question=lambda v, t: (
            "A driver freed its vmalloc buffer, yet the kernel page tables still map part of "
            "it to frames that are back on the buddy free lists. Give the lowest virtual "
            "address that is in no vm area but still mapped, the address of the "
            "`struct vm_struct` that described it (kfree'd, but kfree leaves its bytes), "
            "then the pfns still mapped from there on, in order."
        ),
        parts=(
            Part("address", "hex", VMALLOC_PAGES),
            Part("vm_struct", "hex", SLAB_SLOTS),
            _pfns_part(1),
        ),
        hidden=(1, 2),
        answer=lambda v, t, p: [
            _fault(t)["ptes"][0]["vaddr"],
            _fault(t)["vm_struct"],
            [e["pfn"] for e in _fault(t)["ptes"]],
        ],
        commands=(*_VM, "kmem -f"),
        hints=lambda v, t: [
            Hint("Areas are allocated upward; what lies just past the last one?", ("vmlist",)),
            LIST_HINT,
            Hint(
                "vm_structs are 32-byte kmalloc objects side by side in a slab page: read the "
                "page around the live ones (rd ADDR COUNT) for one whose addr is that address."
            ),
        ],
    ),
    Exercise(
        name="bad-pte-frame",
        shipped=False,  # images/ holds a subset (all of images/ under 20 MiB)
        title="A PTE to nowhere",
        level=3,
        topic="post-mortem: a vmalloc PTE naming a reserved or nonexistent frame",
        params=_fault_params,
        scenario=_fault_scenario("bad_pte_frame"),
        question=lambda v, t: (
            "One PTE of a vmalloc area names a frame no vmalloc may own. Give the virtual "
            "address it maps, the pfn it names, what that frame is: `reserved` (the "
            "kernel's own) or `nonexistent` (beyond max_mapnr), and the pfn behind the "
            "first page of the same area."
        ),
        parts=(
            Part("address", "hex", VMALLOC_PAGES),
            # the kernel image's first 64 frames, or up to 4095 past the last one
            Part("pfn", "hex", 64 + 4095),
            Part("kind", "word", 2),
            Part("first pfn", "hex", PFNS),
        ),
        hidden=(1, 3),
        answer=lambda v, t, p: [
            _fault(t)["addr"],
            _fault(t)["pfn"],
            _fault(t)["frame"],
            _area_at(t, _fault(t)["addr"])["pages"][0],
        ],
        commands=_VM,
        hints=lambda v, t: [
            Hint("page shows PG_reserved; max_mapnr bounds mem_map.", ("p max_mapnr",)),
            Hint("Walk the pages of each area.", ("vmlist",)),
        ],
    ),
    Exercise(
        name="overlap",
        shipped=False,  # images/ holds a subset (all of images/ under 20 MiB)
        title="Two areas in one place",
        level=3,
        topic="post-mortem: a vm_struct's addr moved into its neighbour",
        params=_fault_params,
        scenario=_fault_scenario("overlap"),
        question=lambda v, t: (
            "Two areas overlap: a stray write moved one `vm_struct`'s `addr` back into the "
            "area before it. Give that `vm_struct`, the address its area really starts at "
            "(where its pages are mapped), then the pfns behind the area it now overlaps "
            "followed by the pfns behind its own pages, in order."
        ),
        parts=(_vm_part(), Part("address", "hex", VMALLOC_PAGES), _pfns_part(3)),
        hidden=(2,),
        answer=lambda v, t, p: [
            _fault(t)["vm_struct"],
            _fault(t)["was"],
            _by_vm_struct(t, _fault(t)["overlaps"])["pages"] + _fault(t)["pages"],
        ],
        commands=_VM,
        hints=lambda v, t: [
            Hint("Ranges in vmlist should never cross.", ("vmlist",)),
            Hint("The pages stay mapped where they were vmalloc'ed."),
            LIST_HINT,
        ],
    ),
    Exercise(
        name="highmem-frames",
        title="Frames the kernel cannot see",
        level=3,
        topic="8.2 vmalloc's pages from ZONE_HIGHMEM (__GFP_HIGHMEM)",
        params=_highmem_params,
        machine=lambda v: {"ram": v["ram"] << 20, "highmem": True},
        scenario=lambda v: _step("vmalloc", size=f"{v['kib']}K", label="hbuf"),
        question=lambda v, t: (
            f"On this {v['ram']} MiB HIGHMEM machine a driver vmalloc'ed {v['kib']} KiB. How "
            "many of its pages are HIGHMEM frames (above the directly mapped 896 MiB; "
            "decimal), and which pfns back its first and last page?"
        ),
        parts=(
            Part("count", "dec", 64),
            Part("first pfn", "hex", 1 << 18),
            Part("last pfn", "hex", 1 << 18),
        ),
        hidden=(1, 2),
        answer=lambda v, t, p: [
            sum(1 for pfn in _highmem_area(t)["pages"] if pfn >= _max_low_pfn(t)),
            _highmem_area(t)["pages"][0],
            _highmem_area(t)["pages"][-1],
        ],
        commands=(*_VM, "kmem -f"),
        hints=lambda v, t: [
            Hint("Which zones does this machine have?", ("kmem -f", "p max_low_pfn")),
            Hint("One area.", ("vmlist",)),
            LIST_HINT,
        ],
        shipped=False,  # a 1 GiB machine's core is 12 MB: built on first use
    ),
]


def _wild_params(rng: random.Random) -> Params:
    return {**_base_params(rng), "later": rng.randint(1, 3), "culprit": rng.randint(0, 2)}


def _wild_scenario(v: Params) -> str:
    # three modules loaded in turn, one of them with an init that makes the stray
    # write: on the timeline each is the same pair of calls, the culprit's among them,
    # and the first to oops need not follow it (a walk that finds its hole before the
    # corrupted vm_struct never reads the wild pointer)
    text = _base(v, modules=0)
    for i, (name, size) in enumerate(v["modules"]):
        if i == v["culprit"]:
            text += _step("fault", kind="wild_next", call="sys_init_module", target=name)
        elif i < v["culprit"]:
            text += _step("insmod", name=name, size=size)
        else:  # its vmalloc walks vmlist, and may run into the wild pointer
            text += _step("insmod", name=name, size=size, allow_bug=True)
    for i in range(v["later"]):  # each walks vmlist, and may run into the wild pointer
        text += _step("vmalloc", size=f"{4 * (i + 1)}K", allow_bug=True)
    return text


def _old_next(t: Truth) -> int:
    """The vm_struct that followed the corrupted one: the next area by address, or NULL."""
    holder = _fault(t)["vm_struct"]
    areas = sorted(t["areas"], key=lambda a: a["addr"])
    i = next(i for i, a in enumerate(areas) if a["vm_struct"] == holder)
    return int(areas[i + 1]["vm_struct"]) if i + 1 < len(areas) else 0


def _leak_later_params(rng: random.Random) -> Params:
    v = {**_leak_params(rng), "later": rng.sample(MODULE_NAMES, 2)}
    pages = -(-v["modules"][v["leaked"]][1] // 4096)  # the culprit's module's
    v["buffer"] = pages * 4096 - rng.randint(0, 4000)
    v["others"] = (rng.randint(0, 2), rng.randint(0, 2))  # vmallocs before it, after it
    # another driver's buffer of each other module's pages, so that a vmalloc of the
    # culprit's size among the calls does not point at it; the three in a drawn order
    v["sized_like"] = [
        -(-size // 4096) * 4096 - rng.randint(0, 4000)
        for i, (_name, size) in enumerate(v["modules"])
        if i != v["leaked"]
    ]
    v["buffers_order"] = rng.sample(range(3), 3)
    return v


def _leak_later_scenario(v: Params) -> str:
    # every module is unloaded, one of them by an unload that forgets vfree: on the
    # timeline each is a sys_delete_module of its own, the culprit's among them. The
    # culprit's driver vmalloc'ed a buffer while it ran, among other vmallocs, as many
    # pages as its module, which its cleanup vfrees: free_module runs the cleanup
    # before module_unmap, so its unload frees as many pages as its module_unmap
    # would have, and the writes of each unload (alone, or beside its module's
    # sys_create_module) do not tell the culprit's from the others'; other drivers hold
    # buffers as big as each other module, so neither do the sizes of the vmallocs
    text = _base(v, modules=3)
    before, after = v["others"]
    if before:
        text += _step("random", count=before, min_size="4K", max_size="36K", free_ratio=0.0)
    buffers = [{"size": v["buffer"], "label": "driver buffer"}]
    buffers += [{"size": size} for size in v["sized_like"]]
    for i in v["buffers_order"]:
        text += _step("vmalloc", **buffers[i])
    if after:
        text += _step("random", count=after, min_size="4K", max_size="36K", free_ratio=0.0)
    for i, (name, _) in enumerate(v["modules"]):
        if i == v["leaked"]:
            text += _step(
                "fault",
                kind="vmalloc_leak",
                call="sys_delete_module",
                target=name,
                cleanup="driver buffer",
            )
        else:
            text += _step("rmmod", name=name)
    for name in v["later"]:
        if name not in {m[0] for m in v["modules"]}:
            text += _step("insmod", name=name, size=12288)
    return text


_TIMELINE = ("timeline", "goto", "step", "back", "history", "blame")

EXERCISES += [
    Exercise(
        name="who-broke-vmlist",
        title="Which write broke vmlist?",
        level=3,
        topic="post-mortem with the timeline: a stray write into a vm_struct",
        params=_wild_params,
        scenario=_wild_scenario,
        timeline=True,
        question=lambda v, t: (
            "Walking `vmlist` now leads into memory nothing maps: one `vm_struct`'s `next` was "
            "overwritten. This image keeps its timeline. In which scenario step was it "
            "overwritten (decimal), which `vm_struct` holds it, what did its `next` hold "
            "before (0 if nothing), and which pfns back the pages of the area that "
            "`vm_struct` describes, followed by those of the area its `next` led to before "
            "(none if nothing), in order?"
        ),
        parts=(Part("step", "dec", 16), _vm_part(), _vm_part(), _pfns_part(2)),
        hidden=(3,),
        answer=lambda v, t, p: [
            _fault(t)["step"],
            _fault(t)["vm_struct"],
            _old_next(t),
            [
                pfn
                for vm in (_fault(t)["vm_struct"], _old_next(t))
                if vm
                for pfn in _by_vm_struct(t, vm)["pages"]
            ],
        ],
        commands=(*_TIMELINE, "list", "struct", "p", "rd", "vtop", "sym", "whatis", "ptype"),
        hints=lambda v, t: [
            Hint("What did the kernel do, step by step?", ("timeline",)),
            Hint(
                "Follow the list until a next pointer leads nowhere: p *vmlist, then "
                "p *vmlist->next, p *vmlist->next->next, ... (or list -o vm_struct.next "
                "*vmlist, which stops there).",
                ("p *vmlist",),
            ),
            Hint("blame ADDR names the last write to ADDR: its entry, the bytes before and after."),
        ],
    ),
    Exercise(
        name="who-leaked",
        shipped=False,  # images/ holds a subset (all of images/ under 20 MiB)
        title="Which unload leaked?",
        level=3,
        topic="post-mortem with the timeline: a module unload without vfree",
        params=_leak_later_params,
        scenario=_leak_later_scenario,
        timeline=True,
        question=lambda v, t: (
            "One module's memory is still vmalloc'ed though the module is gone. This image "
            "keeps its timeline. In which scenario step did the module leave `module_list` "
            "(decimal), what was its name, which `vm_struct` still holds its memory, and "
            "which pfns back the pages of that memory, in order?"
        ),
        parts=(
            Part("step", "dec", 16),
            Part("name", "word", len(MODULE_NAMES)),
            _vm_part(),
            _pfns_part(3),
        ),
        hidden=(3,),
        answer=lambda v, t, p: [
            _fault(t)["step"],
            _fault(t)["module"],
            _leaked(v, t)["vm_struct"],
            _leaked(v, t)["pages"],
        ],
        commands=(*_TIMELINE, *_VM),
        plugins=("modules",),
        hints=lambda v, t: [
            Hint("Which modules are loaded now, and which areas exist?", ("modules", "vmlist")),
            Hint("What did the kernel do, step by step?", ("timeline",)),
            Hint(
                "The module is gone from module_list, but its struct module is still at "
                "the start of its area: blame ADDR names the last write to ADDR (its "
                "flags, its next), history ADDR every one."
            ),
        ],
    ),
]


def _geometry(t: Truth) -> MachineConfig:
    c = t["config"]
    return MachineConfig(ram=c["ram"], highmem=c["highmem"], pae=c["pae"], pse=c["pse"])


def _table_of(t: Truth, addr: int) -> tuple[int, int]:
    """(pfn, PMD entry's physical address) of the page-table page mapping ``addr``."""
    span = _geometry(t).paging.pmd_size
    return next((pfn, entry) for base, pfn, entry in t["page_tables"] if base == addr & -span)


def _spans(t: Truth, addr: int, mapped: int) -> set[int]:
    span = _geometry(t).paging.pmd_size
    return set(range(addr & -span, addr + mapped, span))


def _pae_params(rng: random.Random) -> Params:
    return {**_base_params(rng), "pages": rng.randint(3, 6), "page": rng.randint(1, 2)}


def _pae_addr(v: Params, t: Truth) -> int:
    return int(_area(t, "buf")["addr"]) + v["page"] * 4096


def _pae_answer(v: Params, t: Truth, _: Truth | None) -> list[Any]:
    addr = _pae_addr(v, t)
    pfn, entry = _table_of(t, addr)
    pte = pfn * 4096 + _geometry(t).paging.pte_index(addr) * 8
    return [entry, pte, _area(t, "buf")["pages"][v["page"]]]


def _tables_params(rng: random.Random) -> Params:
    return {
        **_base_params(rng),
        "fb": rng.randint(4 << 8, 9 << 8) * 4096,  # 4-9 MiB of a framebuffer
        "phys": rng.randrange(BUS_START, BUS_END - (9 << 20), 4096),
        "pages": rng.randint(2, 6),
    }


def _tables_answer(v: Params, t: Truth, _: Truth | None) -> list[Any]:
    fb, buf = _area(t, "fb"), _area(t, "buf")
    before: set[int] = set()
    for a in t["areas"]:  # every other area was mapped before the framebuffer
        if a["addr"] < fb["addr"]:
            before |= _spans(t, a["addr"], a["size"] - 4096)
    new = _spans(t, fb["addr"], fb["size"] - 4096) - before
    return [len(new), _table_of(t, fb["addr"] + fb["size"] - 8192)[0], buf["pages"][0]]


_WALK = ("vmlist", "rd", "p", "sym", "struct", "ptype", "whatis")

EXERCISES += [
    Exercise(
        name="pae-walk",
        title="Three levels by hand",
        level=3,
        topic="PAE: 64-bit entries, a PMD level, 2 MiB per page table",
        params=_pae_params,
        machine=lambda v: {"ram": 16 << 20, "highmem": True, "pae": True},
        scenario=lambda v: _base(v) + _step("vmalloc", size=f"{v['pages'] * 4}K", label="buf"),
        question=lambda v, t: (
            "This kernel runs with PAE: three levels of 64-bit entries. `vtop` is not "
            "available here: walk the kernel page tables yourself, from `swapper_pg_dir`, for "
            f"`{_pae_addr(v, t):x}` (a page of a driver's vmalloc buffer). Give the physical "
            "address of the PMD entry that maps it, the physical address of its PTE, and the "
            "pfn it maps."
        ),
        # the PMD entry's page is the boot's and its index is the address's: found
        parts=(
            Part("pmd entry", "hex", 2),
            Part("pte", "hex", PFNS),  # a page-table page's; the index is the address's
            Part("pfn", "hex", PFNS),
        ),
        hidden=(1, 2),
        answer=_pae_answer,
        commands=_WALK,
        hints=lambda v, t: [
            Hint(
                "With PAE, swapper_pg_dir holds four 8-byte entries; bits 30-31 of the "
                "address pick one. Each entry is a physical address, flags in its low 12 bits.",
                ("sym swapper_pg_dir", "rd -64 swapper_pg_dir 4"),
            ),
            Hint(
                "Bits 21-29 index the PMD page (512 entries of 8 bytes), bits 12-20 the page "
                "table. Lowmem is mapped at PAGE_OFFSET + its physical address; rd -p reads "
                "a physical address.",
                ("p/x (unsigned long)&swapper_pg_dir - 0xc0000000",),
            ),
            Hint("A PTE's frame is its physical address without the low 12 bits, >> 12."),
        ],
    ),
    Exercise(
        name="page-tables",
        title="What page tables cost",
        level=2,
        topic="8.2-8.3 pte_alloc: the page-table pages vmalloc and ioremap allocate",
        params=_tables_params,
        scenario=lambda v: (
            _base(v, holes=False)
            + _step("ioremap", phys=v["phys"], size=v["fb"], label="fb")
            + _step("random", count=v["noise"] + 8, min_size="4K", max_size="24K", free_ratio=0.0)
            + _step("vmalloc", size=f"{v['pages'] * 4}K", label="buf")
        ),
        question=lambda v, t: (
            f"A framebuffer driver `ioremap`'ed {v['fb'] >> 10} KiB; later a driver "
            f"`vmalloc`'ed {v['pages'] * 4} KiB (the last area). Page tables cost memory too: "
            "how many page-table pages did that `ioremap` allocate (decimal)? Which pfn is "
            "the page-table page that maps the framebuffer's last page, and which pfn backs "
            "the buffer's first page? `vtop` is not available here: read the page directory "
            "yourself."
        ),
        parts=(
            Part("page-table pages", "dec", 4),
            Part("page-table pfn", "hex", PFNS),
            Part("pfn", "hex", PFNS),
        ),
        hidden=(1, 2),
        answer=_tables_answer,
        commands=(*_WALK, "page"),
        hints=lambda v, t: [
            Hint(
                "Without PAE, one page table maps 4 MiB. The first mapping in a 4 MiB span "
                "makes pte_alloc take a page for it; the kernel's page tables are never freed.",
                ("vmlist",),
            ),
            Hint(
                "swapper_pg_dir is the kernel's page directory: entry N maps N * 4 MiB, its "
                "value the page table's physical address with flags in the low 12 bits.",
                ("sym swapper_pg_dir", "rd swapper_pg_dir+0xc00 256"),
            ),
            Hint(
                "A page table is in lowmem: read it at PAGE_OFFSET + its physical address "
                "(or rd -p); a PTE's frame is its value >> 12."
            ),
        ],
    ),
]


def _why_vmalloc_params(rng: random.Random) -> Params:
    return {**_base_params(rng), "order": 9}


def _why_vmalloc_answer(v: Params, t: Truth, probe: Truth | None) -> list[Any]:
    assert probe is not None
    if _area(probe, "probe")["pages"][-1] is None:  # the question says the vmalloc succeeds
        raise NotThisDraw("the probe's vmalloc failed")
    zone = next(z for z in t["free_lists"] if z["zone"] == 0)  # 16 MiB: ZONE_DMA alone
    orders = [order for order, blocks in enumerate(zone["counts"]) if blocks]
    if orders[-1] >= v["order"]:  # the question is why no block of that order is left
        raise NotThisDraw(f"this machine still has a free block of order {orders[-1]}")
    # rmqueue takes the lowest order's first block; expand keeps halving it and hands
    # out the upper half each time: its last page
    low = orders[0]
    return [orders[-1], zone["heads"][low] + (1 << low) - 1, zone["heads"][orders[-1]]]


EXERCISES += [
    Exercise(
        name="why-vmalloc",
        title="Why vmalloc exists",
        level=2,
        topic="8 introduction: contiguous pages are scarce on a machine that has run a while",
        params=_why_vmalloc_params,
        scenario=_base,
        probe=lambda v: _step("vmalloc", size=f"{4 << v['order']}K", label="probe"),
        question=lambda v, t: (
            "This 16 MiB machine has run a while: files came and went through its page cache, "
            f"and its free memory is scattered. A driver asks `__get_free_pages(GFP_KERNEL, "
            f"{v['order']})` for {4 << v['order']} KiB of contiguous memory. What is the "
            "highest order that still has a free block (decimal)? The same size from "
            f"`vmalloc({4096 << v['order']})` succeeds, page by page. Which pfn would the next "
            "`alloc_page(GFP_KERNEL)` return, and which pfn would `__get_free_pages` of that "
            "highest order return?"
        ),
        parts=(
            Part("order", "dec", 10),
            Part("alloc_page pfn", "hex", PFNS),
            Part("highest-order pfn", "hex", PFNS),
        ),
        hidden=(1, 2),
        answer=_why_vmalloc_answer,
        commands=("kmem -f", "p", "struct", "list", "rd", "sym", "whatis", "ptype"),
        plugins=("buddyinfo",),
        hints=lambda v, t: [
            Hint(
                "The buddy allocator keeps free blocks of 2^order pages; __get_free_pages "
                "needs one of its order or higher.",
                ("buddyinfo", "kmem -f"),
            ),
            Hint(
                "rmqueue takes the lowest order with a free block and from it "
                "free_area[order].free_list.next: the list member of a struct page.",
                ("p contig_page_data.node_zones[0].free_area[0].free_list",),
            ),
            Hint(
                "A struct page's pfn is its index in mem_map.",
                ("p mem_map", "ptype struct page"),
            ),
        ],
    ),
]


PROGRAMS = ("bash", "sshd", "crond", "syslogd", "klogd", "getty", "portmap", "xinetd", "httpd")


def _fault_lag_params(rng: random.Random) -> Params:
    early = rng.sample(PROGRAMS, rng.randint(3, 5))
    return {
        **_base_params(rng),
        "early": early,
        "touched": sorted(rng.sample(range(len(early)), rng.randint(1, len(early) - 1))),
        "late": rng.sample([p for p in PROGRAMS if p not in early], rng.randint(1, 2)),
        "fb": rng.randint(4 << 8, 7 << 8) * 4096,
        "phys": rng.randrange(BUS_START, BUS_END - (8 << 20), 4096),
        "pages": rng.randint(2, 5),
    }


def _fault_lag_scenario(v: Params) -> str:
    text = _base(v, holes=False)
    for i, name in enumerate(v["early"]):
        text += _step("spawn", name=name, label=f"early{i}")
    text += _step("ioremap", phys=v["phys"], size=v["fb"], label="fb")
    text += _step("random", count=v["noise"] + 8, min_size="4K", max_size="24K", free_ratio=0.0)
    text += _step("vmalloc", size=f"{v['pages'] * 4}K", label="buf")
    for i in v["touched"]:
        text += _step("touch", task=f"early{i}", label="buf")
    for name in v["late"]:
        text += _step("spawn", name=name)
    return text


def _fault_lag_answer(v: Params, t: Truth, _: Truth | None) -> list[Any]:
    buf, events = _area(t, "buf"), t["events"]
    # buf lies past the framebuffer's first 4 MiB: swapper_pg_dir got the entry for it
    # with the framebuffer or later, after every early process and before the late ones
    mapped = next(e["step"] for e in events if e["op"] == "ioremap")
    born = {e["pid"]: e["step"] for e in events if e["op"] in ("spawn", "fork")}
    synced = {e["pid"] for e in events if e["op"] == "touch" and e["outcome"] == "synced"}
    lagging = [
        task["pid"]
        for task in t["tasks"]
        if task["mm"] and born.get(task["pid"], 0) < mapped and task["pid"] not in synced
    ]
    return [_table_of(t, buf["addr"])[0], buf["pages"][0], sorted(lagging)]


EXERCISES += [
    Exercise(
        name="vmalloc-fault",
        title="Who faults on a vmalloc address?",
        level=3,
        topic="8.1 the lazy vmalloc fault: process page directories copy the kernel's late",
        params=_fault_lag_params,
        scenario=_fault_lag_scenario,
        question=lambda v, t: (
            f"Processes started before a framebuffer driver `ioremap`'ed {v['fb'] >> 10} KiB "
            f"and a driver `vmalloc`'ed `buf` at `{_area(t, 'buf')['addr']:x}`; some of them "
            "have touched `buf` since, and more processes started after. `vtop` is not "
            "available here. When a process that lacks the page directory entry touches "
            "`buf`, `vmalloc_fault` copies `swapper_pg_dir`'s entry: which pfn is the page "
            "table that entry points at, and which pfn backs `buf`'s first page? Then list "
            "the pids (decimal, increasing) of every process with its own `mm` that would "
            "take that fault now."
        ),
        parts=(
            Part("page-table pfn", "hex", PFNS),
            Part("pfn", "hex", PFNS),
            Part("pids", "dec-list", 2),  # which of the listed processes: found by reading
        ),
        hidden=(0, 1),
        answer=_fault_lag_answer,
        commands=("ps", "vmlist", "list", "struct", "p", "rd", "sym", "whatis", "ptype"),
        hints=lambda v, t: [
            Hint(
                "pgd_alloc copies the kernel's entries of swapper_pg_dir into a new page "
                "directory; a later vmalloc or ioremap writes only swapper_pg_dir's.",
                ("ps", "sym swapper_pg_dir"),
            ),
            Hint(
                "A task's page directory is task->mm->pgd; compare its entry for buf's 4 MiB "
                "with swapper_pg_dir's (entry N maps N * 4 MiB).",
                ("ptype struct mm_struct", "p init_task_union.task.next_task->mm->pgd"),
            ),
            Hint(
                "An entry is a page table's physical address with flags in its low 12 bits; "
                "the page table is in lowmem (PAGE_OFFSET + its physical address, or rd -p)."
            ),
        ],
    ),
]


def by_name(name: str) -> Exercise:
    """The exercise called ``name``.

    :raises LookupError: naming the known ones.
    """
    for ex in EXERCISES:
        if ex.name == name:
            return ex
    known = ", ".join(e.name for e in EXERCISES)
    raise LookupError(f"no exercise '{name}' (known: {known})")
