"""The buffer heads of the page cache's pages (fs/buffer.c): what
``block_read_full_page`` leaves on a page it read, ``unused_list``, and
``try_to_free_buffers``, which gives them back when reclaim takes the page.

The root filesystem (:mod:`vmintro.sim.vfs`) has 4 KiB blocks, so each cached
page has one buffer head, ``page->buffers`` a ring of one: ``create_empty_buffers``
made it (``page_cache_get``: the page's count is 2), ``ext2_get_block`` mapped it
(``b_blocknr``, ``BH_Mapped``), ``submit_bh`` set ``BH_Req`` and ``BH_Launder``,
``b_rdev`` and ``b_rsector``, and ``end_buffer_io_async`` left it ``BH_Uptodate``
and unlocked. These buffers are in no hash chain and on no LRU list: only
``getblk``'s buffers (the block device's own, for metadata) are, and the
simulation has none. ``b_end_io`` is NULL: the image has no kernel text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.sim.batch import write_objects
from vmintro.sim.errors import KernelBug, LoopGuard, SimulationError, kernel_function
from vmintro.sim.kernel import KernelMemory
from vmintro.types.flags import GFP

if TYPE_CHECKING:
    from vmintro.sim.slab import Slab

__all__ = [
    "BLOCK_BITS",
    "BLOCK_SIZE",
    "MAX_UNUSED_BUFFERS",
    "ROOT_DEV",
    "alloc_buffer_heads",
    "try_to_free_buffers",
    "write_buffers",
    "write_unused_buffers",
]

ROOT_DEV = 0x0301  # MKDEV(IDE0_MAJOR, 1): /dev/hda1, the root filesystem's device
B_FREE = 0xFFFF  # include/linux/kdev_t.h
BLOCK_BITS = 12  # the root filesystem's 4 KiB blocks: one buffer head per page
BLOCK_SIZE = 1 << BLOCK_BITS
BH_Uptodate, BH_Dirty, BH_Lock, BH_Req, BH_Mapped, BH_Launder = 0, 1, 2, 3, 4, 8
# what submit_bh and end_buffer_io_async leave
BH_READ_DONE = (1 << BH_Uptodate) | (1 << BH_Req) | (1 << BH_Mapped) | (1 << BH_Launder)
BUFFER_BUSY_BITS = (1 << BH_Dirty) | (1 << BH_Lock)
NR_RESERVED = 10 * (PAGE_SIZE // 512)  # 10 * MAX_BUF_PER_PAGE
MAX_UNUSED_BUFFERS = NR_RESERVED + 20
GFP_NOFS = GFP["__GFP_HIGH"] | GFP["__GFP_WAIT"] | GFP["__GFP_IO"] | GFP["__GFP_HIGHIO"]
MASK32 = 0xFFFFFFFF
BH = "struct buffer_head"


class Frees(Protocol):
    """What ``__put_unused_buffer_head`` asks of the slab allocator."""

    def kmem_cache_free(self, cachep: int, objp: int) -> None: ...


def alloc_buffer_heads(k: KernelMemory, slab: Slab, count: int) -> np.ndarray:
    """``get_unused_buffer_head``'s ``kmem_cache_alloc(bh_cachep, SLAB_NOFS)``, ``count``
    times."""
    bhs = slab.kmem_cache_alloc_calls(np.full(count, k.r32(k.sym("bh_cachep"))), GFP_NOFS)
    if bhs is None:
        raise SimulationError("create_buffers: no memory for the buffer heads")
    return bhs


@kernel_function("block_read_full_page")
def write_buffers(
    k: KernelMemory,
    pages: np.ndarray,
    pfn: np.ndarray,
    blocknr: np.ndarray,
    bhs: np.ndarray,
) -> None:
    """The buffer head ``bhs[i]`` of cached page ``pfn[i]`` as ``create_empty_buffers``,
    ``ext2_get_block``, ``submit_bh`` and ``end_buffer_io_async`` leave it; the
    page's ``buffers`` and its second reference in ``pages`` (mem_map's words)."""
    t = k.types
    words = t.sizeof(BH) // 4
    raw = np.zeros((len(bhs), words), dtype="<u4")

    def col(path: str) -> int:
        return t.offsetof(BH, path) // 4

    raw[:, col("b_blocknr")] = blocknr
    raw[:, col("b_size")] = BLOCK_SIZE  # b_list BUF_CLEAN (0) in the high half
    raw[:, col("b_dev")] = ROOT_DEV
    raw[:, col("b_rdev")] = ROOT_DEV
    raw[:, col("b_state")] = BH_READ_DONE
    raw[:, col("b_this_page")] = bhs  # a ring of one
    raw[:, col("b_data")] = _page_address(k, pfn)
    raw[:, col("b_page")] = k.mem_map + pfn * k.page_size
    raw[:, col("b_rsector")] = blocknr * (BLOCK_SIZE >> 9)
    wait = bhs + t.offsetof(BH, "b_wait.task_list")
    raw[:, col("b_wait.task_list")] = wait  # init_buffer_head's init_waitqueue_head
    raw[:, col("b_wait.task_list") + 1] = wait
    write_objects(k, bhs, raw.view(np.uint8))
    p = t.offsetof("struct page", "buffers") // 4
    c = t.offsetof("struct page", "count") // 4
    pages[pfn, p] = bhs
    pages[pfn, c] += 1  # create_empty_buffers: page_cache_get


def write_unused_buffers(k: KernelMemory, bhs: np.ndarray, pfn: np.ndarray) -> None:
    """``unused_list``, ``bhs`` from its head: the buffer heads
    ``__put_unused_buffer_head`` kept when pages ``pfn`` gave theirs back
    (``try_to_free_buffers``), state and page as they were, ``b_dev`` B_FREE,
    ``b_blocknr`` -1, ``b_this_page`` NULL, chained by ``b_next_free``."""
    t = k.types
    raw = np.zeros((len(bhs), t.sizeof(BH) // 4), dtype="<u4")

    def col(path: str) -> int:
        return t.offsetof(BH, path) // 4

    raw[:, col("b_blocknr")] = MASK32
    raw[:, col("b_size")] = BLOCK_SIZE
    raw[:, col("b_dev")] = B_FREE
    raw[:, col("b_rdev")] = ROOT_DEV
    raw[:, col("b_state")] = BH_READ_DONE
    raw[:, col("b_data")] = _page_address(k, pfn)
    raw[:, col("b_page")] = k.mem_map + pfn * k.page_size
    raw[:, col("b_next_free")] = np.append(bhs[1:], 0)
    wait = bhs + t.offsetof(BH, "b_wait.task_list")
    raw[:, col("b_wait.task_list")] = wait
    raw[:, col("b_wait.task_list") + 1] = wait
    write_objects(k, bhs, raw.view(np.uint8))
    k.w32(k.sym("unused_list"), int(bhs[0]) if len(bhs) else 0)
    k.w32(k.sym("nr_unused_buffer_heads"), len(bhs))


def _page_address(k: KernelMemory, pfn: np.ndarray) -> np.ndarray:
    """``page_address``: lowmem's direct map, NULL for a highmem page not kmapped."""
    low = pfn < k.config.max_low_pfn
    return np.where(low, PAGE_OFFSET + pfn * PAGE_SIZE, 0)


@kernel_function("try_to_free_buffers")
def try_to_free_buffers(k: KernelMemory, slab: Frees | None, page: int) -> bool:
    """``try_to_free_buffers``: when no buffer of the page is busy (a user, dirty or
    locked), each leaves its queues and goes to ``__put_unused_buffer_head``
    (onto ``unused_list`` below ``MAX_UNUSED_BUFFERS``, else back to ``bh_cachep``),
    ``page->buffers`` is NULL and the page loses the buffers' reference. False
    when a buffer is busy (2.4.20 would start writing it back: not modelled)."""
    if slab is None:
        raise SimulationError("try_to_free_buffers: no slab allocator to give buffer heads to")
    t = k.types
    o_buffers = t.offsetof("struct page", "buffers")
    o_count = t.offsetof("struct page", "count")
    get = k.get
    head = k.r32(page + o_buffers)
    ring, bh = [], head
    guard = LoopGuard("try_to_free_buffers", "b_this_page", "lru_list_lock held")
    while True:
        guard.visit(bh)
        if get(bh, BH, "b_count.counter") or get(bh, BH, "b_state") & BUFFER_BUSY_BITS:
            return False
        ring.append(bh)
        bh = get(bh, BH, "b_this_page")
        if bh == head:
            break
    if get(head, BH, "b_pprev"):  # a hashed buffer's page counts as buffermem
        mem = k.sym("buffermem_pages")
        k.w32(mem, (k.r32(mem) - 1) & MASK32)
    unused, nr_unused = k.sym("unused_list"), k.sym("nr_unused_buffer_heads")
    for p in ring:
        if get(p, BH, "b_dev") == B_FREE:
            raise KernelBug("try_to_free_buffers", "p->b_dev == B_FREE")
        if get(p, BH, "b_pprev") or get(p, BH, "b_next_free") or get(p, BH, "b_inode"):
            raise SimulationError(
                "try_to_free_buffers: a hashed, listed or inode buffer: the buffer cache's "
                "own queues are not modelled"
            )
        count = k.r32(nr_unused)
        if count >= MAX_UNUSED_BUFFERS:  # __put_unused_buffer_head
            slab.kmem_cache_free(k.r32(k.sym("bh_cachep")), p)
            continue
        k.set_many(p, BH, b_dev=B_FREE, b_blocknr=MASK32, b_this_page=0)
        k.set(p, BH, "b_next_free", k.r32(unused))
        k.w32(unused, p)
        k.w32(nr_unused, count + 1)
    k.w32(page + o_buffers, 0)
    k.w32(page + o_count, k.r32(page + o_count) - 1)  # page_cache_release
    return True
