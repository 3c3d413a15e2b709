"""Flag and constant values of Linux 2.4.20 that live in kernel structures."""

from __future__ import annotations

__all__ = [
    "DEFAULT_MESSAGE_LOGLEVEL",
    "GFP",
    "LOG_BUF_LEN",
    "MAX_NR_ZONES",
    "MAX_ORDER",
    "MAX_SWAPFILES",
    "MOD_FLAGS",
    "PAGE_FLAGS",
    "PIDHASH_SZ",
    "TASK_STATES",
    "THREAD_SIZE",
    "VM_ALLOC",
    "VM_FLAGS",
    "VM_IOREMAP",
    "ZONE_NAMES",
    "ZONE_SHIFT",
]

# include/linux/mmzone.h: orders of the buddy allocator's free lists, zones of a node
MAX_ORDER = 10
MAX_NR_ZONES = 3
# include/linux/swap.h: entries of swap_info[]
MAX_SWAPFILES = 32
# kernel/printk.c (uniprocessor, no CONFIG_MULTIQUAD): the ring's size, a power of
# two, and the level printk gives a message that names none (KERN_WARNING)
LOG_BUF_LEN = 16384
DEFAULT_MESSAGE_LOGLEVEL = 4

# include/linux/mm.h: bit numbers of page->flags (2.4.20)
PAGE_FLAGS: dict[str, int] = {
    "PG_locked": 0,
    "PG_error": 1,
    "PG_referenced": 2,
    "PG_uptodate": 3,
    "PG_dirty": 4,
    "PG_unused": 5,
    "PG_lru": 6,
    "PG_active": 7,
    "PG_slab": 8,
    "PG_skip": 10,
    "PG_highmem": 11,
    "PG_checked": 12,
    "PG_arch_1": 13,
    "PG_reserved": 14,
    "PG_launder": 15,
}
PG_referenced = 1 << PAGE_FLAGS["PG_referenced"]
PG_dirty = 1 << PAGE_FLAGS["PG_dirty"]
PG_slab = 1 << PAGE_FLAGS["PG_slab"]
PG_highmem = 1 << PAGE_FLAGS["PG_highmem"]
PG_reserved = 1 << PAGE_FLAGS["PG_reserved"]

# The zone index sits in the top byte of page->flags (ZONE_SHIFT = BITS_PER_LONG - 8).
ZONE_SHIFT = 24
ZONE_DMA, ZONE_NORMAL, ZONE_HIGHMEM = 0, 1, 2
ZONE_NAMES = ("DMA", "Normal", "HighMem")

# include/linux/vmalloc.h
VM_IOREMAP = 0x1
VM_ALLOC = 0x2

# include/linux/mm.h: vm_area_struct.vm_flags
VM_FLAGS: dict[str, int] = {
    "VM_READ": 0x1,
    "VM_WRITE": 0x2,
    "VM_EXEC": 0x4,
    "VM_SHARED": 0x8,
    "VM_MAYREAD": 0x10,
    "VM_MAYWRITE": 0x20,
    "VM_MAYEXEC": 0x40,
    "VM_MAYSHARE": 0x80,
    "VM_GROWSDOWN": 0x100,
    "VM_GROWSUP": 0x200,
    "VM_SHM": 0x400,
    "VM_DENYWRITE": 0x800,
    "VM_EXECUTABLE": 0x1000,
    "VM_LOCKED": 0x2000,
    "VM_IO": 0x4000,
    "VM_SEQ_READ": 0x8000,
    "VM_RAND_READ": 0x10000,
    "VM_DONTCOPY": 0x20000,
    "VM_DONTEXPAND": 0x40000,
    "VM_RESERVED": 0x80000,
}

# include/linux/mm.h: gfp masks
GFP: dict[str, int] = {
    "__GFP_DMA": 0x01,
    "__GFP_HIGHMEM": 0x02,
    "__GFP_WAIT": 0x10,
    "__GFP_HIGH": 0x20,
    "__GFP_IO": 0x40,
    "__GFP_HIGHIO": 0x80,
    "__GFP_FS": 0x100,
}
GFP_ZONEMASK = 0x0F
GFP_KERNEL = 0x1F0
GFP_USER = 0x1D0
GFP_DMA = 0x01
GFP_HIGHMEM = 0x02

# include/linux/module.h
MOD_FLAGS: dict[str, int] = {
    "MOD_RUNNING": 0x01,
    "MOD_DELETED": 0x02,
    "MOD_AUTOCLEAN": 0x04,
    "MOD_VISITED": 0x08,
    "MOD_USED_ONCE": 0x10,
    "MOD_JUST_FREED": 0x20,
    "MOD_INITIALIZING": 0x40,
}

# include/linux/swap.h
SWP_USED = 1
SWP_WRITEOK = 3
SWAP_MAP_BAD = 0x8000
SWAP_FLAG_PREFER = 0x8000

# mm/slab.c
BUFCTL_END = 0xFFFFFFFF
SLAB_HWCACHE_ALIGN = 0x2000
SLAB_CACHE_DMA = 0x4000
SLAB_NO_REAP = 0x1000
CFLGS_OFF_SLAB = 0x10000
CFLGS_OPTIMIZE = 0x20000

# include/linux/sched.h, include/asm-i386/processor.h: processes
THREAD_SIZE = 2 * 4096  # union task_union: the task_struct and its kernel stack
PIDHASH_SZ = 4096 >> 2
PID_MAX = 0x8000
NGROUPS = 32  # include/asm-i386/param.h
RLIM_NLIMITS = 11  # include/asm-i386/resource.h
RLIMIT_NPROC = 6
RLIM_INFINITY = 0xFFFFFFFF
IO_BITMAP_SIZE = 32
NSIG = 64  # _NSIG
NSIG_WORDS = 2  # _NSIG / _NSIG_BPW
NR_OPEN_DEFAULT = 32  # BITS_PER_LONG
TASK_STATES: dict[str, int] = {
    "TASK_RUNNING": 0,
    "TASK_INTERRUPTIBLE": 1,
    "TASK_UNINTERRUPTIBLE": 2,
    "TASK_ZOMBIE": 4,
    "TASK_STOPPED": 8,
}
# include/linux/sched.h: per process flags
PF_FORKNOEXEC = 0x40
PF_MEMDIE = 0x1000
# include/linux/sched.h: clone flags
CLONE_VM = 0x100
CLONE_FS = 0x200
CLONE_FILES = 0x400
CLONE_SIGHAND = 0x800
CLONE_SIGNAL = CLONE_SIGHAND | 0x10000  # | CLONE_THREAD
SIGCHLD = 17
