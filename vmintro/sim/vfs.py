"""The filesystem behind the page cache: the root ext2 filesystem as 2.4.20 leaves
it mounted, with the dentries, inodes and buffer heads of the files read into the
page cache (fs/super.c, fs/dcache.c, fs/inode.c, fs/buffer.c, fs/ext2).

- :func:`mount_root`: ``register_filesystem(&ext2_fs_type)``, then the
  ``super_block`` of ``/dev/hda1`` from ``alloc_super`` (``kmalloc(GFP_USER)``),
  on ``super_blocks`` and ``ext2_fs_type.fs_supers`` (``insert_super``), as
  ``ext2_read_super`` fills it for 4 KiB blocks, with its root inode
  (``iget(sb, EXT2_ROOT_INO)``) and root dentry (``d_alloc_root``) in ``s_root``.
- :class:`Lookups`: each file the page-cache workload opens is looked up under
  one of a few directories below the root: ``real_lookup``'s ``d_alloc`` (a short
  name, inline in ``d_iname``), then ``ext2_lookup``'s ``iget`` (a new inode from
  ``inode_cache``) and ``d_add``. A directory is looked up the same way the first
  time a file in it is. When the workload is done every inode is held by its
  dentry (``i_count`` 1, on ``inode_in_use``, in ``inode_hashtable`` by
  ``hash(sb, i_ino)``), each dentry is in ``dentry_hashtable`` by
  ``d_hash(parent, full_name_hash(name))`` and on its parent's ``d_subdirs``, and
  a closed file's dentry (``d_count`` 0) is on ``dentry_unused``, the newest
  ``dput`` first, with ``DCACHE_REFERENCED``.
- The buffer heads ext2's ``readpage`` attached to each cached page are
  :mod:`vmintro.sim.buffer`'s.

Not modelled: the rootfs, bdev, proc, pipe and socket filesystems and every
``vfsmount`` (only ``ext2_fs_type`` is registered and only the root's
super_block is on ``super_blocks``); the root's ``block_device`` (``s_bdev``);
ext2's metadata buffers (``s_sbh``, ``s_es``, ``s_group_desc``, bitmaps,
indirect blocks) and the directories' own pages; the tasks' ``fs->root`` and
``pwd``. The image has no kernel text, so every operations table and function
pointer (``s_op``, ``i_op``, ``a_ops``, ``read_super``, ``b_end_io``) is NULL.
The dentries, inodes and buffer heads are allocated after the workload's pages,
not between them, and a deleted file's are left out (allocated and freed again,
they would only have passed through the slab).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vmintro.arch.x86 import L1_CACHE_BYTES
from vmintro.sim.batch import links, write_heads, write_objects
from vmintro.sim.buffer import BLOCK_BITS, BLOCK_SIZE, ROOT_DEV
from vmintro.sim.errors import SimulationError, kernel_function
from vmintro.sim.kernel import KernelMemory
from vmintro.sim.slab import Slab
from vmintro.types.flags import GFP_HIGHMEM, GFP_KERNEL, GFP_USER

__all__ = [
    "EXT2_ROOT_INO",
    "Lookups",
    "block_numbers",
    "full_name_hash",
    "mount_root",
]

FS_REQUIRES_DEV = 1
EXT2_SUPER_MAGIC = 0xEF53
EXT2_ROOT_INO = 2
EXT2_VALID_FS = 1
S_BIAS = 1 << 30
DCACHE_REFERENCED = 0x0008
GFP_HIGHUSER = GFP_USER | GFP_HIGHMEM  # clean_inode's mapping->gfp_mask
S_IFREG, S_IFDIR = 0o100000, 0o040000
DNAME_INLINE_LEN = 16
# An ext2 filesystem of 4 GiB in 4 KiB blocks: 32 groups of 32768 blocks and
# 16384 inodes of 128 bytes; the files' data from the first block after group
# 0's descriptors, bitmaps and inode table.
BLOCKS_PER_GROUP, INODES_PER_GROUP, GROUPS = 32768, 16384, 32
INODE_SIZE = 128
FIRST_DATA_BLOCK = 1 + 1 + 2 + INODES_PER_GROUP * INODE_SIZE // BLOCK_SIZE
DIRECTORIES = ("bin", "etc", "lib", "sbin", "usr", "var")
MASK32 = 0xFFFFFFFF
SB, DENTRY, INODE, BH = "struct super_block", "struct dentry", "struct inode", "struct buffer_head"


def full_name_hash(name: bytes) -> int:
    """include/linux/dcache.h ``full_name_hash`` (``partial_name_hash`` per byte)."""
    h = 0
    for c in name:
        h = ((h + (c << 4) + (c >> 4)) * 11) & MASK32
    return h


def _list_init(k: KernelMemory, addr: int) -> None:
    k.write(addr, struct.pack("<II", addr, addr))


def _sema_init(k: KernelMemory, sem: int, count: int) -> None:
    """``sema_init``: the count and an empty wait queue."""
    k.set(sem, "struct semaphore", "count.counter", count)
    _list_init(k, sem + k.types.offsetof("struct semaphore", "wait.task_list"))


@kernel_function("mount_root")
def mount_root(k: KernelMemory, slab: Slab) -> int:
    """``mount_root`` of ``/dev/hda1``, ext2 with 4 KiB blocks, read-write (the init
    scripts' remount): the super_block's address."""
    t = k.types
    fstype = k.sym("ext2_fs_type")
    # DECLARE_FSTYPE_DEV(ext2_fs_type, "ext2", ext2_read_super), register_filesystem
    k.set_many(fstype, "struct file_system_type", name=k.rodata_string("ext2"))
    k.set(fstype, "struct file_system_type", "fs_flags", FS_REQUIRES_DEV)
    _list_init(k, fstype + t.offsetof("struct file_system_type", "fs_supers"))
    sb = slab.kmalloc(t.sizeof(SB), GFP_USER)  # alloc_super
    if sb is None:
        raise SimulationError("mount_root: alloc_super found no memory")
    k.zero(sb, t.sizeof(SB))
    for head in ("s_dirty", "s_locked_inodes", "s_files", "s_umount.wait_list"):
        _list_init(k, sb + t.offsetof(SB, head))
    for sem in ("s_lock", "s_vfs_rename_sem", "s_nfsd_free_path_sem"):
        _sema_init(k, sb + t.offsetof(SB, sem), 1)
    for sem in ("dqio_sem", "dqoff_sem"):
        _sema_init(k, sb + t.offsetof(SB, f"s_dquot.{sem}"), 1)
    # insert_super: list_add(&s->s_list, super_blocks.prev), onto type->fs_supers
    _list_add(k, sb + t.offsetof(SB, "s_list"), k.r32(k.sym("super_blocks") + 4))
    _list_add(
        k,
        sb + t.offsetof(SB, "s_instances"),
        fstype + t.offsetof("struct file_system_type", "fs_supers"),
    )
    k.set_many(
        sb,
        SB,
        s_type=fstype,
        s_count=S_BIAS,
        s_dev=ROOT_DEV,
        s_blocksize=BLOCK_SIZE,
        s_blocksize_bits=BLOCK_BITS,
        s_maxbytes=_ext2_max_size(BLOCK_BITS),
        s_magic=EXT2_SUPER_MAGIC,
    )
    k.set(sb, SB, "s_active.counter", 1)
    _ext2_sb_info(k, sb)
    lookups = Lookups(k, slab, sb)
    lookups.d_alloc_root()
    lookups.write()
    k.set(sb, SB, "s_root", lookups.nodes[0].dentry)
    return sb


def _ext2_max_size(bits: int) -> int:
    """fs/ext2/super.c ``ext2_max_size``."""
    res = 12 + (1 << (bits - 2)) + (1 << (2 * (bits - 2))) + (1 << (3 * (bits - 2)))
    return min(res << bits, (512 << 32) - (1 << bits))


def _ext2_sb_info(k: KernelMemory, sb: int) -> None:
    """What ``ext2_read_super`` computes from the on-disk super block and group
    descriptors of the filesystem described above."""
    per_block = BLOCK_SIZE // 32  # group descriptors per block
    values = {
        "s_frag_size": BLOCK_SIZE,
        "s_frags_per_block": 1,
        "s_inodes_per_block": BLOCK_SIZE // INODE_SIZE,
        "s_frags_per_group": BLOCKS_PER_GROUP,
        "s_blocks_per_group": BLOCKS_PER_GROUP,
        "s_inodes_per_group": INODES_PER_GROUP,
        "s_itb_per_group": INODES_PER_GROUP * INODE_SIZE // BLOCK_SIZE,
        "s_gdb_count": (GROUPS + per_block - 1) // per_block,
        "s_desc_per_block": per_block,
        "s_groups_count": GROUPS,
        "s_mount_state": EXT2_VALID_FS,
        "s_addr_per_block_bits": BLOCK_BITS - 2,
        "s_desc_per_block_bits": per_block.bit_length() - 1,
        "s_inode_size": INODE_SIZE,
        "s_first_ino": 11,  # EXT2_GOOD_OLD_FIRST_INO
    }
    for name, value in values.items():
        k.set(sb, SB, f"u.ext2_sb.{name}", value)


def _list_add(k: KernelMemory, new: int, head: int) -> None:
    """``list_add(new, head)``."""
    nxt = k.r32(head)
    k.write(new, struct.pack("<II", nxt, head))
    k.w32(nxt + 4, new)
    k.w32(head, new)


@dataclass
class _Node:
    """A dentry and its inode, as the simulator made them."""

    dentry: int
    inode: int
    ino: int
    name: bytes
    parent: int  # index into Lookups.nodes; the root is its own
    directory: bool
    size: int = BLOCK_SIZE
    children: int = 0
    closed: int = -1  # when its last dput came (larger is later); -1: still held


@dataclass
class Lookups:
    """The dcache and icache of the root filesystem: the root directory first, then
    what path walks looked up; :meth:`write` puts them all in RAM."""

    k: KernelMemory
    slab: Slab
    sb: int
    nodes: list[_Node] = field(default_factory=list)
    _dirs: dict[int, int] = field(default_factory=dict)  # DIRECTORIES index -> node
    _calls: list[str] = field(default_factory=list)  # the caches lookups will allocate from

    @classmethod
    def of_root(cls, k: KernelMemory, slab: Slab) -> Lookups:
        """The root filesystem :func:`mount_root` left, read from RAM."""
        sb = k.r32(k.sym("super_blocks")) - k.types.offsetof(SB, "s_list")
        root = k.get(sb, SB, "s_root")
        self = cls(k, slab, sb)
        self.nodes.append(_Node(root, k.get(root, DENTRY, "d_inode"), EXT2_ROOT_INO, b"/", 0, True))
        return self

    def d_alloc_root(self) -> None:
        """``iget(sb, EXT2_ROOT_INO)`` and ``d_alloc_root``."""
        self.nodes.append(_Node(0, 0, EXT2_ROOT_INO, b"/", 0, True))
        self._calls += ["inode_cachep", "dentry_cache"]

    def _lookup_one(self, parent: int, name: bytes, ino: int, directory: bool) -> _Node:
        """``real_lookup``: ``d_alloc``, then ``ext2_lookup``'s ``iget`` and ``d_add``."""
        node = _Node(0, 0, ino, name, parent, directory)
        self.nodes.append(node)
        self.nodes[parent].children += 1
        self._calls += ["dentry_cache", "inode_cachep"]
        return node

    def lookup(self, ino: int, size: int, closed: int) -> None:
        """``path_walk`` to the regular file ``ino`` (``/DIR/fileINO``), the directory
        looked up first if the dcache lacks it; ``closed`` orders the files' last
        ``dput``s."""
        d = (ino * 2654435761 >> 16) % len(DIRECTORIES)
        if d not in self._dirs:
            self._dirs[d] = len(self.nodes)
            self._lookup_one(0, DIRECTORIES[d].encode(), (d + 1) * INODES_PER_GROUP + 1, True)
        node = self._lookup_one(self._dirs[d], f"file{ino}".encode(), ino, False)
        node.size, node.closed = size, closed

    def allocate(self) -> None:
        """The objects of the lookups since the last call, from ``dentry_cache`` and
        ``inode_cache`` in the order they asked."""
        k = self.k
        calls = self._calls
        fresh = self.nodes[len(self.nodes) - len(calls) // 2 :]
        self._calls = []
        if not calls:
            return
        cache = {name: k.r32(k.sym(name)) for name in ("dentry_cache", "inode_cachep")}
        objs = self.slab.kmem_cache_alloc_calls(np.array([cache[c] for c in calls]), GFP_KERNEL)
        if objs is None:
            raise SimulationError("d_alloc, iget: no memory for the dentries and inodes")
        for node, pair, (a, b) in zip(fresh, calls[::2], objs.reshape(-1, 2).tolist(), strict=True):
            node.dentry, node.inode = (a, b) if pair == "dentry_cache" else (b, a)

    def write(self) -> None:
        """Every dentry and inode, the lists that hold them and the counters."""
        k = self.k
        self.allocate()
        nodes = self.nodes
        n = len(nodes)
        last = max((x.closed for x in nodes), default=0) + 1
        for x in nodes[1:]:  # a directory whose files were all deleted: dput to 0 then
            if x.directory and not x.children:
                x.closed = last
        inodes = np.array([x.inode for x in nodes], dtype=np.int64)
        dentries = np.array([x.dentry for x in nodes], dtype=np.int64)
        closed = np.array([x.closed for x in nodes], dtype=np.int64)
        parent = np.array([x.parent for x in nodes], dtype=np.int64)
        ino = np.array([x.ino for x in nodes], dtype=np.int64)
        newest = np.arange(n)[::-1]  # list_add: the newest at each head
        irows = _Rows(k, INODE, inodes)
        drows = _Rows(k, DENTRY, dentries)
        # iget: on inode_in_use and the chain of hash(sb, i_ino)
        irows.thread("i_list", np.array([k.sym("inode_in_use")]), np.zeros(n, np.int64), newest)
        mask, shift = k.r32(k.sym("i_hash_mask")), k.r32(k.sym("i_hash_shift"))
        tmp = ino + self.sb // L1_CACHE_BYTES
        table = k.r32(k.sym("inode_hashtable")) + 8 * np.arange(mask + 1)
        irows.thread("i_hash", table, (tmp + (tmp >> shift)) & mask, newest)
        # d_alloc: on the parent's d_subdirs; d_add: in dentry_hashtable
        kids = newest[newest != 0]
        drows.thread("d_child", "d_subdirs", parent, kids)
        h = np.array([full_name_hash(x.name) for x in nodes], dtype=np.int64)
        h = (h + dentries[parent] // L1_CACHE_BYTES) & MASK32
        dmask, dshift = k.r32(k.sym("d_hash_mask")), k.r32(k.sym("d_hash_shift"))
        dtable = k.r32(k.sym("dentry_hashtable")) + 8 * np.arange(dmask + 1)
        drows.thread("d_hash", dtable, (h ^ (h >> dshift)) & dmask, kids)
        # dput to 0: onto dentry_unused, the latest first
        unused = np.flatnonzero(closed >= 0)
        unused = unused[np.argsort(-closed[unused], kind="stable")]
        heads = np.array([k.sym("dentry_unused")])
        drows.thread("d_lru", heads, np.zeros(n, np.int64), unused)
        self._inodes(irows, dentries + drows.off("d_alias"))
        self._dentries(drows, irows.addrs + irows.off("i_dentry"), parent, closed)
        irows.write()
        drows.write()
        for name, typename, values in (
            ("inodes_stat", "struct inodes_stat_t", {"nr_inodes": n, "nr_unused": 0}),
            ("dentry_stat", "struct dentry_stat_t", {"nr_dentry": n, "nr_unused": len(unused)}),
        ):
            k.set_many(k.sym(name), typename, **values)

    def _inodes(self, rows: _Rows, alias: np.ndarray) -> None:
        """The inodes as ``clean_inode`` and ``ext2_read_inode`` leave them, each held
        by its dentry; ``i_dentry`` holds that dentry's ``d_alias``."""
        nodes = self.nodes
        a = rows.addrs
        for head in (
            "i_dirty_buffers i_dirty_data_buffers i_devices i_data.clean_pages "
            "i_data.dirty_pages i_data.locked_pages i_sem.wait.task_list "
            "i_zombie.wait.task_list i_wait.task_list"
        ).split():
            rows.init_list_head(head)
        for head in ("i_list", "i_hash"):
            rows.init_list_head(head)
        rows.put("i_dentry", alias)
        rows.put("i_dentry", alias, 4)
        for path in ("i_sem.count.counter", "i_zombie.count.counter", "i_count.counter"):
            rows.put(path, 1)
        rows.put("i_dev", ROOT_DEV, dtype="<u2")
        rows.put("i_sb", self.sb)
        rows.put("i_ino", np.array([x.ino for x in nodes]))
        directory = np.array([x.directory for x in nodes])
        mode = np.where(directory, S_IFDIR | 0o755, S_IFREG | 0o644)
        rows.put("i_mode", mode, dtype="<u2")
        nlink = np.where(directory, 2, 1)
        nlink[0] += nodes[0].children  # the root's children are directories
        rows.put("i_nlink", nlink, dtype="<u2")
        size = np.array([x.size for x in nodes], dtype=np.int64)
        rows.put("i_size", size, dtype="<u8")  # loff_t: never negative here
        # in 512-byte sectors, the indirect blocks counted
        blocks = _blocks_used((size + BLOCK_SIZE - 1) // BLOCK_SIZE)
        rows.put("i_blocks", blocks * (BLOCK_SIZE // 512))
        rows.put("i_blkbits", BLOCK_BITS)
        rows.put("i_blksize", BLOCK_SIZE)
        rows.put("i_mapping", a + rows.off("i_data"))
        rows.put("i_data.host", a)
        rows.put("i_data.gfp_mask", GFP_HIGHUSER)

    def _dentries(
        self, rows: _Rows, i_dentry: np.ndarray, parent: np.ndarray, closed: np.ndarray
    ) -> None:
        """The dentries as ``d_alloc``, ``d_instantiate`` and ``dput`` leave them; the
        root's own reference is ``s_root``'s, a directory's each child's."""
        nodes = self.nodes
        a = rows.addrs
        for head in ("d_subdirs", "d_child", "d_hash", "d_lru"):
            rows.init_list_head(head)
        rows.put("d_alias", i_dentry)
        rows.put("d_alias", i_dentry, 4)
        children = np.array([x.children if x.directory else 0 for x in nodes])
        held = (closed < 0).astype(np.int64)
        held[0] = 1
        rows.put("d_count.counter", held + children)
        rows.put("d_inode", np.array([x.inode for x in nodes]))
        rows.put("d_parent", a[parent])
        rows.put("d_sb", self.sb)
        o = rows.off("d_iname")
        for i, x in enumerate(nodes):
            if len(x.name) > DNAME_INLINE_LEN - 1:
                raise SimulationError(f"d_alloc: the name {x.name!r} would need a kmalloc")
            rows.raw[i, o : o + len(x.name)] = np.frombuffer(x.name, np.uint8)
        rows.put("d_name.name", a + o)
        rows.put("d_name.len", np.array([len(x.name) for x in nodes]))
        hashes = np.array([full_name_hash(x.name) for x in nodes], dtype=np.int64)
        hashes[0] = 0  # d_alloc_root's qstr
        rows.put("d_name.hash", hashes)
        rows.put("d_vfs_flags", np.where(closed >= 0, DCACHE_REFERENCED, 0))


class _Rows:
    """One struct type's objects as rows of bytes, filled member by member and
    written at once."""

    def __init__(self, k: KernelMemory, typename: str, addrs: np.ndarray) -> None:
        self.k, self.typename, self.addrs = k, typename, addrs
        self.raw = np.zeros((len(addrs), k.types.sizeof(typename)), dtype=np.uint8)
        self._lists: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # path -> (next, prev)

    def off(self, path: str) -> int:
        return self.k.types.offsetof(self.typename, path)

    def put(self, path: str, values: Any, extra: int = 0, dtype: str = "<u4") -> None:
        """Member ``path`` (``extra`` bytes further on) of every row."""
        col = np.zeros(len(self.addrs), dtype=dtype)
        col[:] = np.asarray(values, dtype=np.int64) & ((1 << min(8 * col.itemsize, 63)) - 1)
        o = self.off(path) + extra
        self.raw[:, o : o + col.itemsize] = col.view(np.uint8).reshape(len(self.addrs), -1)

    def init_list_head(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        """``INIT_LIST_HEAD`` of member ``path`` in every row (until :meth:`thread`
        links it): its (next, prev) columns."""
        if path not in self._lists:
            head = self.addrs + self.off(path)
            self._lists[path] = (head.copy(), head.copy())
        return self._lists[path]

    def thread(
        self,
        path: str,
        heads: np.ndarray | str,
        group: np.ndarray,
        rows: np.ndarray,
    ) -> None:
        """Member ``path`` of ``rows`` (in the order ``list_add`` left them, each
        group's first at its head) on the lists through ``heads[group[row]]``: list
        heads in memory, or a member's name for the rows' own (``d_subdirs``)."""
        order = rows[np.argsort(group[rows], kind="stable")]
        nodes = self.addrs[order] + self.off(path)
        own = isinstance(heads, str)
        at = self.addrs + self.off(heads) if isinstance(heads, str) else heads
        nxt, prev, first, last = links(at, group[order], nodes)
        col_next, col_prev = self.init_list_head(path)
        col_next[order], col_prev[order] = nxt, prev
        used = np.unique(group[order])
        if isinstance(heads, str):
            head_next, head_prev = self.init_list_head(heads)
            head_next[used], head_prev[used] = first[used], last[used]
        if not own:
            write_heads(self.k, at, used, first, last)

    def write(self) -> None:
        for path, (nxt, prev) in self._lists.items():
            self.put(path, nxt)
            self.put(path, prev, 4)
        write_objects(self.k, self.addrs, self.raw)


def block_numbers(npages: np.ndarray, file_of: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The block ``ext2_get_block`` maps page ``index`` of file ``file_of`` to: each
    file's blocks in a run after the one before, its data after the indirect
    blocks that point at it (:func:`_block_position`)."""
    start = FIRST_DATA_BLOCK + np.concatenate(([0], np.cumsum(_blocks_used(npages))[:-1]))
    return start[file_of] + _block_position(index)


def _block_position(i: np.ndarray) -> np.ndarray:
    """Where data block ``i`` of a file lies in its run of blocks: after the 12 direct
    blocks the indirect block of the next 1024, then the double-indirect block and
    an indirect block before each further 1024."""
    double = i >= 12 + 1024
    return i + (i >= 12) + double * (2 + np.maximum(i - 12 - 1024, 0) // 1024)


def _blocks_used(nblocks: np.ndarray) -> np.ndarray:
    """The blocks a file of ``nblocks`` data blocks takes, its indirect blocks too."""
    return np.where(nblocks > 0, _block_position(np.maximum(nblocks, 1) - 1) + 1, 0)
