"""A machine that has run a while: files read into the page cache, some evicted
and deleted again, so that free memory is scattered over many small blocks of
the buddy allocator, as on a 2.4.20 machine after some uptime.

The workload is deterministic, drawn from the scenario's seed. A few readers
read files page by page, their reads interleaved, each page added as
``add_to_page_cache`` adds it (``mm/filemap.c``): ``page->mapping`` the
``i_data`` of the file's inode (on the ``inode_cache`` slab), ``page->index``,
the chain of ``page_hash_table`` it hashes to, the head of the mapping's
``clean_pages``, ``lru_cache_add`` onto ``inactive_list``, and
``mark_page_accessed`` after the read (``PG_referenced``); a file read a second
time moves to ``active_list``. Reading fills memory down to the zones'
``pages_low`` and goes on a while: in rounds, ``shrink_cache`` evicts the
oldest inactive pages (``__remove_inode_page``, ``__lru_cache_del``,
``page_cache_release``) as kswapd would, and reading takes the room again.
Then files are deleted (``truncate_inode_pages``, whose pages lose
``PG_uptodate``, and the inode freed) until the cache holds the asked-for
share of RAM.

The pages come and go in batches through :class:`vmintro.sim.freelists.FreeAreas`
and are written to RAM at once; the files' dentries and inodes on the root
ext2 filesystem, and the buffer heads ext2's ``readpage`` attached to each
cached page, go through the slab allocator afterwards, in the order the files
were opened (:mod:`vmintro.sim.vfs`). Not modelled: the ``next_hash`` a page
leaving the cache keeps (0 here), and anonymous memory.
"""

from __future__ import annotations

import hashlib
import random
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from vmintro.sim.batch import links as _links
from vmintro.sim.buddy import Buddy, read_mem_map, write_mem_map
from vmintro.sim.buffer import (
    MAX_UNUSED_BUFFERS,
    alloc_buffer_heads,
    write_buffers,
    write_unused_buffers,
)
from vmintro.sim.errors import kernel_function
from vmintro.sim.freelists import FreeAreas
from vmintro.sim.kernel import KernelMemory
from vmintro.sim.slab import Slab
from vmintro.sim.vfs import Lookups, block_numbers
from vmintro.types.flags import (
    GFP_HIGHMEM,
    GFP_USER,
    MAX_ORDER,
    PAGE_FLAGS,
    ZONE_NAMES,
)

__all__ = [
    "DEFAULT_PAGE_CACHE",
    "MAX_PAGE_CACHE",
    "PageCacheRun",
    "boot_truth",
    "run_page_cache_workload",
]

# The share of RAM the page cache holds after boot unless a scenario says otherwise.
DEFAULT_PAGE_CACHE = 0.3
MAX_PAGE_CACHE = 0.9
GFP_HIGHUSER = GFP_USER | GFP_HIGHMEM  # inode->i_data.gfp_mask of a regular file
READERS = 4  # files being read at the same time
REREAD = 0.25  # the share of files read a second time (mark_page_accessed activates)
MAX_FILE_PAGES = 4096  # 16 MiB
ROUNDS = 4  # of shrink_cache and reading again, after memory first filled up
I_INO_BASE = 12  # the first inode numbers are the filesystem's own
_SUB = 1 << 22  # moments: read r at r * _SUB, the frees after it at r * _SUB + 1, + 2, ...

_BIT = {name: 1 << bit for name, bit in PAGE_FLAGS.items()}
# what __add_to_page_cache clears, and what the cache's own lists set
_CACHE_BITS = sum(
    _BIT[n]
    for n in (
        "PG_uptodate PG_error PG_dirty PG_referenced PG_arch_1 PG_checked PG_locked "
        "PG_lru PG_active"
    ).split()
)


@dataclass
class PageCacheRun:
    """What the workload did and left: for the truth and the tests."""

    fraction: float
    files_read: int = 0
    files_deleted: int = 0
    pages_read: int = 0
    pages_evicted: int = 0
    pages_truncated: int = 0
    cached: int = 0
    active: int = 0
    inactive: int = 0
    inodes: int = 0
    directories: int = 0  # looked up on the way to the files
    buffer_heads: int = 0  # on the cached pages
    unused_buffer_heads: int = 0  # on unused_list

    def truth(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Files:
    """The files of the workload, by number in the order they were opened."""

    npages: np.ndarray  # pages each has
    size: np.ndarray  # i_size
    first: np.ndarray  # the read that opened it
    activated: np.ndarray  # the read after which it was read again (-1: never)
    complete: np.ndarray  # read to its end


class _Workload:
    def __init__(self, k: KernelMemory, buddy: Buddy, fraction: float, seed: int) -> None:
        self.k = k
        self.rng = random.Random(f"{seed}/page-cache")
        digest = hashlib.sha256(f"{seed}/page-cache/readers".encode()).digest()
        self.stream = np.random.PCG64(int.from_bytes(digest[:16], "little"))
        self.areas = FreeAreas(k, buddy)
        self.zonelist = self.areas.zonelist(GFP_HIGHUSER)
        self.run = PageCacheRun(fraction)
        self.target = int(fraction * k.r32(k.sym("totalram_pages")))

    def plan(self, reads: int) -> tuple[np.ndarray, np.ndarray, _Files]:
        """Which file and page each of ``reads`` reads is: READERS readers, each
        taking the next read at random and going through its files in turn."""
        rng = self.rng
        reader = (self.stream.random_raw(reads) % READERS).astype(np.int64)
        file_of = np.zeros(reads, dtype=np.int64)
        index = np.zeros(reads, dtype=np.int64)
        npages: list[int] = []
        first: list[int] = []
        complete: list[bool] = []
        for r in range(READERS):
            mine = np.flatnonzero(reader == r)
            sizes: list[int] = []
            covered = 0
            while covered < len(mine):
                sizes.append(min(MAX_FILE_PAGES, max(1, int(rng.lognormvariate(2.5, 1.3)))))
                covered += sizes[-1]
            ids = np.repeat(np.arange(len(npages), len(npages) + len(sizes)), sizes)[: len(mine)]
            ends = np.cumsum(sizes)
            starts = ends - np.array(sizes)
            file_of[mine] = ids
            index[mine] = np.arange(len(mine)) - starts[ids - len(npages)]
            first += mine[starts[starts < len(mine)]].tolist()
            complete += (ends <= len(mine)).tolist()
            npages += sizes
        # number the files in the order they were opened (inode numbers follow)
        by_open = np.argsort(np.array(first, dtype=np.int64), kind="stable")
        renumber = np.empty(len(by_open), dtype=np.int64)
        renumber[by_open] = np.arange(len(by_open))
        file_of = renumber[file_of]
        n = np.array(npages, dtype=np.int64)[by_open]
        by_file = np.argsort(file_of, kind="stable")
        ends_at = np.flatnonzero(np.diff(file_of[by_file])).tolist() + [reads - 1]
        last = by_file[ends_at]  # each file's last read (every file has one)
        done = np.array(complete, dtype=bool)[by_open]
        again = np.array([rng.random() < REREAD for _ in range(len(n))], dtype=bool)
        sizes_b = np.array([(p - 1) * 4096 + rng.randint(1, 4096) for p in n.tolist()])
        files = _Files(
            npages=n,
            size=sizes_b.astype(np.int64),
            first=np.array(first, dtype=np.int64)[by_open],
            activated=np.where(done & again, last, -1),
            complete=done,
        )
        return file_of, index, files

    def allocate(self, count: int, now: int) -> np.ndarray:
        """``count`` page-cache pages in a row, each from the first zone of the
        zonelist above its watermark."""
        got = []
        for z, room in zip(self.zonelist, FreeAreas.above_low(self.zonelist), strict=True):
            take = min(room, count)
            if take:
                got.append(z.alloc(take, now))
                count -= take
        return np.concatenate(got) if got else np.zeros(0, dtype=np.int64)

    def release(self, pfns: np.ndarray, moment: int) -> None:
        when = moment + 1 + np.arange(len(pfns), dtype=np.int64)
        for z, mine in self.areas.zone_of(pfns):
            if mine.any():
                z.release(pfns[mine], when[mine])

    def work(self) -> _Result:
        """Fill, ROUNDS of shrink_cache and reading again, then delete files."""
        fill = sum(FreeAreas.above_low(self.zonelist))
        again = max(1, self.target // (4 * ROUNDS))
        total = fill + ROUNDS * again
        file_of, index, files = self.plan(total)
        pfn = np.full(total, -1, dtype=np.int64)
        alive = np.zeros(total, dtype=bool)
        truncated = np.zeros(total, dtype=bool)
        done = 0
        for round_ in range(ROUNDS + 1):
            if round_:  # shrink_cache: the inactive list's tail, the oldest reads
                activated = files.activated[file_of[:done]]
                inactive = alive[:done] & ~((activated >= 0) & (activated < done))
                victims = np.flatnonzero(inactive)[:again]
                alive[victims] = False
                self.release(pfn[victims], done * _SUB)
                self.run.pages_evicted += len(victims)
            want = fill if not round_ else min(again, total - done)
            got = self.allocate(want, done * _SUB)
            pfn[done : done + len(got)] = got
            alive[done : done + len(got)] = True
            done += len(got)
        # unlink: files read to their end, nobody has them open; until the target
        cached = np.bincount(file_of[:done][alive[:done]], minlength=len(files.npages))
        order = np.flatnonzero(files.complete & (cached > 0)).tolist()
        self.rng.shuffle(order)
        excess = int(alive.sum()) - self.target
        deleted: list[int] = []
        for f in order:
            if excess <= 0:
                break
            deleted.append(f)
            excess -= int(cached[f])
        if deleted:
            rank = np.full(len(files.npages), -1, dtype=np.int64)
            rank[deleted] = np.arange(len(deleted))
            mine = np.flatnonzero(alive[:done] & (rank[file_of[:done]] >= 0))
            # truncate_inode_pages: file by file, each from the tail of clean_pages
            mine = mine[np.lexsort((mine, rank[file_of[mine]]))]
            alive[mine] = False
            truncated[mine] = True
            self.release(pfn[mine], done * _SUB)
            self.run.pages_truncated += len(mine)
        files.activated[files.activated >= done] = -1  # never reached
        self.run.pages_read = done
        self.run.files_read = int(np.count_nonzero(files.first < done))
        self.run.files_deleted = len(deleted)
        return _Result(
            pfn[:done], alive[:done], truncated[:done], file_of[:done], index[:done], files, deleted
        )


@dataclass
class _Result:
    pfn: np.ndarray  # per read: the page it got
    alive: np.ndarray  # still in the cache
    truncated: np.ndarray  # left it by truncate_inode_pages
    file_of: np.ndarray
    index: np.ndarray
    files: _Files
    deleted: list[int]


@kernel_function("page_cache_workload")
def run_page_cache_workload(
    k: KernelMemory, buddy: Buddy, slab: Slab, fraction: float, seed: int
) -> PageCacheRun:
    """Read, evict and delete files until the page cache holds ``fraction`` of RAM
    (as far as memory above the zones' ``pages_low`` allows); ``fraction`` 0 leaves
    the kernel as boot left it."""
    w = _Workload(k, buddy, fraction, seed)
    if not w.target:
        return w.run
    res = w.work()
    _write(w, res, slab)
    run = w.run
    live = res.alive
    act = res.files.activated[res.file_of]
    run.cached = int(live.sum())
    run.active = int((live & (act >= 0)).sum())
    run.inactive = run.cached - run.active
    run.inodes = run.files_read - run.files_deleted
    return run


# -- into RAM -----------------------------------------------------------------------------


def _columns(k: KernelMemory) -> dict[str, int]:
    """The 32-bit word of each struct page member."""
    members = ("list", "lru", "mapping", "index", "next_hash", "pprev_hash", "count", "flags")
    return {m: k.types.offsetof("struct page", m) // 4 for m in members}


def _write(w: _Workload, res: _Result, slab: Slab) -> None:
    k = w.k
    col = _columns(k)
    pages = read_mem_map(k)
    # the last read of each page decides what it holds
    order = np.argsort(res.pfn, kind="stable")
    last_of = np.ones(len(order), dtype=bool)
    last_of[:-1] = res.pfn[order][1:] != res.pfn[order][:-1]
    latest = order[last_of]  # reads, one per page, the last to get it
    gone = latest[~res.alive[latest]]
    w.areas.write(pages, res.pfn[gone])
    rows = res.pfn[gone]
    # __free_pages_ok clears PG_referenced and PG_dirty; the lru and hash links are
    # NULL, the mapping gone, the index stale; truncation also cleared PG_uptodate
    flags = pages[rows, col["flags"]] & ~np.uint32(_CACHE_BITS)
    keep = np.where(res.truncated[gone], 0, _BIT["PG_uptodate"]).astype(np.uint32)
    pages[rows, col["flags"]] = flags | keep
    pages[rows, col["index"]] = res.index[gone]
    for m in ("mapping", "pprev_hash", "count", "next_hash"):
        pages[rows, col[m]] = 0
    pages[rows, col["lru"]] = 0
    pages[rows, col["lru"] + 1] = 0
    write_mem_map(k, pages)
    inodes = _replay_inodes(w, res, slab)  # the slab may take pages: after the lists
    live = np.flatnonzero(res.alive)  # reads, oldest first
    freed = w.run.pages_evicted + w.run.pages_truncated
    spare = min(MAX_UNUSED_BUFFERS, freed)
    bhs = alloc_buffer_heads(k, slab, spare + len(live))
    pages = read_mem_map(k)
    _cache_pages(w, res, inodes, pages, col)
    blocknr = block_numbers(res.files.npages, res.file_of[live], res.index[live])
    write_buffers(k, pages, res.pfn[live], blocknr, bhs[spare:])
    w.run.buffer_heads, w.run.unused_buffer_heads = len(live), spare
    write_mem_map(k, pages)
    # unused_list: the first buffer heads evicted (oldest reads first), then truncated,
    # pages gave back; the list's head is the last of them
    order = np.concatenate(
        (np.flatnonzero(~res.alive & ~res.truncated), np.flatnonzero(res.truncated))
    )
    write_unused_buffers(k, bhs[:spare], res.pfn[order[:spare]][::-1])


def _replay_inodes(w: _Workload, res: _Result, slab: Slab) -> np.ndarray:
    """The path walk and ``get_new_inode`` for each file still there, in the order
    they were opened (a deleted file's dentry and inode, allocated and freed again,
    are left out: the slab would only have taken and given back objects), each
    dentry unused since the file's last read. The inodes' addresses, by file."""
    count = w.run.files_read
    inodes = np.zeros(count, dtype=np.int64)
    dead = np.zeros(count, dtype=bool)
    dead[res.deleted] = True
    last_read = np.zeros(count, dtype=np.int64)
    np.maximum.at(last_read, res.file_of, np.arange(len(res.file_of)))
    lookups = Lookups.of_root(w.k, slab)
    live = np.flatnonzero(~dead)
    for f in live.tolist():
        lookups.lookup(I_INO_BASE + f, int(res.files.size[f]), int(last_read[f]))
    files = [i for i, node in enumerate(lookups.nodes) if not node.directory]
    w.run.directories = len(lookups.nodes) - 1 - len(files)
    lookups.write()
    inodes[live] = [lookups.nodes[i].inode for i in files]
    return inodes


def _cache_pages(
    w: _Workload, res: _Result, inodes: np.ndarray, pages: np.ndarray, col: dict[str, int]
) -> None:
    """The cached pages' struct page, their mappings' ``clean_pages`` and
    ``nrpages``, the hash chains, the LRU lists and the counters."""
    k = w.k
    t = k.types
    psize, mem_map = k.page_size, k.mem_map
    o_data = t.offsetof("struct inode", "i_data")
    live = np.flatnonzero(res.alive)  # reads, oldest first
    pfn = res.pfn[live]
    fid = res.file_of[live]
    act = res.files.activated[fid]
    active = act >= 0
    mapping = inodes[fid] + o_data
    flags = pages[pfn, col["flags"]] & ~np.uint32(_CACHE_BITS)
    flags |= np.uint32(_BIT["PG_uptodate"] | _BIT["PG_lru"])
    flags |= np.where(active, _BIT["PG_active"], _BIT["PG_referenced"]).astype(np.uint32)
    pages[pfn, col["flags"]] = flags
    pages[pfn, col["count"]] = 1  # the page cache's reference
    pages[pfn, col["mapping"]] = mapping
    pages[pfn, col["index"]] = res.index[live]
    page = mem_map + pfn * psize

    def lists(column: int, heads: np.ndarray, group: np.ndarray, key: np.ndarray) -> np.ndarray:
        """Thread ``page->column`` lists, each group newest (largest ``key``) first."""
        order = np.lexsort((-key, group))
        nodes = page[order] + column * 4
        nxt, prev, first, last = _links(heads, group[order], nodes)
        pages[pfn[order], column] = nxt
        pages[pfn[order], column + 1] = prev
        return np.stack((first, last), axis=1)

    # each live file's clean_pages, newest first (add_page_to_inode_queue: list_add)
    files = np.unique(fid)
    slot = np.searchsorted(files, fid)
    ends = lists(col["list"], inodes[files] + o_data, slot, live)
    nr = np.bincount(slot, minlength=len(files))
    for f, (first, last), n in zip(files.tolist(), ends.tolist(), nr.tolist(), strict=True):
        m = int(inodes[f]) + o_data
        k.write(m, struct.pack("<II", first, last))
        k.set(m, "struct address_space", "nrpages", n)
    # inactive_list by lru_cache_add, active_list by activate_page (each file's pages
    # in index order), the newest at the head
    heads = np.array([k.sym("inactive_list"), k.sym("active_list")], dtype=np.int64)
    key = np.where(active, act * _SUB + res.index[live], live)
    for g, (first, last) in enumerate(lists(col["lru"], heads, active.astype(np.int64), key)):
        k.write(int(heads[g]), struct.pack("<II", int(first), int(last)))
    # page_hash_table: _page_hashfn(mapping, index), each chain newest first
    bits = k.r32(k.sym("page_hash_bits"))
    table = k.r32(k.sym("page_hash_table"))
    isize = t.sizeof("struct inode")
    x = mapping // (isize & ~(isize - 1)) + res.index[live]
    bucket = (x + (x >> bits)) & ((1 << bits) - 1)
    order = np.lexsort((-live, bucket))
    b, pg = bucket[order], page[order]
    same = np.zeros(len(b), dtype=bool)
    same[:-1] = b[1:] == b[:-1]
    nxt = np.where(same, np.roll(pg, -1), 0)
    starts = np.ones(len(b), dtype=bool)
    starts[1:] = ~same[:-1]
    pprev = np.where(starts, table + 4 * b, np.roll(pg, 1) + col["next_hash"] * 4)
    pages[pfn[order], col["next_hash"]] = nxt
    pages[pfn[order], col["pprev_hash"]] = pprev
    slots = np.zeros(1 << bits, dtype="<u4")
    slots[b[starts]] = pg[starts]
    k.write(table, slots.tobytes())
    for name, value in (
        ("page_cache_size", len(live)),
        ("nr_active_pages", int(active.sum())),
        ("nr_inactive_pages", int((~active).sum())),
    ):
        k.w32(k.sym(name), value)


def boot_truth(k: KernelMemory, buddy: Buddy, cache: PageCacheRun) -> dict[str, Any]:
    """What boot left that a reader must agree with: the VFS and page-cache hash
    tables (address and first page frame), the root filesystem's super_block and
    root dentry, the page cache's workload and each
    zone's free blocks per order (from the buddy bitmaps) and free pages."""
    tables = {}
    for name in (
        "dentry_hashtable",
        "inode_hashtable",
        "mount_hashtable",
        "hash_table",
        "page_hash_table",
    ):
        addr = k.r32(k.sym(name))
        tables[name] = {"addr": addr, "pfn": k.pa(addr) // 4096}
    free_areas, free_pages = {}, {}
    for j, zone in enumerate(buddy.zones):
        size = k.get(zone, "zone_t", "size")
        if not size:
            continue
        # a bitmap bit is set where one block of its pair is on the list (both
        # never are: they would have merged); the largest order has no bitmap
        counts = []
        for order in range(MAX_ORDER - 1):
            head = buddy.free_list(zone, order)
            raw = k.read(k.r32(head + buddy.o_map), ((size - 1) >> (order + 4)) + 1)
            counts.append(int(np.unpackbits(np.frombuffer(raw, dtype=np.uint8)).sum()))
        free = k.get(zone, "zone_t", "free_pages")
        counts.append((free - sum(n << o for o, n in enumerate(counts))) >> (MAX_ORDER - 1))
        free_areas[ZONE_NAMES[j]], free_pages[ZONE_NAMES[j]] = counts, free
    sb = k.r32(k.sym("super_blocks")) - k.types.offsetof("struct super_block", "s_list")
    return {
        "hash_tables": tables,
        "root_fs": {"super_block": sb, "s_root": k.get(sb, "struct super_block", "s_root")},
        "page_cache": cache.truth(),
        "free_areas": free_areas,
        "free_pages": free_pages,
    }
