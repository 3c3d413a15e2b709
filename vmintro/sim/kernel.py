"""The simulated kernel's memory: RAM, the kernel image's globals and typed access.

Every kernel object lives in :class:`PhysMem` at its kernel virtual address;
:class:`KernelMemory` gives the simulator's subsystems a way to reach struct
members by name. Offsets always come from :mod:`vmintro.types.kernel`. The
subsystems are built over it in boot order, and the kernel they make up is
:class:`vmintro.sim.boot.Kernel`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from vmintro.arch.x86 import (
    EMPTY_ZERO_PAGE,
    KERNEL_PHYS,
    PAGE_OFFSET,
    PAGE_SIZE,
    PG0,
    PG1,
    STEXT,
    SWAPPER_PG_DIR,
    TEXT_START,
    MachineConfig,
)
from vmintro.sim.errors import PageFault, kernel_function
from vmintro.sim.physmem import PhysMem
from vmintro.types.flags import DEFAULT_MESSAGE_LOGLEVEL, LOG_BUF_LEN, THREAD_SIZE
from vmintro.types.kernel import KernelTypes, kernel_types
from vmintro.types.model import Array, Base, CType, Pointer, Struct, strip_typedefs

__all__ = [
    "KERN_ALERT",
    "KERN_CRIT",
    "KERN_DEBUG",
    "KERN_EMERG",
    "KERN_ERR",
    "KERN_INFO",
    "KERN_NOTICE",
    "KERN_WARNING",
    "KernelLayout",
    "KernelMemory",
]

# Where the sections of the simulated vmlinux start (linked at 0xC0100000).
ETEXT = TEXT_START + 0x100000
RODATA = ETEXT
DATA = RODATA + 0x10000

# The first task's task_struct and kernel stack, alone in .data.init_task.
INIT_TASK = "init_task_union"
# The __init functions and data that free_initmem gives back once boot is done
# (.text.init, .data.init, .setup.init, .initcall.init): 30 pages, 120k.
INIT_SIZE = 30 * 4096
# Globals with an initialiser live in .data; the rest in .bss (zeroed).
_DATA_VARS = (
    "init_mm",
    # arch/i386/kernel/init_task.c's INIT_FS, INIT_FILES, INIT_SIGNALS; kernel/user.c
    "init_fs",
    "init_files",
    "init_signals",
    "root_user",
    "kernel_module",
    "module_list",
    "cache_cache",
    "clock_searchp",
    "cache_sizes",
    "swap_list",
    "vmlist_lock",
    # LIST_HEAD(...) and initialised structs of mm/ and fs/
    "active_list",
    "inactive_list",
    "swapper_space",
    "inode_in_use",
    "inode_unused",
    "files_stat",
    "dentry_unused",
    "dentry_stat",
    "super_blocks",
    "ext2_fs_type",
    # kernel/sched.c: LIST_HEAD(runqueue_head), aligned_data = {{{&init_task, 0}}}
    "runqueue_head",
    "aligned_data",
)
# File-local statics of the real kernel: their ELF symbols are STB_LOCAL.
LOCAL_VARS = frozenset(
    {
        "cache_cache",
        "clock_searchp",
        "cache_sizes",
        "contig_bootmem_data",
        "log_buf",
        "log_start",
        "con_start",
        "log_end",
        "logged_chars",
        "least_priority",
        # fs/dcache.c, fs/inode.c, fs/namespace.c, fs/buffer.c, fs/block_dev.c,
        # fs/char_dev.c, fs/iobuf.c: the VFS caches' statics
        "dentry_cache",
        "d_hash_mask",
        "d_hash_shift",
        "dentry_hashtable",
        "i_hash_mask",
        "i_hash_shift",
        "inode_in_use",
        "inode_unused",
        "inode_hashtable",
        "inode_cachep",
        "mnt_cache",
        "hash_mask",
        "hash_bits",
        "mount_hashtable",
        "bdev_hashtable",
        "bdev_cachep",
        "cdev_hashtable",
        "cdev_cachep",
        "kiobuf_cachep",
        "hash_table",
        "bh_hash_mask",
        "bh_hash_shift",
        "dentry_unused",
        "ext2_fs_type",
        "unused_list",
        "nr_unused_buffer_heads",
        # kernel/sched.c
        "runqueue_head",
        "aligned_data",
        # static in arch/i386/mm/init.c
        "totalram_pages",
        "totalhigh_pages",
        # static in arch/i386/kernel/init_task.c
        "init_fs",
        "init_files",
        "init_signals",
    }
)
# include/linux/kernel.h: the level prefixes printk's callers put before the text
KERN_EMERG, KERN_ALERT, KERN_CRIT, KERN_ERR = "<0>", "<1>", "<2>", "<3>"
KERN_WARNING, KERN_NOTICE, KERN_INFO, KERN_DEBUG = "<4>", "<5>", "<6>", "<7>"
_LEVEL = re.compile(r"<[0-7]>")


@dataclass
class KernelLayout:
    """Addresses of the kernel image's sections and globals."""

    symbols: dict[str, tuple[int, int, CType | None]] = field(default_factory=dict)
    strings: dict[str, int] = field(default_factory=dict)
    end: int = 0

    @classmethod
    def build(cls, types: KernelTypes) -> KernelLayout:
        lay = cls()
        fixed = {
            "swapper_pg_dir": SWAPPER_PG_DIR,
            "pg0": PG0,
            "pg1": PG1,
            "empty_zero_page": EMPTY_ZERO_PAGE,
        }
        for name, addr in fixed.items():
            ctype = types.variables[name]
            lay.symbols[name] = (addr, ctype.size, ctype)

        pos = DATA
        placed = {*fixed, *_DATA_VARS, INIT_TASK}
        bss_vars = [n for n in types.variables if n not in placed]
        data_vars = [n for n in _DATA_VARS if n in types.variables]
        extra: dict[str, CType] = {"contig_bootmem_data": types["bootmem_data_t"]}
        for name in data_vars:
            pos = lay._place(name, types.variables[name], pos)
        edata = pos
        # arch/i386/vmlinux.lds: `. = ALIGN(8192); .data.init_task`, after _edata
        pos = (pos + THREAD_SIZE - 1) & ~(THREAD_SIZE - 1)
        task_union = types.variables[INIT_TASK]
        lay.symbols[INIT_TASK] = (pos, task_union.size, task_union)
        pos = (pos + task_union.size + 0xFFF) & ~0xFFF
        # `. = ALIGN(4096); __init_begin = .; .text.init ... . = ALIGN(4096); __init_end`
        lay.symbols["__init_begin"] = (pos, 0, None)
        pos += INIT_SIZE
        lay.symbols["__init_end"] = (pos, 0, None)
        lay.symbols["__bss_start"] = (pos, 0, None)
        for name in bss_vars:
            pos = lay._place(name, types.variables[name], pos)
        for name, ctype in extra.items():
            pos = lay._place(name, ctype, pos)
        lay.end = (pos + 0xFFF) & ~0xFFF
        for name, addr in (
            ("_text", TEXT_START),
            ("_stext", STEXT),
            ("_etext", ETEXT),
            ("_edata", edata),
            ("_end", lay.end),
        ):
            lay.symbols[name] = (addr, 0, None)
        return lay

    def _place(self, name: str, ctype: CType, pos: int) -> int:
        # gcc aligns structures and arrays of 32 bytes or more to 32 on i386.
        align = 32 if ctype.size >= 32 else max(4, ctype.align)
        pos = (pos + align - 1) // align * align
        self.symbols[name] = (pos, ctype.size, ctype)
        return pos + ctype.size


class KernelMemory:
    """A 2.4.20 kernel's RAM and image as the boot code finds them (head.S has run):
    its globals by name, struct members by name, ``__pa``/``__va`` and the page
    tables' view of the rest. Each subsystem of the memory manager is built over it.
    """

    def __init__(self, config: MachineConfig) -> None:
        self.config = config
        self.paging = config.paging
        self.types = kernel_types(config.highmem, config.pae)
        self._high_memory = config.high_memory  # the direct map's end, asked on every access
        self.mem = PhysMem(config.ram)
        self.layout = KernelLayout.build(self.types)
        self._rodata = RODATA
        self.page_size = self.types.sizeof("struct page")
        # The global mem_map, which free_area_init_core sets; page_addr and page_pfn
        # are meaningless until it has.
        self.mem_map = 0

    @property
    def mem(self) -> PhysMem:
        """The machine's RAM."""
        return self._mem

    @mem.setter
    def mem(self, mem: PhysMem) -> None:
        self._mem = mem
        # (type name, member path) -> (offset, load, store): get and set resolve a
        # member by name once, to this RAM's load and store of its width.
        self._members: dict[tuple[str, str], _Member] = {}
        # r32, w32, get and set are the hottest accesses of all: the C form of RAM
        # does them whole where it was built (the direct map inline, phys() for the
        # rest, a member's offset and size looked up by name, _member_size on a miss).
        ram = getattr(mem, "_ram", None)  # a stand-in RAM has no C form
        self._sizes: dict[tuple[str, str], tuple[int, int]] = {}  # the C form's members
        if ram is not None:
            ram.direct_map(self._high_memory, self.phys, self._sizes, self._member_size)
        self.r32: Callable[[int], int] = self._r32 if ram is None else ram.r32
        self.w32: Callable[[int, int], None] = self._w32 if ram is None else ram.w32
        self.get: Callable[[int, str, str], int] = self._get if ram is None else ram.get
        self.set: Callable[[int, str, str, int], None] = self._set if ram is None else ram.set

    # -- addresses -------------------------------------------------------------------

    def sym(self, name: str) -> int:
        return self.layout.symbols[name][0]

    def pa(self, vaddr: int) -> int:
        """``__pa``: only valid for the direct-mapped lowmem the kernel's objects use.

        :raises PageFault: ``vaddr`` is outside it, where following it would fault.
        """
        paddr = vaddr - PAGE_OFFSET
        if not 0 <= paddr < self.config.max_low_pfn * PAGE_SIZE:
            raise PageFault(vaddr)
        return paddr

    @staticmethod
    def va(paddr: int) -> int:
        """``__va``."""
        return paddr + PAGE_OFFSET

    # -- typed access (kernel virtual addresses in lowmem) --------------------------

    def _r32(self, vaddr: int) -> int:
        """``r32``: the 32-bit word at kernel address ``vaddr``."""
        if PAGE_OFFSET <= vaddr < self._high_memory:  # phys's direct map, inline: r32 is hot
            return self._mem.read_u32(vaddr - PAGE_OFFSET)
        return self._mem.read_u32(self.phys(vaddr))

    def _w32(self, vaddr: int, value: int) -> None:
        """``w32``: store the 32-bit word ``value`` at kernel address ``vaddr``."""
        if PAGE_OFFSET <= vaddr < self._high_memory:
            self._mem.write_u32(vaddr - PAGE_OFFSET, value)
        else:
            self._mem.write_u32(self.phys(vaddr), value)

    def read(self, vaddr: int, n: int) -> bytes:
        return self.mem.read(self.pa(vaddr), n)

    def write(self, vaddr: int, data: bytes) -> None:
        self.mem.write(self.pa(vaddr), data)

    def member(self, typename: str, path: str) -> tuple[int, int]:
        """(offset, size) of an integer or pointer member."""
        return _member(self.types, typename, path)

    def phys(self, vaddr: int) -> int:
        """Where kernel code touching ``vaddr`` lands: direct map, else the page tables.

        :raises PageFault: nothing maps ``vaddr`` (a pointer past 4 GiB wraps, as on i386).
        """
        if PAGE_OFFSET <= vaddr < self._high_memory:
            return vaddr - PAGE_OFFSET
        vaddr &= 0xFFFFFFFF
        from vmintro.sim.vmaccess import virt_to_phys_walk

        return virt_to_phys_walk(self, vaddr)

    def _get(self, addr: int, typename: str, path: str) -> int:
        """``get``: the scalar member ``path`` of the ``typename`` at ``addr``."""
        off, load, _ = self._members.get((typename, path)) or self._member_access(typename, path)
        addr += off
        if PAGE_OFFSET <= addr < self._high_memory:
            return load(addr - PAGE_OFFSET)
        return load(self.phys(addr))

    def _set(self, addr: int, typename: str, path: str, value: int) -> None:
        """``set``: ``value`` into the scalar member ``path`` of the ``typename`` at ``addr``."""
        off, _, store = self._members.get((typename, path)) or self._member_access(typename, path)
        addr += off
        if PAGE_OFFSET <= addr < self._high_memory:
            store(addr - PAGE_OFFSET, value)
        else:
            store(self.phys(addr), value)

    def _member_size(self, typename: str, path: str) -> tuple[int, int]:
        """(offset, size) of a scalar member, for the C form's get and set, which keep it."""
        found = self._sizes[typename, path] = _member(self.types, typename, path)
        return found

    def _member_access(self, typename: str, path: str) -> _Member:
        off, size = _member(self.types, typename, path)
        bits = 8 * size  # this RAM's scalar load and store of the member's width
        load, store = getattr(self.mem, f"read_u{bits}"), getattr(self.mem, f"write_u{bits}")
        access = self._members[typename, path] = (off, load, store)
        return access

    def set_many(self, addr: int, typename: str, /, **values: int) -> None:
        for path, value in values.items():
            self.set(addr, typename, path, value)

    def zero(self, vaddr: int, n: int) -> None:
        self.mem.fill(self.pa(vaddr), n)

    def rodata_string(self, text: str) -> int:
        """Address of a NUL-terminated string constant in .rodata (interned)."""
        addr = self.layout.strings.get(text)
        if addr is None:
            addr = self._rodata
            raw = text.encode() + b"\0"
            self.write(addr, raw)
            self._rodata += (len(raw) + 3) & ~3
            self.layout.strings[text] = addr
        return addr

    @kernel_function("printk")
    def printk(self, message: str) -> None:
        """``printk`` of one line into ``log_buf``, as 2.4.20's ``emit_log_char`` does
        it character by character: a line without a level prefix (``KERN_ERR``...)
        gets ``<4>``, the indices only grow, and the console (none is registered)
        is flushed at once, so ``con_start`` ends at ``log_end``.
        """
        text = message if _LEVEL.match(message) else f"<{DEFAULT_MESSAGE_LOGLEVEL}>{message}"
        raw = (text + "\n").encode(errors="replace")
        get = self.r32
        end, start = get(self.sym("log_end")), get(self.sym("log_start"))
        logged = get(self.sym("logged_chars"))
        buf = self.sym("log_buf")
        for i, chunk in _ring_chunks(end, raw[-LOG_BUF_LEN:]):
            self.write(buf + i, chunk)
        end = (end + len(raw)) & 0xFFFFFFFF
        if (end - start) & 0xFFFFFFFF > LOG_BUF_LEN:
            start = (end - LOG_BUF_LEN) & 0xFFFFFFFF
        self.w32(self.sym("log_end"), end)
        self.w32(self.sym("log_start"), start)
        self.w32(self.sym("con_start"), end)  # release_console_sem: flushed
        self.w32(self.sym("logged_chars"), min(logged + len(raw), LOG_BUF_LEN))

    @property
    def log(self) -> list[str]:
        """The lines ``log_buf`` still holds (``dmesg``), level prefixes removed."""
        end = self.r32(self.sym("log_end"))
        count = min(self.r32(self.sym("logged_chars")), LOG_BUF_LEN)
        buf = self.sym("log_buf")
        raw = b"".join(
            self.read(buf + i, len(chunk))
            for i, chunk in _ring_chunks((end - count) & 0xFFFFFFFF, bytes(count))
        )
        lines = raw.decode(errors="replace").split("\n")[:-1]
        return [_LEVEL.sub("", line, count=1) if _LEVEL.match(line) else line for line in lines]

    # -- struct page ----------------------------------------------------------------

    def page_addr(self, pfn: int) -> int:
        """``pfn_to_page``: mem_map + pfn."""
        return self.mem_map + pfn * self.page_size

    def page_pfn(self, page: int) -> int:
        """``page_to_pfn``."""
        return (page - self.mem_map) // self.page_size

    @property
    def kernel_phys_range(self) -> tuple[int, int]:
        return KERNEL_PHYS, self.layout.end - PAGE_OFFSET


def _ring_chunks(index: int, data: bytes) -> list[tuple[int, bytes]]:
    """Where ``data`` goes in a ring of ``LOG_BUF_LEN`` from unmasked ``index``: one or
    two (offset, bytes) pieces, the second at the ring's start when it wraps."""
    off = index & (LOG_BUF_LEN - 1)
    first = data[: LOG_BUF_LEN - off]
    pieces = [(off, first)] if first else []
    if len(data) > len(first):
        pieces.append((0, data[len(first) :]))
    return pieces


@cache
def _member(types: KernelTypes, typename: str, path: str) -> tuple[int, int]:
    struct = strip_typedefs(types[typename])
    assert isinstance(struct, Struct)
    off, ctype = struct.resolve(path)
    t = strip_typedefs(ctype)
    if isinstance(t, Struct) and len(t.fields) == 1:  # atomic_t, pte_t: the one scalar inside
        t = strip_typedefs(t.fields[0].type)
    if not isinstance(t, (Base, Pointer)) or isinstance(t, Array):
        raise TypeError(f"{typename}.{path} is not a scalar member")
    return off, t.size


_Member = tuple[int, Callable[[int], int], Callable[[int, int], None]]
