"""The Linux 2.4.20 i386 kernel types, each defined once.

The build modelled is a uniprocessor kernel compiled with gcc >= 2.96, so
``spinlock_t`` and ``rwlock_t`` are empty structs of 0 bytes (see
``include/linux/spinlock.h``). Two configuration switches change layouts:
CONFIG_HIGHMEM adds ``struct page.virtual``; CONFIG_X86_PAE widens the
page-table entry types to 8 bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from vmintro.arch.layout import NR_CPUS
from vmintro.arch.paging import paging_mode
from vmintro.arch.x86 import L1_CACHE_BYTES
from vmintro.types.flags import (
    IO_BITMAP_SIZE,
    LOG_BUF_LEN,
    MAX_NR_ZONES,
    MAX_ORDER,
    MAX_SWAPFILES,
    NGROUPS,
    NR_OPEN_DEFAULT,
    NSIG,
    NSIG_WORDS,
    PIDHASH_SZ,
    RLIM_NLIMITS,
    THREAD_SIZE,
)
from vmintro.types.model import (
    Array,
    Base,
    CType,
    Field,
    Function,
    Pointer,
    Struct,
    Typedef,
    Void,
)

__all__ = ["KernelTypes", "kernel_types"]

CACHE_NAMELEN = 20
NR_GENERAL_CACHES = 13  # size-32 .. size-131072, plus a terminating entry


@dataclass(eq=False)
class KernelTypes:
    """Every type of one kernel configuration, by C name (``"struct page"``, ``"pte_t"``)."""

    highmem: bool
    pae: bool
    by_name: dict[str, CType] = field(default_factory=dict)
    variables: dict[str, CType] = field(default_factory=dict)
    # (type, member path) -> offset: the simulator asks for the same few per object
    _offsets: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)

    def __getitem__(self, name: str) -> CType:
        return self.by_name[name]

    def struct(self, name: str) -> Struct:
        t = self.by_name[name]
        while isinstance(t, Typedef):
            t = t.target
        assert isinstance(t, Struct)
        return t

    def declare_struct(self, tag: str, union: bool = False) -> Struct:
        """``struct TAG`` (``union TAG`` when ``union``): the one registered, else a new
        one registered, which the caller defines; as C names a tag's type once, however
        many declarations mention it."""
        name = f"{'union' if union else 'struct'} {tag}"
        s = self.by_name.get(name)
        if not isinstance(s, Struct):
            s = self.by_name[name] = Struct(tag, union)
        return s

    def declare_typedef(self, name: str, target: CType) -> CType:
        """``typedef TARGET NAME``: the one registered under ``name``, else a new one."""
        if name not in self.by_name:
            self.by_name[name] = Typedef(name, target)
        return self.by_name[name]

    def sizeof(self, name: str) -> int:
        return self.by_name[name].size

    def offsetof(self, name: str, path: str) -> int:
        off = self._offsets.get((name, path))
        if off is None:
            off = self._offsets[name, path] = self.struct(name).offsetof(path)
        return off

    def all_types(self) -> list[CType]:
        return list(self.by_name.values())


@cache
def kernel_types(highmem: bool = False, pae: bool = False) -> KernelTypes:
    """The 2.4.20 types for one configuration (PAE implies HIGHMEM, as HIGHMEM64G does)."""
    kt = KernelTypes(highmem=highmem, pae=pae)
    reg = kt.by_name

    def add(t: CType) -> CType:
        reg[t.c_name] = t
        return t

    struct, typedef = kt.declare_struct, kt.declare_typedef

    char = add(Base("char", 1, True, char=True))
    uchar = add(Base("unsigned char", 1, False, char=True))
    short = add(Base("short", 2, True))
    ushort = add(Base("unsigned short", 2, False))
    int_ = add(Base("int", 4, True))
    uint = add(Base("unsigned int", 4, False))
    long_ = add(Base("long", 4, True))
    ulong = add(Base("unsigned long", 4, False))
    add(Base("long long", 8, True))
    ulonglong = add(Base("unsigned long long", 8, False))
    void = Void()
    voidp = Pointer(void)
    del uchar, short

    size_t = typedef("size_t", uint)
    kdev_t = typedef("kdev_t", ushort)

    # include/linux/list.h
    list_head = struct("list_head")
    list_head.define([("next", Pointer(list_head)), ("prev", Pointer(list_head))])

    # include/asm-i386/atomic.h, spinlock.h (UP, gcc >= 2.96: empty lock types)
    atomic = Struct(None).define([("counter", int_)])
    atomic.member("counter").volatile = True  # `typedef struct { volatile int counter; }`
    atomic_t = typedef("atomic_t", atomic)
    spinlock_t = typedef("spinlock_t", Struct(None).define([]))
    rwlock_t = typedef("rwlock_t", Struct(None).define([]))

    # include/linux/wait.h: wq_lock_t is spinlock_t when USE_RW_WAIT_QUEUE_SPINLOCK is 0
    wqh = struct("__wait_queue_head")
    wqh.define([("lock", spinlock_t), ("task_list", list_head)])
    wait_queue_head_t = typedef("wait_queue_head_t", wqh)

    # include/asm-i386/page.h: page-table entry types
    if pae:
        pte_t = typedef("pte_t", Struct(None).define([("pte_low", ulong), ("pte_high", ulong)]))
        pmd_t = typedef("pmd_t", Struct(None).define([("pmd", ulonglong)]))
        pgd_t = typedef("pgd_t", Struct(None).define([("pgd", ulonglong)]))
    else:
        pte_t = typedef("pte_t", Struct(None).define([("pte_low", ulong)]))
        pmd_t = typedef("pmd_t", Struct(None).define([("pmd", ulong)]))
        pgd_t = typedef("pgd_t", Struct(None).define([("pgd", ulong)]))
    typedef("pgprot_t", Struct(None).define([("pgprot", ulong)]))

    # include/linux/mm.h
    address_space = struct("address_space")
    buffer_head = struct("buffer_head")
    page = struct("page")
    page_members: list[tuple[str, CType]] = [
        ("list", list_head),
        ("mapping", Pointer(address_space)),
        ("index", ulong),
        ("next_hash", Pointer(page)),
        ("count", atomic_t),
        ("flags", ulong),
        ("lru", list_head),
        ("pprev_hash", Pointer(Pointer(page))),
        ("buffers", Pointer(buffer_head)),
    ]
    if highmem:
        page_members.append(("virtual", voidp))
    page.define(page_members)
    typedef("mem_map_t", page)

    # include/linux/vmalloc.h
    vm_struct = struct("vm_struct")
    vm_struct.define(
        [("flags", ulong), ("addr", voidp), ("size", ulong), ("next", Pointer(vm_struct))]
    )

    # include/linux/mmzone.h
    free_area_struct = struct("free_area_struct")
    free_area_struct.define([("free_list", list_head), ("map", Pointer(ulong))])
    free_area_t = typedef("free_area_t", free_area_struct)

    pglist_data = struct("pglist_data")
    zone_struct = struct("zone_struct")
    zone_struct.define(
        [
            ("lock", spinlock_t),
            ("free_pages", ulong),
            ("pages_min", ulong),
            ("pages_low", ulong),
            ("pages_high", ulong),
            ("need_balance", int_),
            ("free_area", Array(free_area_t, MAX_ORDER)),
            ("wait_table", Pointer(wait_queue_head_t)),
            ("wait_table_size", ulong),
            ("wait_table_shift", ulong),
            ("zone_pgdat", Pointer(pglist_data)),
            ("zone_mem_map", Pointer(page)),
            ("zone_start_paddr", ulong),
            ("zone_start_mapnr", ulong),
            ("name", Pointer(char)),
            ("size", ulong),
        ]
    )
    zone_t = typedef("zone_t", zone_struct)
    zonelist_struct = struct("zonelist_struct")
    zonelist_struct.define([("zones", Array(Pointer(zone_t), MAX_NR_ZONES + 1))])
    zonelist_t = typedef("zonelist_t", zonelist_struct)

    bootmem_data = struct("bootmem_data")
    bootmem_data.define(
        [
            ("node_boot_start", ulong),
            ("node_low_pfn", ulong),
            ("node_bootmem_map", voidp),
            ("last_offset", ulong),
            ("last_pos", ulong),
        ]
    )
    typedef("bootmem_data_t", bootmem_data)

    pglist_data.define(
        [
            ("node_zones", Array(zone_t, MAX_NR_ZONES)),
            ("node_zonelists", Array(zonelist_t, 16)),  # GFP_ZONEMASK + 1
            ("nr_zones", int_),
            ("node_mem_map", Pointer(page)),
            ("valid_addr_bitmap", Pointer(ulong)),
            ("bdata", Pointer(bootmem_data)),
            ("node_start_paddr", ulong),
            ("node_start_mapnr", ulong),
            ("node_size", ulong),
            ("node_id", int_),
            ("node_next", Pointer(pglist_data)),
        ]
    )
    pg_data_t = typedef("pg_data_t", pglist_data)

    # mm/slab.c, include/linux/slab.h
    kmem_cache_s = struct("kmem_cache_s")
    kmem_cache_t = typedef("kmem_cache_t", kmem_cache_s)
    ctor_t = Pointer(Function(void, [voidp, Pointer(kmem_cache_t), ulong]))
    kmem_cache_s.define(
        [
            ("slabs_full", list_head),
            ("slabs_partial", list_head),
            ("slabs_free", list_head),
            ("objsize", uint),
            ("flags", uint),
            ("num", uint),
            ("spinlock", spinlock_t),
            ("gfporder", uint),
            ("gfpflags", uint),
            ("colour", size_t),
            ("colour_off", uint),
            ("colour_next", uint),
            ("slabp_cache", Pointer(kmem_cache_t)),
            ("growing", uint),
            ("dflags", uint),
            ("ctor", ctor_t),
            ("dtor", ctor_t),
            ("failures", ulong),
            ("name", Array(char, CACHE_NAMELEN)),
            ("next", list_head),
        ]
    )
    kmem_bufctl_t = typedef("kmem_bufctl_t", uint)
    slab_s = struct("slab_s")
    slab_s.define(
        [
            ("list", list_head),
            ("colouroff", ulong),
            ("s_mem", voidp),
            ("inuse", uint),
            ("free", kmem_bufctl_t),
        ]
    )
    typedef("slab_t", slab_s)
    cache_sizes = struct("cache_sizes")
    cache_sizes.define(
        [
            ("cs_size", size_t),
            ("cs_cachep", Pointer(kmem_cache_t)),
            ("cs_dmacachep", Pointer(kmem_cache_t)),
        ]
    )
    cache_sizes_t = typedef("cache_sizes_t", cache_sizes)

    # include/linux/module.h
    module = struct("module")
    module_symbol = struct("module_symbol")
    module_symbol.define([("value", ulong), ("name", Pointer(char))])
    module_ref = struct("module_ref")
    module_ref.define(
        [("dep", Pointer(module)), ("ref", Pointer(module)), ("next_ref", Pointer(module_ref))]
    )
    ex_entry = struct("exception_table_entry")
    persist = struct("module_persist")
    uc = Struct(None, union=True).define([("usecount", atomic_t), ("pad", long_)])
    int_fn = Pointer(Function(int_, []))
    void_fn = Pointer(Function(void, []))
    module.define(
        [
            ("size_of_struct", ulong),
            ("next", Pointer(module)),
            ("name", Pointer(char)),
            ("size", ulong),
            ("uc", uc),
            ("flags", ulong),
            ("nsyms", uint),
            ("ndeps", uint),
            ("syms", Pointer(module_symbol)),
            ("deps", Pointer(module_ref)),
            ("refs", Pointer(module_ref)),
            ("init", int_fn),
            ("cleanup", void_fn),
            ("ex_table_start", Pointer(ex_entry)),
            ("ex_table_end", Pointer(ex_entry)),
            ("persist_start", Pointer(persist)),
            ("persist_end", Pointer(persist)),
            ("can_unload", int_fn),
            ("runsize", int_),
            ("kallsyms_start", Pointer(char)),
            ("kallsyms_end", Pointer(char)),
            ("archdata_start", Pointer(char)),
            ("archdata_end", Pointer(char)),
            ("kernel_data", Pointer(char)),
        ]
    )

    # include/linux/swap.h
    dentry = struct("dentry")
    vfsmount = struct("vfsmount")
    swap_info_struct = struct("swap_info_struct")
    swap_info_struct.define(
        [
            ("flags", uint),
            ("swap_device", kdev_t),
            ("sdev_lock", spinlock_t),
            ("swap_file", Pointer(dentry)),
            ("swap_vfsmnt", Pointer(vfsmount)),
            ("swap_map", Pointer(ushort)),
            ("lowest_bit", uint),
            ("highest_bit", uint),
            ("cluster_next", uint),
            ("cluster_nr", uint),
            ("prio", int_),
            ("pages", int_),
            ("max", ulong),
            ("next", int_),
        ]
    )
    swap_list_t = struct("swap_list_t")
    swap_list_t.define([("head", int_), ("next", int_)])

    # include/linux/sched.h
    vm_area_struct = struct("vm_area_struct")
    rb_node_s = struct("rb_node_s")
    rb_root_t = typedef("rb_root_t", Struct("rb_root_s").define([("rb_node", Pointer(rb_node_s))]))
    rw_semaphore = struct("rw_semaphore")
    rw_semaphore.define([("count", long_), ("wait_lock", spinlock_t), ("wait_list", list_head)])
    mm_context_t = typedef(
        "mm_context_t", Struct(None).define([("segments", voidp), ("cpuvalid", ulong)])
    )
    mm_struct = struct("mm_struct")
    mm_members: list[tuple[str, CType]] = [
        ("mmap", Pointer(vm_area_struct)),
        ("mm_rb", rb_root_t),
        ("mmap_cache", Pointer(vm_area_struct)),
        ("pgd", Pointer(pgd_t)),
        ("mm_users", atomic_t),
        ("mm_count", atomic_t),
        ("map_count", int_),
        ("mmap_sem", rw_semaphore),
        ("page_table_lock", spinlock_t),
        ("mmlist", list_head),
    ]
    mm_members += [
        (n, ulong)
        for n in (
            "start_code end_code start_data end_data start_brk brk start_stack "
            "arg_start arg_end env_start env_end rss total_vm locked_vm def_flags "
            "cpu_vm_mask swap_address"
        ).split()
    ]
    mm_members += [("dumpable", uint), ("context", mm_context_t)]
    mm_struct.define(mm_members)
    dumpable = mm_struct.member("dumpable")
    dumpable.bit_size = 1  # `unsigned dumpable:1`, alone in its 4-byte unit

    task_struct = _task_struct(kt, mm_struct)
    # union task_union: the task and its kernel stack in one 8 KiB, 8 KiB-aligned block
    task_union = struct("task_union", union=True)
    task_union.define([("task", task_struct), ("stack", Array(ulong, THREAD_SIZE // 4))])

    paging = paging_mode(pae)
    assert pte_t.size == paging.entry_size
    kt.variables.update(
        {
            # pgtable.h declares both so in every build: pgd_t swapper_pg_dir[1024]
            # (a PAE build uses 4 of them) and unsigned long pg0[1024]
            "swapper_pg_dir": Array(pgd_t, 1024),
            "pg0": Array(ulong, 1024),
            "pg1": Array(pte_t, paging.ptrs_per_pte),
            "empty_zero_page": Array(ulong, 1024),
            "mem_map": Pointer(page),
            "max_mapnr": ulong,
            "num_physpages": ulong,
            "totalram_pages": ulong,
            "totalhigh_pages": ulong,
            "high_memory": voidp,
            "max_low_pfn": ulong,
            "min_low_pfn": ulong,
            "max_pfn": ulong,
            "highstart_pfn": ulong,
            "highend_pfn": ulong,
            "vmlist": Pointer(vm_struct),
            "vmlist_lock": rwlock_t,
            "contig_page_data": pg_data_t,
            "pgdat_list": Pointer(pg_data_t),
            "zone_table": Array(Pointer(zone_t), MAX_NR_ZONES),
            "init_mm": mm_struct,
            "swap_mm": Pointer(mm_struct),  # mm/vmscan.c: where swap_out goes on from
            "cache_cache": kmem_cache_t,
            "clock_searchp": Pointer(kmem_cache_t),  # mm/slab.c: where kmem_cache_reap looks
            "cache_sizes": Array(cache_sizes_t, NR_GENERAL_CACHES + 1),
            "swap_info": Array(swap_info_struct, MAX_SWAPFILES),
            "nr_swapfiles": uint,
            "swap_list": swap_list_t,
            "total_swap_pages": int_,
            "nr_swap_pages": int_,
            "module_list": Pointer(module),
            "kernel_module": module,
            # kernel/fork.c, arch/i386/kernel/init_task.c
            "init_task_union": task_union,
            "pidhash": Array(Pointer(task_struct), PIDHASH_SZ),
            "nr_threads": int_,
            "max_threads": int_,
            "last_pid": int_,
            "mmlist_nr": int_,
            # kernel/sched.c: the run queue and each CPU's running task (UP: NR_CPUS 1)
            "runqueue_head": list_head,
            "nr_running": int_,
            "aligned_data": Array(_schedule_data(kt, task_struct), NR_CPUS),
            "sigact_cachep": Pointer(kmem_cache_t),
            "files_cachep": Pointer(kmem_cache_t),
            "fs_cachep": Pointer(kmem_cache_t),
            "vm_area_cachep": Pointer(kmem_cache_t),
            "mm_cachep": Pointer(kmem_cache_t),
            # arch/i386/kernel/init_task.c's statics, kernel/user.c's root_user
            "init_fs": kt.by_name["struct fs_struct"],
            "init_files": kt.by_name["struct files_struct"],
            "init_signals": kt.by_name["struct signal_struct"],
            "root_user": kt.by_name["struct user_struct"],
        }
    )
    if pae:  # arch/i386/mm/init.c: pgtable_cache_init's cache of PAE page directories
        kt.variables["pae_pgd_cachep"] = Pointer(kmem_cache_t)
    if highmem:
        kt.variables["highmem_start_page"] = Pointer(page)
        kt.variables["pkmap_page_table"] = Pointer(pte_t)
    # kernel/printk.c's ring (UP: LOG_BUF_LEN 16384) and its indices, which are
    # never masked: LOG_BUF(idx) is log_buf[idx & (LOG_BUF_LEN - 1)].
    kt.variables.update(
        {
            "log_buf": Array(char, LOG_BUF_LEN),
            "log_start": ulong,
            "con_start": ulong,
            "log_end": ulong,
            "logged_chars": ulong,
            # sys_swapon's function-local `static int least_priority`
            "least_priority": int_,
        }
    )
    kt.variables.update(_vfs_types(kt))
    del pmd_t, zonelist_t, pg_data_t, cache_sizes_t, free_area_t, int_fn, void_fn
    return kt


def _schedule_data(kt: KernelTypes, task_struct: Struct) -> Struct:
    """kernel/sched.c's element of ``aligned_data``: ``union { struct schedule_data {
    struct task_struct *curr; cycles_t last_schedule; } schedule_data; char
    __pad[SMP_CACHE_BYTES]; }``, one 32-byte cache line per CPU."""
    reg = kt.by_name
    cycles_t = reg.setdefault("cycles_t", Typedef("cycles_t", reg["unsigned long long"]))
    data = Struct("schedule_data")
    reg[data.c_name] = data
    data.define([("curr", Pointer(task_struct)), ("last_schedule", cycles_t)])
    return Struct(None, union=True).define(
        [("schedule_data", data), ("__pad", Array(reg["char"], L1_CACHE_BYTES))]
    )


def _task_struct(kt: KernelTypes, mm_struct: Struct) -> Struct:
    """``struct task_struct`` of include/linux/sched.h with what it holds by value.

    Every member keeps its 2.4.20 name, type and place (uniprocessor: NR_CPUS 1,
    so ``per_cpu_utime`` has one element). ``struct thread_struct`` holds the
    FPU state union whose ``i387_fxsave_struct`` is ``aligned(16)``, which makes
    the whole task_struct 16-byte aligned.
    """
    reg = kt.by_name

    struct, typedef = kt.declare_struct, kt.declare_typedef

    char, ushort, int_, uint = (reg[n] for n in ("char", "unsigned short", "int", "unsigned int"))
    long_, ulong = reg["long"], reg["unsigned long"]
    uchar = reg["unsigned char"]
    list_head, size_t = reg["struct list_head"], reg["size_t"]
    voidp = Pointer(Void())
    pid_t = typedef("pid_t", int_)  # __kernel_pid_t
    uid_t = typedef("uid_t", uint)  # __kernel_uid32_t
    gid_t = typedef("gid_t", uint)
    clock_t = typedef("clock_t", long_)
    u32 = typedef("u32", uint)
    kernel_cap_t = typedef("kernel_cap_t", u32)  # __u32 without STRICT_CAP_T_TYPECHECKS
    mm_segment_t = typedef("mm_segment_t", Struct(None).define([("seg", ulong)]))
    sigset_t = typedef("sigset_t", Struct(None).define([("sig", Array(ulong, NSIG_WORDS))]))
    sigqueue = struct("sigqueue")
    sigpending = struct("sigpending")
    sigpending.define(
        [("head", Pointer(sigqueue)), ("tail", Pointer(Pointer(sigqueue))), ("signal", sigset_t)]
    )
    timer_list = struct("timer_list")
    timer_list.define(
        [
            ("list", list_head),
            ("expires", ulong),
            ("data", ulong),
            ("function", Pointer(Function(Void(), [ulong]))),
        ]
    )
    tms = struct("tms")
    tms.define([(n, clock_t) for n in ("tms_utime", "tms_stime", "tms_cutime", "tms_cstime")])
    rlimit = struct("rlimit")
    rlimit.define([("rlim_cur", ulong), ("rlim_max", ulong)])

    # include/asm-i386/processor.h
    fpu_regs = [(n, long_) for n in ("cwd", "swd", "twd", "fip", "fcs", "foo", "fos")]
    fsave = struct("i387_fsave_struct")
    fsave.define([*fpu_regs, ("st_space", Array(long_, 20)), ("status", long_)])
    fxsave = struct("i387_fxsave_struct")
    fxsave.define(
        [
            *[(n, ushort) for n in ("cwd", "swd", "twd", "fop")],
            *[(n, long_) for n in ("fip", "fcs", "foo", "fos", "mxcsr", "reserved")],
            ("st_space", Array(long_, 32)),
            ("xmm_space", Array(long_, 32)),
            ("padding", Array(long_, 56)),
        ]
    )
    fxsave.define_at(fxsave.fields, fxsave.size, 16)  # __attribute__ ((aligned (16)))
    soft = struct("i387_soft_struct")
    soft.define(
        [
            *fpu_regs,
            ("st_space", Array(long_, 20)),
            *[(n, uchar) for n in ("ftop", "changed", "lookahead", "no_update", "rm", "alimit")],
            ("info", Pointer(struct("info"))),
            ("entry_eip", ulong),
        ]
    )
    i387 = struct("i387_union", union=True)
    i387.define([("fsave", fsave), ("fxsave", fxsave), ("soft", soft)])
    thread_struct = struct("thread_struct")
    thread_struct.define(
        [
            *[(n, ulong) for n in ("esp0", "eip", "esp", "fs", "gs")],
            ("debugreg", Array(ulong, 8)),
            *[(n, ulong) for n in ("cr2", "trap_no", "error_code")],
            ("i387", i387),
            ("vm86_info", Pointer(struct("vm86_struct"))),
            *[(n, ulong) for n in ("screen_bitmap", "v86flags", "v86mask", "saved_esp0")],
            ("ioperm", int_),
            ("io_bitmap", Array(ulong, IO_BITMAP_SIZE + 1)),
        ]
    )

    task = struct("task_struct")
    taskp = Pointer(task)
    members: list[tuple[str, CType]] = [
        ("state", long_),  # volatile long
        ("flags", ulong),
        ("sigpending", int_),
        ("addr_limit", mm_segment_t),
        ("exec_domain", Pointer(struct("exec_domain"))),
        ("need_resched", long_),
        ("ptrace", ulong),
        ("lock_depth", int_),
        ("counter", long_),
        ("nice", long_),
        ("policy", ulong),
        ("mm", Pointer(mm_struct)),
        ("processor", int_),
        ("cpus_runnable", ulong),
        ("cpus_allowed", ulong),
        ("run_list", list_head),
        ("sleep_time", ulong),
        ("next_task", taskp),
        ("prev_task", taskp),
        ("active_mm", Pointer(mm_struct)),
        ("local_pages", list_head),
        ("allocation_order", uint),
        ("nr_local_pages", uint),
        ("binfmt", Pointer(struct("linux_binfmt"))),
        ("exit_code", int_),
        ("exit_signal", int_),
        ("pdeath_signal", int_),
        ("personality", ulong),
        ("did_exec", int_),  # int did_exec:1
        ("pid", pid_t),
        ("pgrp", pid_t),
        ("tty_old_pgrp", pid_t),
        ("session", pid_t),
        ("tgid", pid_t),
        ("leader", int_),
        *[(n, taskp) for n in ("p_opptr", "p_pptr", "p_cptr", "p_ysptr", "p_osptr")],
        ("thread_group", list_head),
        ("pidhash_next", taskp),
        ("pidhash_pprev", Pointer(taskp)),
        ("wait_chldexit", reg["wait_queue_head_t"]),
        ("vfork_done", Pointer(struct("completion"))),
        ("rt_priority", ulong),
        *[(f"it_{w}_{k}", ulong) for k in ("value", "incr") for w in ("real", "prof", "virt")],
        ("real_timer", timer_list),
        ("times", tms),
        ("start_time", ulong),
        ("per_cpu_utime", Array(long_, NR_CPUS)),
        ("per_cpu_stime", Array(long_, NR_CPUS)),
        *[(n, ulong) for n in ("min_flt", "maj_flt", "nswap", "cmin_flt", "cmaj_flt", "cnswap")],
        ("swappable", int_),  # int swappable:1
        *[(n, uid_t) for n in ("uid", "euid", "suid", "fsuid")],
        *[(n, gid_t) for n in ("gid", "egid", "sgid", "fsgid")],
        ("ngroups", int_),
        ("groups", Array(gid_t, NGROUPS)),
        *[(n, kernel_cap_t) for n in ("cap_effective", "cap_inheritable", "cap_permitted")],
        ("keep_capabilities", int_),  # int keep_capabilities:1
        ("user", Pointer(struct("user_struct"))),
        ("rlim", Array(rlimit, RLIM_NLIMITS)),
        ("used_math", ushort),
        ("comm", Array(char, 16)),
        ("link_count", int_),
        ("total_link_count", int_),
        ("tty", Pointer(struct("tty_struct"))),
        ("locks", uint),
        ("semundo", Pointer(struct("sem_undo"))),
        ("semsleeping", Pointer(struct("sem_queue"))),
        ("thread", thread_struct),
        ("fs", Pointer(struct("fs_struct"))),
        ("files", Pointer(struct("files_struct"))),
        ("namespace", Pointer(struct("namespace"))),
        ("sigmask_lock", reg["spinlock_t"]),
        ("sig", Pointer(struct("signal_struct"))),
        ("blocked", sigset_t),
        ("pending", sigpending),
        ("sas_ss_sp", ulong),
        ("sas_ss_size", size_t),
        ("notifier", Pointer(Function(int_, [voidp]))),
        ("notifier_data", voidp),
        ("notifier_mask", Pointer(sigset_t)),
        ("parent_exec_id", u32),
        ("self_exec_id", u32),
        ("alloc_lock", reg["spinlock_t"]),
        ("journal_info", voidp),
    ]
    task.define(members)
    for name in ("did_exec", "swappable", "keep_capabilities"):
        task.member(name).bit_size = 1  # `int NAME:1`, alone in its 4-byte unit
    for name in ("state", "need_resched"):
        task.member(name).volatile = True  # `volatile long`
    _process_parts(kt, sigset_t, uid_t)
    del char
    return task


def _process_parts(kt: KernelTypes, sigset_t: CType, uid_t: CType) -> None:
    """What ``fork`` allocates besides the task: ``struct vm_area_struct`` (and the
    ``rb_node_t`` it holds), ``signal_struct``, ``files_struct``, ``fs_struct``, and
    ``user_struct``, as include/linux/{mm,sched,fs_struct,rbtree}.h define them."""
    reg = kt.by_name
    int_, ulong, atomic_t = reg["int"], reg["unsigned long"], reg["atomic_t"]
    spinlock_t, rwlock_t = reg["spinlock_t"], reg["rwlock_t"]
    voidp = Pointer(Void())

    struct = kt.declare_struct

    rb_node_s = struct("rb_node_s")
    rb_node_s.define(
        [
            ("rb_parent", Pointer(rb_node_s)),
            ("rb_color", int_),
            ("rb_right", Pointer(rb_node_s)),
            ("rb_left", Pointer(rb_node_s)),
        ]
    )
    rb_node_t = reg["rb_node_t"] = Typedef("rb_node_t", rb_node_s)
    vma = struct("vm_area_struct")
    vmap = Pointer(vma)
    vma.define(
        [
            ("vm_mm", Pointer(struct("mm_struct"))),
            ("vm_start", ulong),
            ("vm_end", ulong),
            ("vm_next", vmap),
            ("vm_page_prot", reg["pgprot_t"]),
            ("vm_flags", ulong),
            ("vm_rb", rb_node_t),
            ("vm_next_share", vmap),
            ("vm_pprev_share", Pointer(vmap)),
            ("vm_ops", Pointer(struct("vm_operations_struct"))),
            ("vm_pgoff", ulong),
            ("vm_file", Pointer(struct("file"))),
            ("vm_raend", ulong),
            ("vm_private_data", voidp),
        ]
    )
    # include/asm-i386/signal.h (the kernel's struct sigaction)
    sigaction = struct("sigaction")
    sigaction.define(
        [
            ("sa_handler", Pointer(Function(Void(), [int_]))),  # __sighandler_t
            ("sa_flags", ulong),
            ("sa_restorer", Pointer(Function(Void(), []))),
            ("sa_mask", sigset_t),
        ]
    )
    k_sigaction = struct("k_sigaction")
    k_sigaction.define([("sa", sigaction)])
    struct("signal_struct").define(
        [("count", atomic_t), ("action", Array(k_sigaction, NSIG)), ("siglock", spinlock_t)]
    )
    # include/linux/posix_types.h: fd_set of __FD_SETSIZE (1024) bits
    fd_set = reg["fd_set"] = Typedef(
        "fd_set", Struct(None).define([("fds_bits", Array(ulong, 1024 // 32))])
    )
    filep = Pointer(struct("file"))
    struct("files_struct").define(
        [
            ("count", atomic_t),
            ("file_lock", rwlock_t),
            ("max_fds", int_),
            ("max_fdset", int_),
            ("next_fd", int_),
            ("fd", Pointer(filep)),
            ("close_on_exec", Pointer(fd_set)),
            ("open_fds", Pointer(fd_set)),
            ("close_on_exec_init", fd_set),
            ("open_fds_init", fd_set),
            ("fd_array", Array(filep, NR_OPEN_DEFAULT)),
        ]
    )
    dentry, vfsmount = Pointer(struct("dentry")), Pointer(struct("vfsmount"))
    struct("fs_struct").define(
        [
            ("count", atomic_t),
            ("lock", rwlock_t),
            ("umask", int_),
            ("root", dentry),
            ("pwd", dentry),
            ("altroot", dentry),
            ("rootmnt", vfsmount),
            ("pwdmnt", vfsmount),
            ("altrootmnt", vfsmount),
        ]
    )
    user = struct("user_struct")
    user.define(
        [
            ("__count", atomic_t),
            ("processes", atomic_t),
            ("files", atomic_t),
            ("next", Pointer(user)),
            ("pprev", Pointer(Pointer(user))),
            ("uid", uid_t),
        ]
    )


def _vfs_types(kt: KernelTypes) -> dict[str, CType]:
    """The page cache's types of include/linux/fs.h, with the inode that holds an
    ``address_space``, and the globals ``vfs_caches_init``, ``buffer_init`` and
    ``page_cache_init`` set (and the LRU lists and counters of mm/page_alloc.c).

    ``struct inode``'s union ``u`` has the three members the simulator can name
    (``ext2_i``, ``nfs_i``, the largest of the 28, and ``generic_ip``), so the
    inode is its 2.4.20 size (448 bytes with the empty UP locks); the other
    filesystems' parts are not written out.
    """
    reg = kt.by_name

    struct, typedef = kt.declare_struct, kt.declare_typedef

    char, uchar, ushort = reg["char"], reg["unsigned char"], reg["unsigned short"]
    int_, uint, long_, ulong = reg["int"], reg["unsigned int"], reg["long"], reg["unsigned long"]
    u64 = typedef("__u64", reg["unsigned long long"])
    u32 = typedef("__u32", uint)
    u8 = typedef("__u8", uchar)
    list_head, atomic_t, spinlock_t = reg["struct list_head"], reg["atomic_t"], reg["spinlock_t"]
    wait_queue_head_t = reg["wait_queue_head_t"]
    kdev_t = reg["kdev_t"]
    umode_t = typedef("umode_t", ushort)
    nlink_t = typedef("nlink_t", ushort)  # __kernel_nlink_t
    uid_t = typedef("uid_t", uint)  # __kernel_uid32_t
    gid_t = typedef("gid_t", uint)
    loff_t = typedef("loff_t", reg["long long"])
    time_t = typedef("time_t", long_)
    dev_t = typedef("dev_t", ushort)  # __kernel_dev_t
    del dev_t

    # include/asm-i386/semaphore.h (no WAITQUEUE_DEBUG)
    semaphore = struct("semaphore")
    semaphore.define([("count", atomic_t), ("sleepers", int_), ("wait", wait_queue_head_t)])

    inode = struct("inode")
    address_space = struct("address_space")
    address_space.define(
        [
            ("clean_pages", list_head),
            ("dirty_pages", list_head),
            ("locked_pages", list_head),
            ("nrpages", ulong),
            ("a_ops", Pointer(struct("address_space_operations"))),
            ("host", Pointer(inode)),
            ("i_mmap", Pointer(struct("vm_area_struct"))),
            ("i_mmap_shared", Pointer(struct("vm_area_struct"))),
            ("i_shared_lock", spinlock_t),
            ("gfp_mask", int_),
        ]
    )
    ext2 = struct("ext2_inode_info")
    ext2.define(
        [
            ("i_data", Array(u32, 15)),
            ("i_flags", u32),
            ("i_faddr", u32),
            ("i_frag_no", u8),
            ("i_frag_size", u8),
            *[
                (n, u32)
                for n in (
                    "i_file_acl i_dir_acl i_dtime i_block_group i_next_alloc_block "
                    "i_next_alloc_goal i_prealloc_block i_prealloc_count i_dir_start_lookup"
                ).split()
            ],
            ("i_new_inode", int_),
        ]
    )
    ext2.member("i_new_inode").bit_size = 1  # `int i_new_inode:1`
    nfs_fh = struct("nfs_fh")
    nfs_fh.define([("size", ushort), ("data", Array(uchar, 64))])  # NFS_MAXFHSIZE
    nfs = struct("nfs_inode_info")
    nfs.define(
        [
            ("fileid", u64),
            ("fh", nfs_fh),
            ("flags", ushort),
            ("read_cache_jiffies", ulong),
            ("read_cache_ctime", u64),
            ("read_cache_mtime", u64),
            ("read_cache_isize", u64),
            ("attrtimeo", ulong),
            ("attrtimeo_timestamp", ulong),
            ("cache_mtime_jiffies", ulong),
            ("cookieverf", Array(u32, 2)),
            *[(n, list_head) for n in ("read", "dirty", "commit", "writeback")],
            *[(n, uint) for n in ("nread", "ndirty", "ncommit", "npages")],
            ("mm_cred", Pointer(struct("rpc_cred"))),
        ]
    )
    u = Struct(None, union=True).define(
        [("ext2_i", ext2), ("nfs_i", nfs), ("generic_ip", Pointer(Void()))]
    )
    inode.define(
        [
            *[
                (n, list_head)
                for n in ("i_hash", "i_list", "i_dentry", "i_dirty_buffers", "i_dirty_data_buffers")
            ],
            ("i_ino", ulong),
            ("i_count", atomic_t),
            ("i_dev", kdev_t),
            ("i_mode", umode_t),
            ("i_nlink", nlink_t),
            ("i_uid", uid_t),
            ("i_gid", gid_t),
            ("i_rdev", kdev_t),
            ("i_size", loff_t),
            ("i_atime", time_t),
            ("i_mtime", time_t),
            ("i_ctime", time_t),
            ("i_blkbits", uint),
            ("i_blksize", ulong),
            ("i_blocks", ulong),
            ("i_version", ulong),
            ("i_sem", semaphore),
            ("i_zombie", semaphore),
            ("i_op", Pointer(struct("inode_operations"))),
            ("i_fop", Pointer(struct("file_operations"))),
            ("i_sb", Pointer(struct("super_block"))),
            ("i_wait", wait_queue_head_t),
            ("i_flock", Pointer(struct("file_lock"))),
            ("i_mapping", Pointer(address_space)),
            ("i_data", address_space),
            ("i_dquot", Array(Pointer(struct("dquot")), 2)),  # MAXQUOTAS
            ("i_devices", list_head),
            ("i_pipe", Pointer(struct("pipe_inode_info"))),
            ("i_bdev", Pointer(struct("block_device"))),
            ("i_cdev", Pointer(struct("char_device"))),
            ("i_dnotify_mask", ulong),
            ("i_dnotify", Pointer(struct("dnotify_struct"))),
            ("i_state", ulong),
            ("i_flags", uint),
            ("i_sock", uchar),
            ("i_writecount", atomic_t),
            ("i_attr_flags", uint),
            ("i_generation", u32),
            ("u", u),
        ]
    )
    _super_block(reg, struct, inode)
    inodes_stat_t = struct("inodes_stat_t")
    inodes_stat_t.define([("nr_inodes", int_), ("nr_unused", int_), ("dummy", Array(int_, 5))])
    files_stat_struct = struct("files_stat_struct")
    files_stat_struct.define([(n, int_) for n in ("nr_files", "nr_free_files", "max_files")])
    kmem_cache_p = Pointer(reg["kmem_cache_t"])  # as fs/*.c declare their caches
    page_p = Pointer(reg["struct page"])
    del char
    hash_heads = Array(list_head, 64)  # fs/block_dev.c, fs/char_dev.c: HASH_SIZE
    return {
        # fs/dcache.c
        "dentry_cache": kmem_cache_p,
        "d_hash_mask": uint,
        "d_hash_shift": uint,
        "dentry_hashtable": Pointer(list_head),
        "names_cachep": kmem_cache_p,
        "filp_cachep": kmem_cache_p,
        "bh_cachep": kmem_cache_p,
        # fs/inode.c
        "i_hash_mask": uint,
        "i_hash_shift": uint,
        "inode_in_use": list_head,
        "inode_unused": list_head,
        "inode_hashtable": Pointer(list_head),
        "inodes_stat": inodes_stat_t,
        "inode_cachep": kmem_cache_p,
        "dentry_unused": list_head,
        "dentry_stat": struct("dentry_stat_t"),
        # fs/super.c, fs/ext2/super.c (its DECLARE_FSTYPE_DEV is static)
        "super_blocks": list_head,
        "ext2_fs_type": struct("file_system_type"),
        # fs/file_table.c, fs/namespace.c, fs/block_dev.c, fs/char_dev.c, fs/iobuf.c
        "files_stat": files_stat_struct,
        "mnt_cache": kmem_cache_p,
        "hash_mask": int_,
        "hash_bits": int_,
        "mount_hashtable": Pointer(list_head),
        "bdev_hashtable": hash_heads,
        "bdev_cachep": kmem_cache_p,
        "cdev_hashtable": hash_heads,
        "cdev_cachep": kmem_cache_p,
        "kiobuf_cachep": kmem_cache_p,
        # fs/buffer.c
        "hash_table": Pointer(Pointer(reg["struct buffer_head"])),
        "bh_hash_mask": uint,
        "bh_hash_shift": uint,
        "buffermem_pages": atomic_t,
        "unused_list": Pointer(reg["struct buffer_head"]),
        "nr_unused_buffer_heads": int_,
        # mm/filemap.c, mm/swap_state.c, mm/page_alloc.c
        "page_cache_size": atomic_t,
        "page_hash_bits": uint,
        "page_hash_table": Pointer(page_p),
        "swapper_space": address_space,
        "nr_active_pages": int_,
        "nr_inactive_pages": int_,
        "inactive_list": list_head,
        "active_list": list_head,
    }


def _super_block(reg: dict[str, CType], struct: Callable[[str], Struct], inode: Struct) -> None:
    """``struct super_block``, ``file_system_type``, ``dentry`` and ``buffer_head`` of
    include/linux/fs.h and dcache.h, as gcc -m32 lays out 2.4.20's headers (484, 28,
    108 and 92 bytes).

    The super_block's union ``u`` has the members the simulator fills, ``ext2_sb``
    and ``generic_sbp``, at the size of its largest of 26 (``ncpfs_sb``, 264 bytes);
    the other filesystems' parts are not written out.
    """
    char, uchar, ushort = reg["char"], reg["unsigned char"], reg["unsigned short"]
    int_, uint, long_, ulong = reg["int"], reg["unsigned int"], reg["long"], reg["unsigned long"]
    list_head, atomic_t = reg["struct list_head"], reg["atomic_t"]
    kdev_t, wait_queue_head_t = reg["kdev_t"], reg["wait_queue_head_t"]
    semaphore, rw_semaphore = reg["struct semaphore"], reg["struct rw_semaphore"]
    uid_t, gid_t, time_t = reg["uid_t"], reg["gid_t"], reg["time_t"]
    voidp = Pointer(Void())
    bh = struct("buffer_head")
    bh_p = Pointer(bh)
    sb = struct("super_block")
    dentry = struct("dentry")

    # include/linux/ext2_fs_sb.h (EXT2_MAX_GROUP_LOADED 8)
    ext2_sb = struct("ext2_sb_info")
    ext2_sb.define(
        [
            *[
                (n, ulong)
                for n in (
                    "s_frag_size s_frags_per_block s_inodes_per_block s_frags_per_group "
                    "s_blocks_per_group s_inodes_per_group s_itb_per_group s_gdb_count "
                    "s_desc_per_block s_groups_count"
                ).split()
            ],
            ("s_sbh", bh_p),
            ("s_es", Pointer(struct("ext2_super_block"))),
            ("s_group_desc", Pointer(bh_p)),
            ("s_loaded_inode_bitmaps", ushort),
            ("s_loaded_block_bitmaps", ushort),
            ("s_inode_bitmap_number", Array(ulong, 8)),
            ("s_inode_bitmap", Array(bh_p, 8)),
            ("s_block_bitmap_number", Array(ulong, 8)),
            ("s_block_bitmap", Array(bh_p, 8)),
            ("s_mount_opt", ulong),
            ("s_resuid", uid_t),
            ("s_resgid", gid_t),
            ("s_mount_state", ushort),
            ("s_pad", ushort),
            *[
                (n, int_)
                for n in (
                    "s_addr_per_block_bits s_desc_per_block_bits s_inode_size s_first_ino"
                ).split()
            ],
        ]
    )
    # include/linux/quota.h (MAXQUOTAS 2)
    quota = struct("quota_mount_options")
    quota.define(
        [
            ("flags", uint),
            ("dqio_sem", semaphore),
            ("dqoff_sem", semaphore),
            ("files", Array(Pointer(struct("file")), 2)),
            ("inode_expire", Array(time_t, 2)),
            ("block_expire", Array(time_t, 2)),
            ("rsquash", Array(char, 2)),
        ]
    )
    u = Struct(None, union=True)
    u.define_at([Field("ext2_sb", ext2_sb, 0), Field("generic_sbp", voidp, 0)], 264)
    fstype = struct("file_system_type")
    sb.define(
        [
            ("s_list", list_head),
            ("s_dev", kdev_t),
            ("s_blocksize", ulong),
            ("s_blocksize_bits", uchar),
            ("s_dirt", uchar),
            ("s_maxbytes", reg["unsigned long long"]),
            ("s_type", Pointer(fstype)),
            ("s_op", Pointer(struct("super_operations"))),
            ("dq_op", Pointer(struct("dquot_operations"))),
            ("s_flags", ulong),
            ("s_magic", ulong),
            ("s_root", Pointer(dentry)),
            ("s_umount", rw_semaphore),
            ("s_lock", semaphore),
            ("s_count", int_),
            ("s_active", atomic_t),
            ("s_dirty", list_head),
            ("s_locked_inodes", list_head),
            ("s_files", list_head),
            ("s_bdev", Pointer(struct("block_device"))),
            ("s_instances", list_head),
            ("s_dquot", quota),
            ("u", u),
            ("s_vfs_rename_sem", semaphore),
            ("s_nfsd_free_path_sem", semaphore),
        ]
    )
    read_super = Function(Pointer(sb), [Pointer(sb), voidp, int_])
    fstype.define(
        [
            ("name", Pointer(char)),
            ("fs_flags", int_),
            ("read_super", Pointer(read_super)),
            ("owner", Pointer(reg["struct module"])),
            ("next", Pointer(fstype)),
            ("fs_supers", list_head),
        ]
    )
    # include/linux/dcache.h (DNAME_INLINE_LEN 16)
    qstr = struct("qstr")
    qstr.define([("name", Pointer(uchar)), ("len", uint), ("hash", uint)])
    dentry.define(
        [
            ("d_count", atomic_t),
            ("d_flags", uint),
            ("d_inode", Pointer(inode)),
            ("d_parent", Pointer(dentry)),
            *[(n, list_head) for n in ("d_hash", "d_lru", "d_child", "d_subdirs", "d_alias")],
            ("d_mounted", int_),
            ("d_name", qstr),
            ("d_time", ulong),
            ("d_op", Pointer(struct("dentry_operations"))),
            ("d_sb", Pointer(sb)),
            ("d_vfs_flags", ulong),
            ("d_fsdata", voidp),
            ("d_iname", Array(uchar, 16)),
        ]
    )
    struct("dentry_stat_t").define(
        [
            *[(n, int_) for n in ("nr_dentry", "nr_unused", "age_limit", "want_pages")],
            ("dummy", Array(int_, 2)),
        ]
    )
    end_io = Function(Void(), [bh_p, int_])
    bh.define(
        [
            ("b_next", bh_p),
            ("b_blocknr", ulong),
            ("b_size", ushort),
            ("b_list", ushort),
            ("b_dev", kdev_t),
            ("b_count", atomic_t),
            ("b_rdev", kdev_t),
            ("b_state", ulong),
            ("b_flushtime", ulong),
            ("b_next_free", bh_p),
            ("b_prev_free", bh_p),
            ("b_this_page", bh_p),
            ("b_reqnext", bh_p),
            ("b_pprev", Pointer(bh_p)),
            ("b_data", Pointer(char)),
            ("b_page", Pointer(reg["struct page"])),
            ("b_end_io", Pointer(end_io)),
            ("b_private", voidp),
            ("b_rsector", ulong),
            ("b_wait", wait_queue_head_t),
            ("b_inode", Pointer(inode)),
            ("b_inode_buffers", list_head),
        ]
    )
    del long_
