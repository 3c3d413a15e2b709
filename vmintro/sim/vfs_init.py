"""What ``start_kernel`` allocates after the slab's general caches for the VFS and
the page cache (``vfs_caches_init``, ``buffer_init``, ``page_cache_init``), and
``free_initmem``, which ``init`` calls before it runs ``/sbin/init``.

Each hash table comes from ``__get_free_pages(GFP_ATOMIC, order)`` with the order
2.4.20 computes from ``num_physpages``, a smaller one when that fails, and each
is announced by its ``printk`` line. What these functions go on to do beyond
memory (``init_rootfs`` and ``init_mount_tree``, the bdev pseudo-filesystem's
``kern_mount``) is not modelled: their superblocks, inodes and dentries are not
in RAM.
"""

from __future__ import annotations

import numpy as np

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.sim.buddy import Buddy
from vmintro.sim.errors import SimulationError, kernel_function
from vmintro.sim.kernel import KERN_INFO, KernelMemory
from vmintro.sim.slab import Slab
from vmintro.types.flags import GFP, SLAB_HWCACHE_ALIGN, PG_reserved
from vmintro.types.model import Struct

__all__ = [
    "buffer_init",
    "vfs_static_data",
    "free_initmem",
    "page_cache_init",
    "vfs_caches_init",
]

GFP_ATOMIC = GFP["__GFP_HIGH"]
PAGE_SHIFT = 12
PATH_MAX = 4096  # include/linux/limits.h: names_cache's objects
NR_FILE = 8192  # include/linux/fs.h: files_stat.max_files at least
LIST_HEAD_SIZE = 8
DENTRY_AGE_LIMIT = 45  # seconds
POINTER_SIZE = 4
# sizeof of the 2.4.20 i386 structures whose caches vfs_caches_init creates and
# that the simulator does not lay out (uniprocessor: spinlocks of 0 bytes)
_OBJECT_SIZE = {
    "struct file": 104,
    "struct vfsmount": 60,
    "struct block_device": 52,
    "struct char_device": 36,
    "struct kiobuf": 52,
}


def vfs_static_data(k: KernelMemory) -> None:
    """The .data initialisers of the page cache and the VFS: ``LIST_HEAD(active_list)``
    and ``inactive_list`` (mm/page_alloc.c), ``swapper_space``'s lists
    (mm/swap_state.c), ``inode_in_use`` and ``inode_unused`` (fs/inode.c) and
    ``files_stat = {0, 0, NR_FILE}`` (fs/file_table.c), ``dentry_unused`` and
    ``dentry_stat = {0, 0, 45, 0,}`` (fs/dcache.c) and ``super_blocks`` (fs/super.c)."""
    heads = "active_list inactive_list inode_in_use inode_unused dentry_unused super_blocks"
    for head in heads.split():
        _init_list_heads(k, k.sym(head), 1)
    k.set(k.sym("dentry_stat"), "struct dentry_stat_t", "age_limit", DENTRY_AGE_LIMIT)
    space = k.sym("swapper_space")
    for lst in ("clean_pages", "dirty_pages", "locked_pages"):
        _init_list_heads(k, space + k.types.offsetof("struct address_space", lst), 1)
    k.set(k.sym("files_stat"), "struct files_stat_struct", "max_files", NR_FILE)


def _create(slab: Slab, name: str, struct: str) -> int:
    """``kmem_cache_create(name, sizeof(struct), 0, SLAB_HWCACHE_ALIGN, ...)``; the
    constructors of buffer_head, inode, bdev and cdev objects are not kept."""
    ctype = slab.k.types.by_name.get(struct)
    size = ctype.size if isinstance(ctype, Struct) and ctype.complete else _OBJECT_SIZE[struct]
    return slab.kmem_cache_create(name, size, SLAB_HWCACHE_ALIGN)


def _table_order(nbytes: int) -> int:
    """``for (order = 0; (PAGE_SIZE << order) < nbytes; order++);``"""
    order = 0
    while (PAGE_SIZE << order) < nbytes:
        order += 1
    return order


def _get_table(buddy: Buddy, order: int, lowest: int, what: str) -> tuple[int, int]:
    """``do { table = __get_free_pages(GFP_ATOMIC, order); } while (!table && --order
    >= lowest)``: the table's address and the order it has; a panic when even the
    smallest one fails."""
    while True:
        addr = buddy.get_free_pages(GFP_ATOMIC, order)
        if addr is not None:
            return addr, order
        order -= 1
        if order < lowest:
            raise SimulationError(f"Kernel panic: Failed to allocate {what}")


def _init_list_heads(k: KernelMemory, addr: int, count: int) -> None:
    """``INIT_LIST_HEAD`` on ``count`` consecutive ``struct list_head``s."""
    heads = addr + np.arange(count, dtype=np.uint64) * LIST_HEAD_SIZE
    k.write(addr, np.repeat(heads, 2).astype("<u4").tobytes())


def _hash_printk(k: KernelMemory, level: str, what: str, entries: int, order: int) -> None:
    k.printk(
        f"{level}{what} hash table entries: {entries} (order: {order}, {PAGE_SIZE << order} bytes)"
    )


def _shift_of(n: int) -> int:
    """``tmp = n; shift = 0; while ((tmp >>= 1) != 0) shift++;``"""
    return n.bit_length() - 1


def _list_hash_table(
    k: KernelMemory, buddy: Buddy, mempages: int, shift: int, prefix: str, table_sym: str
) -> tuple[int, int, int]:
    """The hash table of ``dcache_init`` and ``inode_init``: one ``list_head`` per
    ``1 << shift`` bytes of RAM, its ``PREFIX_hash_mask`` and ``PREFIX_hash_shift``
    set and every head empty. Returns (address, entries, order)."""
    nbytes = (mempages >> (shift - PAGE_SHIFT)) * LIST_HEAD_SIZE
    table, order = _get_table(buddy, _table_order(nbytes), 0, table_sym)
    nr_hash = (PAGE_SIZE << order) // LIST_HEAD_SIZE
    k.w32(k.sym(f"{prefix}_hash_mask"), nr_hash - 1)
    k.w32(k.sym(f"{prefix}_hash_shift"), _shift_of(nr_hash))
    k.w32(k.sym(table_sym), table)
    return table, nr_hash, order


@kernel_function("dcache_init")
def dcache_init(k: KernelMemory, buddy: Buddy, slab: Slab, mempages: int) -> None:
    """fs/dcache.c ``dcache_init``: ``dentry_cache``, then ``dentry_hashtable`` of
    one ``list_head`` per 8 KiB of RAM."""
    k.w32(k.sym("dentry_cache"), _create(slab, "dentry_cache", "struct dentry"))
    table, nr_hash, order = _list_hash_table(k, buddy, mempages, 13, "d", "dentry_hashtable")
    _hash_printk(k, KERN_INFO, "Dentry cache", nr_hash, order)
    _init_list_heads(k, table, nr_hash)


@kernel_function("inode_init")
def inode_init(k: KernelMemory, buddy: Buddy, slab: Slab, mempages: int) -> None:
    """fs/inode.c ``inode_init``: ``inode_hashtable`` (one ``list_head`` per 16 KiB
    of RAM), then ``inode_cache``."""
    table, nr_hash, order = _list_hash_table(k, buddy, mempages, 14, "i", "inode_hashtable")
    _hash_printk(k, KERN_INFO, "Inode cache", nr_hash, order)
    _init_list_heads(k, table, nr_hash)
    k.w32(k.sym("inode_cachep"), _create(slab, "inode_cache", "struct inode"))


def files_init(k: KernelMemory, mempages: int) -> None:
    """fs/file_table.c ``files_init``: at most 10% of memory for files, ~1K each."""
    n = mempages * (PAGE_SIZE // 1024) // 10
    k.set(k.sym("files_stat"), "struct files_stat_struct", "max_files", max(n, NR_FILE))


@kernel_function("mnt_init")
def mnt_init(k: KernelMemory, buddy: Buddy, slab: Slab, mempages: int) -> None:
    """fs/namespace.c ``mnt_init``: ``mnt_cache`` and ``mount_hashtable`` (one
    ``list_head`` per 64 KiB of RAM, a power of two of them)."""
    k.w32(k.sym("mnt_cache"), _create(slab, "mnt_cache", "struct vfsmount"))
    nbytes = (mempages >> (16 - PAGE_SHIFT)) * LIST_HEAD_SIZE
    table, order = _get_table(buddy, _table_order(nbytes), 0, "mount_hashtable")
    k.w32(k.sym("mount_hashtable"), table)
    hash_bits = _shift_of((PAGE_SIZE << order) // LIST_HEAD_SIZE)
    nr_hash = 1 << hash_bits
    k.w32(k.sym("hash_bits"), hash_bits)
    k.w32(k.sym("hash_mask"), nr_hash - 1)
    _hash_printk(k, "", "Mount-cache", nr_hash, order)
    _init_list_heads(k, table, nr_hash)


@kernel_function("vfs_caches_init")
def vfs_caches_init(k: KernelMemory, buddy: Buddy, slab: Slab, mempages: int) -> None:
    """fs/dcache.c ``vfs_caches_init`` (no CONFIG_QUOTA, so no dquot cache)."""
    k.w32(k.sym("bh_cachep"), _create(slab, "buffer_head", "struct buffer_head"))
    names = slab.kmem_cache_create("names_cache", PATH_MAX, SLAB_HWCACHE_ALIGN)
    k.w32(k.sym("names_cachep"), names)
    k.w32(k.sym("filp_cachep"), _create(slab, "filp", "struct file"))
    dcache_init(k, buddy, slab, mempages)
    inode_init(k, buddy, slab, mempages)
    files_init(k, mempages)
    mnt_init(k, buddy, slab, mempages)
    hash_size = k.types.variables["bdev_hashtable"].size // LIST_HEAD_SIZE
    _init_list_heads(k, k.sym("bdev_hashtable"), hash_size)  # bdev_cache_init
    k.w32(k.sym("bdev_cachep"), _create(slab, "bdev_cache", "struct block_device"))
    _init_list_heads(k, k.sym("cdev_hashtable"), hash_size)  # cdev_cache_init
    k.w32(k.sym("cdev_cachep"), _create(slab, "cdev_cache", "struct char_device"))
    k.w32(k.sym("kiobuf_cachep"), _create(slab, "kiobuf", "struct kiobuf"))  # iobuf_cache_init


@kernel_function("buffer_init")
def buffer_init(k: KernelMemory, buddy: Buddy, mempages: int) -> None:
    """fs/buffer.c ``buffer_init``: the buffer cache's ``hash_table``. Its order is
    the log2 of 4 bytes per 64 MiB of RAM, compared with ``1 << order`` (pages where
    bytes were meant): 64 MiB gets an order-2 table of 4096 entries."""
    nbytes = (mempages >> 14) * POINTER_SIZE
    order = 0
    while (1 << order) < nbytes:
        order += 1
    table, order = _get_table(buddy, order, 1, "hash_table")
    nr_hash = (PAGE_SIZE << order) // POINTER_SIZE
    k.w32(k.sym("bh_hash_mask"), nr_hash - 1)
    k.w32(k.sym("bh_hash_shift"), _shift_of(nr_hash))
    k.w32(k.sym("hash_table"), table)
    k.printk(
        f"Buffer-cache hash table entries: {nr_hash} (order: {order}, {PAGE_SIZE << order} bytes)"
    )
    k.zero(table, nr_hash * POINTER_SIZE)


@kernel_function("page_cache_init")
def page_cache_init(k: KernelMemory, buddy: Buddy, mempages: int) -> None:
    """mm/filemap.c ``page_cache_init``: ``page_hash_table``, one ``struct page *``
    per page of RAM (``page_hash_bits`` its log2)."""
    table, order = _get_table(buddy, _table_order(mempages * POINTER_SIZE), 1, "page_hash_table")
    bits = _shift_of((PAGE_SIZE << order) // POINTER_SIZE)
    k.w32(k.sym("page_hash_bits"), bits)
    k.w32(k.sym("page_hash_table"), table)
    k.printk(
        f"Page-cache hash table entries: {1 << bits} (order: {order}, {PAGE_SIZE << order} bytes)"
    )
    k.zero(table, (1 << bits) * POINTER_SIZE)


@kernel_function("free_initmem")
def free_initmem(k: KernelMemory, buddy: Buddy) -> None:
    """arch/i386/mm/init.c ``free_initmem``: the pages of ``.text.init`` and
    ``.data.init`` to the page allocator, one by one, counted in ``totalram_pages``."""
    begin, end = k.sym("__init_begin"), k.sym("__init_end")
    o_flags, o_count = buddy.o_flags, buddy.o_count
    total = k.sym("totalram_pages")
    for addr in range(begin, end, PAGE_SIZE):
        page = k.page_addr(k.pa(addr) // PAGE_SIZE)
        k.w32(page + o_flags, k.r32(page + o_flags) & ~PG_reserved)  # ClearPageReserved
        k.w32(page + o_count, 1)  # set_page_count(page, 1)
        buddy.free_page_vaddr(addr)
        k.w32(total, k.r32(total) + 1)
    k.printk(KERN_INFO + f"Freeing unused kernel memory: {(end - begin) >> 10}k freed")
