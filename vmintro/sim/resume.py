"""Resuming the simulated kernel from an image: the running :class:`Kernel` an
image's files describe, without booting.

Everything the kernel runs on comes from the image alone: RAM from the core,
the machine (RAM size, HIGHMEM, PAE) from its VMCOREINFO note, the symbols and
types from the vmlinux (checked against the layout this simulator gives a
kernel of that build), PSE from ``swapper_pg_dir``'s entry for ``PAGE_OFFSET``.
The subsystems hold only addresses; what else they need they find in RAM as
the kernel would (the general caches in ``cache_sizes``, the bootmem data in
``contig_bootmem_data``, the .rodata strings through the pointers that lead to
them), and the printk ring and ``least_priority`` are kernel variables.

The ground truth (who owns each vm area, the frame given to each page, the
areas freed, the scenario's labels, events and faults) is bookkeeping no
kernel keeps: it comes back from ``NAME.truth.json`` when the file is there,
and without it the owners, labels and history are absent (the frames of each
``vmalloc`` area are then read from its PTEs).

An image the kernel could not have produced (:data:`IMPOSSIBLE`: globals that
``vmintro check`` finds inconsistent) is refused in one line naming the
finding; the states a kernel bug leaves (the simulator's injected faults and
what follows from them) are not refused, the kernel runs on from them. Reading
a refused image with :mod:`vmintro.program` still works.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE, MachineConfig
from vmintro.sim.boot import Kernel
from vmintro.sim.bootmem import Bootmem
from vmintro.sim.buddy import Buddy
from vmintro.sim.errors import PageFault, SimulationError
from vmintro.sim.kernel import DATA, RODATA, KernelMemory
from vmintro.sim.paging import KernelPageTables
from vmintro.sim.physmem import PhysMemError
from vmintro.sim.process import Processes
from vmintro.sim.slab import Slab
from vmintro.sim.vmaccess import virt_to_phys_walk
from vmintro.sim.vmalloc import Vmalloc
from vmintro.types.flags import MAX_NR_ZONES, VM_ALLOC

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["Resumed", "ResumeError", "attach_kernel", "resume", "resume_program"]

_PSE_BIT = 0x80
# The truth file of the largest machine with 10,000s of areas is a few MiB.
TRUTH_MAX = 256 << 20
# The structures whose size the simulator and the vmlinux must agree on.
_SIZED = (
    "struct page",
    "struct vm_struct",
    "zone_t",
    "pg_data_t",
    "kmem_cache_t",
    "struct swap_info_struct",
    "struct module",
)


class ResumeError(SimulationError):
    """An image that cannot be resumed; ``str()`` is one line naming the file and why."""


@dataclass
class Resumed:
    """A kernel resumed from an image, and the image's bookkeeping.

    ``generator`` is the core's VMINTRO note (scenario, seed, machine), ``truth``
    the truth file's contents or None when the image has none; ``labels``,
    ``events`` and ``faults`` are the scenario's, empty without a truth file.
    """

    kernel: Kernel
    generator: dict[str, Any]
    truth: dict[str, Any] | None
    labels: dict[str, tuple[str, int]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)


def resume(
    image: str | os.PathLike[str],
    vmlinux: str | os.PathLike[str] | None = None,
    *,
    check: bool = True,
) -> Resumed:
    """The running kernel of ``image`` (``NAME`` or ``NAME.vmcore``).

    ``check=False`` skips ``vmintro check``'s findings (for callers that have
    just written the image themselves).

    :raises ResumeError: an unreadable image, a vmlinux this simulator did not
        lay out, or an image no kernel could have produced.
    """
    from vmintro.errors import VmintroError
    from vmintro.program import Program

    try:
        prog = Program.from_files(image, vmlinux)
    except VmintroError as e:
        raise ResumeError(str(e)) from None
    try:
        return resume_program(prog, check=check)
    finally:
        prog.backend.close()  # type: ignore[attr-defined]


def resume_program(prog: Program, *, check: bool = True) -> Resumed:
    """The running kernel ``prog`` reads: an image (with its truth file's bookkeeping)
    or any moment of its timeline (:meth:`vmintro.program.Program.at`; the truth file
    describes the image's last moment, so a moment's bookkeeping is read from RAM).

    :raises ResumeError: as :func:`resume`.
    """
    from vmintro.image.format.names import image_paths

    core = getattr(prog.backend, "vmcore_path", None)
    name = core.name if core is not None else "the program's kernel"
    if check:
        _refuse_findings(prog, name)
    k = attach_kernel(prog, name)
    truth = None
    if core is not None:
        truth_path = image_paths(core)["truth"]
        truth = _read_truth(truth_path, k.config) if truth_path.is_file() else None
    generator = getattr(getattr(prog.backend, "core", None), "generator", None)
    if generator is None:  # a moment: the image's note
        root = getattr(prog.backend, "root", None)
        generator = getattr(getattr(root, "backend", None), "core", None)
        generator = getattr(generator, "generator", {}) if generator is not None else {}
    resumed = Resumed(k, dict(generator), truth)
    _restore_bookkeeping(resumed)
    return resumed


def attach_kernel(prog: Program, name: str = "image") -> Kernel:
    """The kernel ``prog``'s memory holds, with its subsystems attached (nothing is
    written to it): a copy of RAM, so ``prog`` stays as it was.

    :raises ResumeError: a machine this simulator cannot be, or a vmlinux that
        places a kernel variable elsewhere than this simulator does.
    """
    ram = prog.ram_size
    try:
        config = MachineConfig(ram=ram, highmem=prog.highmem, pae=prog.pae, pse=True)
    except ValueError as e:
        raise ResumeError(f"{name}: not a machine the simulator runs: {e}") from None
    k = Kernel.__new__(Kernel)
    KernelMemory.__init__(k, config)
    _check_layout(prog, k, name)
    _load_ram(prog, k)
    if not _direct_map_uses_pse(k):
        # the same RAM, the machine built without PSE
        mem = k.mem
        config = MachineConfig(ram=ram, highmem=prog.highmem, pae=prog.pae, pse=False)
        KernelMemory.__init__(k, config)
        k.mem = mem
    k.mem_map = k.r32(k.sym("mem_map"))
    try:
        _rodata_strings(k)
        k.bootmem = Bootmem.attach(k)
        k.buddy = Buddy(k)
        k.slab = Slab.attach(k, k.buddy)
        k.processes = Processes.attach(k, k.buddy, k.slab)
    except (SimulationError, PhysMemError) as e:  # a pointer of the image leads nowhere
        raise ResumeError(f"{name}: the kernel's own pointers lead nowhere: {e}") from None
    k.vmalloc = Vmalloc(k, k.buddy, k.slab)
    return k


# The findings of an image no kernel could have left: its globals (mem_map, max_mapnr,
# high_memory, the node and its zones) disagree with each other or with RAM, or check
# could not read through it. Everything else check finds (a vmlist cycle, a wild
# pointer, a frame freed twice, a leaked area and what follows from them) is a state a
# kernel bug leaves, as the simulator's injected faults do; the kernel runs on from it.
IMPOSSIBLE = frozenset({"global_inconsistent", "zone_corrupt", "check_incomplete"})


def _refuse_findings(prog: Program, name: str) -> None:
    """Refuse an image ``vmintro check`` finds no kernel could have left (:data:`IMPOSSIBLE`)."""
    from vmintro.check import check_program

    findings = [f for f in check_program(prog) if f.kind in IMPOSSIBLE]
    if findings:
        more = f" (and {len(findings) - 1} more; see vmintro check)" if len(findings) > 1 else ""
        raise ResumeError(
            f"{name}: cannot resume a kernel no kernel could have left: {findings[0]}{more}"
        )


def _check_layout(prog: Program, k: Kernel, name: str) -> None:
    """The vmlinux must be this simulator's: every variable where it places it, every
    structure of the size it gives it."""
    for sym, (addr, _size, ctype) in k.layout.symbols.items():
        if ctype is None:
            continue
        have = _symbol_address(prog, sym)
        if have != addr:
            where = f"at {have:#x}" if have is not None else "missing"
            raise ResumeError(
                f"{name}: the vmlinux's {sym} is {where}; a kernel the simulator runs has it "
                f"at {addr:#x}"
            )
    for typename in _SIZED:
        have = prog.type(typename).size
        if have != k.types.sizeof(typename):
            raise ResumeError(
                f"{name}: the vmlinux's {typename} is {have} bytes; the simulator's is "
                f"{k.types.sizeof(typename)}"
            )


def _symbol_address(prog: Program, sym: str) -> int | None:
    try:
        return prog.symbol(sym).address
    except LookupError:
        return None


def _load_ram(prog: Program, k: Kernel) -> None:
    """Every frame ``prog`` can hold that is not all zeros, copied into ``k``'s RAM:
    what an image's core stores (read straight from it), else what the backend says
    may be non-zero, else all of RAM."""
    backend = prog.backend
    core = getattr(backend, "core", None)
    if core is not None:
        ranges = [(paddr, paddr + size) for paddr, size, _ in core.segments]
        read = core.read_phys
    else:
        stored = getattr(backend, "stored_ranges", None)
        ranges = stored() if stored is not None else [(0, prog.ram_size)]
        read = backend.read_phys
    chunk = 1 << 24
    for start, end in ranges:
        for at in range(start, end, chunk):
            _copy(k, at, read(at, min(chunk, end - at)))


def _copy(k: Kernel, paddr: int, raw: bytes) -> None:
    """``raw`` into RAM at ``paddr``, its all-zero frames left out."""
    mem, size = k.mem, len(raw)
    head = min(-paddr % PAGE_SIZE, size)
    if head:  # a range starting inside a frame (vmintro writes none)
        mem.write(paddr, raw[:head])
    body = (size - head) // PAGE_SIZE * PAGE_SIZE
    pages = np.frombuffer(raw, dtype=np.uint8, count=body, offset=head).reshape(-1, PAGE_SIZE)
    first = (paddr + head) // PAGE_SIZE
    for i in np.flatnonzero(pages.any(axis=1)):
        mem.write((first + int(i)) * PAGE_SIZE, pages[i].tobytes())
    if head + body < size:
        mem.write(paddr + head + body, raw[head + body :])


def _direct_map_uses_pse(k: Kernel) -> bool:
    """Whether ``pagetable_init`` mapped lowmem with large pages: the entry of
    ``swapper_pg_dir`` (or its pmd) for ``PAGE_OFFSET`` has ``_PAGE_PSE``."""
    pt = KernelPageTables(k)
    pmd = pt.pmd_offset(pt.pgd_offset_k(PAGE_OFFSET), PAGE_OFFSET)
    return bool(pt.get(pmd) & _PSE_BIT)


def _rodata_strings(k: Kernel) -> None:
    """The .rodata string table, found through the pointers that lead to it
    (``kernel_module.name``, each zone's name, ``ext2_fs_type.name``): the strings
    are constants of the image, interned where boot put them."""
    pointers = [k.get(k.sym("kernel_module"), "struct module", "name")]
    pointers.append(k.get(k.sym("ext2_fs_type"), "struct file_system_type", "name"))
    pgdat = k.sym("contig_page_data")
    for j in range(MAX_NR_ZONES):
        zone = pgdat + k.types.offsetof("pg_data_t", f"node_zones[{j}]")
        pointers.append(k.get(zone, "zone_t", "name"))
    end = RODATA
    for addr in sorted(set(pointers)):
        if not RODATA <= addr < DATA:
            continue
        raw = k.read(addr, 64).split(b"\0")[0]
        k.layout.strings.setdefault(raw.decode(errors="replace"), addr)
        end = max(end, addr + ((len(raw) + 1 + 3) & ~3))
    k._rodata = end


# -- the ground truth -----------------------------------------------------------------------


def _read_truth(path: os.PathLike[str], config: MachineConfig) -> dict[str, Any]:
    name = os.fspath(path).rsplit("/", 1)[-1]
    try:
        with open(path, "rb") as f:
            raw = f.read(TRUTH_MAX + 1)
    except OSError as e:
        raise ResumeError(f"{name}: cannot read: {e.strerror or e}") from None
    if len(raw) > TRUTH_MAX:
        raise ResumeError(f"{name}: larger than {TRUTH_MAX >> 20} MiB, not a truth file")
    try:
        truth = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ResumeError(f"{name}: not JSON: {e}") from None
    if not isinstance(truth, dict):
        raise ResumeError(f"{name}: not a JSON object")
    want = {"ram": config.ram, "highmem": config.highmem, "pae": config.pae}
    have = truth.get("config")
    if not isinstance(have, dict) or any(have.get(key) != value for key, value in want.items()):
        raise ResumeError(f"{name}: the truth of another machine ({have!r}, the core's {want})")
    return truth


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
        raise ResumeError(f"truth file: {what} is {value!r}, not an address or a size")
    return value


def _restore_bookkeeping(r: Resumed) -> None:
    """The vmalloc records, frames and freed areas, the labels, events and faults:
    from the truth file, or (records and frames) from vmlist and the PTEs."""
    vm = r.kernel.vmalloc
    truth = r.truth
    if truth is None:
        _records_from_ram(r.kernel)
        return
    boot = truth.get("boot")  # what boot left, carried into the next image's truth
    if isinstance(boot, dict):
        r.kernel.boot_truth = boot
    areas = truth.get("areas", [])
    limit = (r.kernel.config.vmalloc_end - r.kernel.config.vmalloc_start) // (2 * PAGE_SIZE) + 1
    if not isinstance(areas, list) or len(areas) > limit:
        raise ResumeError("truth file: 'areas' is not a list of at most one area per two pages")
    for area in areas:
        if not isinstance(area, dict):
            raise ResumeError("truth file: an area is not an object")
        addr = _int(area.get("addr"), "an area's addr")
        size = _int(area.get("size"), f"the size of area {addr:#x}")
        rec: dict[str, int | str] = {
            "vm_struct": _int(area.get("vm_struct"), f"the vm_struct of area {addr:#x}"),
            "size": size,
            "flags": _int(area.get("flags"), f"the flags of area {addr:#x}"),
        }
        if isinstance(area.get("owner"), str):
            rec["owner"] = area["owner"]
        vm.records[addr] = rec
        pages = area.get("pages", [])
        if not isinstance(pages, list) or len(pages) > size // PAGE_SIZE:
            raise ResumeError(f"truth file: area {addr:#x} has more pages than its size")
        for i, pfn in enumerate(pages):
            if pfn is not None:
                vm.frames[addr + i * PAGE_SIZE] = _int(pfn, f"a frame of area {addr:#x}")
    for key, target in (("freed", vm.freed), ("events", r.events), ("faults", r.faults)):
        value = truth.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ResumeError(f"truth file: '{key}' is not a list of objects")
        target.extend(value)
    labels = truth.get("labels", {})
    if not isinstance(labels, dict):
        raise ResumeError("truth file: 'labels' is not an object")
    for label, value in labels.items():
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
            raise ResumeError(f"truth file: label {label!r} is not [kind, value]")
        r.labels[label] = (value[0], _int(value[1], f"label {label!r}"))


def _records_from_ram(k: Kernel) -> None:
    """Without a truth file: each area on vmlist (no owner), and each page of a
    ``vmalloc`` area at the frame its PTE maps.

    A page's PTE is read once, and only in the vmalloc range: a kernel's areas lie there
    (page aligned, none over another), so this reads each of its pages once; a forged
    vmlist of many areas that each claim the whole range costs no more walks than that.
    """
    vm = k.vmalloc
    start, end = k.config.vmalloc_start, k.config.vmalloc_end
    walked = bytearray((end - start) // PAGE_SIZE)  # 1: the page's PTE was read
    for vm_struct, addr, size, flags in vm.areas():
        vm.records[addr] = {"vm_struct": vm_struct, "size": size, "flags": flags}
        if not flags & VM_ALLOC or size > end - start or addr % PAGE_SIZE:
            continue
        # the area's pages but its guard page, within the range
        first = (max(addr, start) - start) // PAGE_SIZE
        stop = (min(addr + size - PAGE_SIZE, end) - start) // PAGE_SIZE
        page = walked.find(0, first, stop) if first < stop else -1
        while page >= 0:
            walked[page] = 1
            vaddr = start + page * PAGE_SIZE
            try:
                vm.frames[vaddr] = virt_to_phys_walk(k, vaddr) // PAGE_SIZE
            except (PageFault, PhysMemError):  # not mapped, or a PTE of no RAM's frame
                pass
            page = walked.find(0, page + 1, stop)
