"""``sys_swapon`` and ``sys_swapoff`` (``mm/swapfile.c``): swap areas and their ``swap_map``."""

from __future__ import annotations

import struct
from typing import NoReturn

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.sim.boot import Kernel
from vmintro.sim.errors import LoopGuard, SimulationError, kernel_function
from vmintro.sim.kernel import KERN_INFO, KERN_WARNING
from vmintro.sim.vmaccess import vwrite as _vwrite
from vmintro.types.flags import (
    GFP_USER,
    MAX_SWAPFILES,
    SWAP_MAP_BAD,
    SWP_USED,
    SWP_WRITEOK,
)

__all__ = ["MAX_SWAP_BADPAGES", "swapoff", "swapon"]

SI = "struct swap_info_struct"
NEG1 = 0xFFFFFFFF
MAX_SWAP_BADPAGES = (4086 - 1536) // 4  # include/linux/swap.h: what the header page holds
SWAP_LIST_LOCK = "swaplock held"  # swap_list_lock() around every walk of swap_list


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


@kernel_function("sys_swapon", entry=("device", "priority"), returns="zero")
def swapon(
    k: Kernel,
    device: int,
    pages: int,
    priority: int | None = None,
    bad_pages: tuple[int, ...] = (),
) -> int:
    """``sys_swapon`` on a block device holding a v2 ("SWAPSPACE2") header.

    ``pages`` is the device size in pages; mkswap writes ``last_page = pages - 1``
    and the ``bad_pages`` list. Returns the swap_info index. The path lookup finds
    the device's dentry and vfsmount in caches this simulation does not model, so
    ``swap_file``/``swap_vfsmnt`` stay NULL; 2.4.20 allocates nothing there either.
    A failure takes the ``bad_swap`` path: the slot cleared, ``least_priority``
    given back, ``swap_map`` vfree'd, the header page freed; then -errno.
    """
    base = k.sym("swap_info")
    ssize = k.types.sizeof(SI)
    nr_sym = k.sym("nr_swapfiles")
    nr = k.r32(nr_sym)
    for i in range(MAX_SWAPFILES):
        if i >= nr or not k.get(base + i * ssize, SI, "flags") & SWP_USED:
            break
    else:
        raise SimulationError("swapon: -EPERM (all 32 swap slots in use)")
    if i >= nr:
        k.w32(nr_sym, i + 1)
    p = base + i * ssize
    k.set_many(
        p,
        SI,
        flags=SWP_USED,
        swap_file=0,
        swap_vfsmnt=0,
        swap_device=0,
        swap_map=0,
        lowest_bit=0,
        highest_bit=0,
        cluster_nr=0,
        next=NEG1,
    )
    if priority is not None:
        prio = priority & 0x7FFF  # SWAP_FLAG_PREFER given
    else:
        least = k.sym("least_priority")
        prio = _s32(k.r32(least)) - 1
        k.w32(least, prio & NEG1)
    k.set(p, SI, "prio", prio & NEG1)
    k.set(p, SI, "swap_device", device)

    # The header is read into a page that is freed again on every path.
    header = k.buddy.get_free_pages(GFP_USER, 0)
    if header is None:
        k.printk("Unable to start swapping: out of memory :-)")
        _bad_swap(k, p, priority, None, "-ENOMEM reading the swap header")
    last_page = pages - 1
    k.write(header + 1024, struct.pack("<III", 1, last_page, len(bad_pages)))
    for n, bad in enumerate(bad_pages[:MAX_SWAP_BADPAGES]):
        k.write(header + 1536 + 4 * n, struct.pack("<I", bad & NEG1))
    k.write(header + PAGE_SIZE - 10, b"SWAPSPACE2")
    maxpages = min(0xFFFFFE, last_page)
    k.set_many(p, SI, lowest_bit=1, highest_bit=(maxpages - 1) & NEG1)
    if len(bad_pages) > MAX_SWAP_BADPAGES:
        _bad_swap(k, p, priority, header, f"-EINVAL ({len(bad_pages)} bad pages)")
    swap_map = k.vmalloc.vmalloc(maxpages * 2, owner=f"swap_map of swap_info[{i}]")
    if swap_map is None:
        _bad_swap(k, p, priority, header, "-ENOMEM for swap_map")
    k.set(p, SI, "swap_map", swap_map)
    _vwrite(k, swap_map, bytes(maxpages * 2))
    out_of_range = None
    for bad in bad_pages:
        if 0 < _s32(bad & NEG1) < last_page:
            _vwrite(k, swap_map + 2 * bad, struct.pack("<H", SWAP_MAP_BAD))
        elif out_of_range is None:
            out_of_range = bad
    nr_good = last_page - len(bad_pages) - 1
    if out_of_range is not None:
        _bad_swap(k, p, priority, header, f"-EINVAL (bad page {out_of_range} out of range)")
    if not nr_good:
        k.printk(KERN_WARNING + "Empty swap-file")
        _bad_swap(k, p, priority, header, "-EINVAL (empty swap-file)")
    _vwrite(k, swap_map, struct.pack("<H", SWAP_MAP_BAD))
    k.set_many(p, SI, max=maxpages, flags=SWP_WRITEOK, pages=nr_good & NEG1)
    for name in ("nr_swap_pages", "total_swap_pages"):
        k.w32(k.sym(name), (k.r32(k.sym(name)) + nr_good) & NEG1)
    k.printk(KERN_INFO + f"Adding Swap: {nr_good * 4}k swap-space (priority {prio})")
    # Insert into the priority list: before the first area of priority <= ours.
    sl = k.sym("swap_list")
    prev = -1
    guard = LoopGuard("sys_swapon", "swap_list", SWAP_LIST_LOCK, "swap_info[{}]")
    j = _s32(k.get(sl, "struct swap_list_t", "head"))
    while j >= 0:
        guard.visit(j)
        if _s32(k.get(base + j * ssize, SI, "prio")) <= prio:
            break
        prev = j
        j = _s32(k.get(base + j * ssize, SI, "next"))
    k.set(p, SI, "next", j & NEG1)
    if prev < 0:
        k.set_many(sl, "struct swap_list_t", head=i, next=i)
    else:
        k.set(base + prev * ssize, SI, "next", i)
    k.buddy.free_page_vaddr(header)
    return i


def _bad_swap(k: Kernel, p: int, priority: int | None, header: int | None, error: str) -> NoReturn:
    """``sys_swapon``'s ``bad_swap``/``bad_swap_2`` cleanup and ``out``, then the error.

    The slot is emptied but keeps ``prio``, ``lowest_bit`` and ``highest_bit``, as
    2.4.20 leaves them; ``nr_swapfiles`` stays counted.
    """
    swap_map = k.get(p, SI, "swap_map")
    k.set_many(p, SI, swap_device=0, swap_file=0, swap_vfsmnt=0, swap_map=0, flags=0)
    if priority is None:  # !(swap_flags & SWAP_FLAG_PREFER): ++least_priority
        least = k.sym("least_priority")
        k.w32(least, (k.r32(least) + 1) & NEG1)
    if swap_map:
        k.vmalloc.vfree(swap_map)
    if header is not None:
        k.buddy.free_page_vaddr(header)
    raise SimulationError(f"swapon: {error}")


@kernel_function("sys_swapoff", entry=("type=index",), returns="zero")
def swapoff(k: Kernel, index: int) -> None:
    """``sys_swapoff`` of an unused area: unlink it, clear the slot, ``vfree`` the map."""
    base = k.sym("swap_info")
    ssize = k.types.sizeof(SI)
    p = base + index * ssize
    if not k.get(p, SI, "flags") & SWP_USED:
        raise SimulationError(f"swapoff: swap_info[{index}] is not in use")
    sl = k.sym("swap_list")
    prev = -1
    guard = LoopGuard("sys_swapoff", "swap_list", SWAP_LIST_LOCK, "swap_info[{}]")
    j = _s32(k.get(sl, "struct swap_list_t", "head"))
    while j >= 0 and j != index:
        guard.visit(j)
        prev = j
        j = _s32(k.get(base + j * ssize, SI, "next"))
    nxt = k.get(p, SI, "next")
    if prev < 0:
        k.set(sl, "struct swap_list_t", "head", nxt)
    else:
        k.set(base + prev * ssize, SI, "next", nxt)
    k.set(sl, "struct swap_list_t", "next", k.get(sl, "struct swap_list_t", "head"))
    nr_good = _s32(k.get(p, SI, "pages"))
    for name in ("nr_swap_pages", "total_swap_pages"):
        k.w32(k.sym(name), (k.r32(k.sym(name)) - nr_good) & NEG1)
    swap_map = k.get(p, SI, "swap_map")
    k.set_many(p, SI, swap_vfsmnt=0, swap_file=0, swap_device=0, max=0, swap_map=0, flags=0)
    k.vmalloc.vfree(swap_map)
