"""A process's user address space: what ``execve`` maps, what ``fork`` copies and
``exit`` takes down, and the user-mode accesses that fault pages in.

``execve`` (``fs/exec.c``, ``fs/binfmt_elf.c``): ``copy_strings`` puts the file
name, environment and arguments at the top of a page from
``alloc_page(GFP_HIGHUSER)``; ``setup_arg_pages`` makes the stack area under
``STACK_TOP`` and maps that page (``put_dirty_page``); ``load_elf_binary``
maps the program's text and data and makes its bss with ``set_brk`` (``do_brk``),
where the heap (``start_brk``, ``brk``) begins.

Deviation: the text and data ``load_elf_binary`` maps from the program's file
(``elf_map``, ``vm_file`` the executable's) are anonymous stand-ins here, with
the flags and protections an ELF's PT_LOAD segments get but no ``vm_file``:
the page cache holds no executable to map. They are never touched, so they
take no memory, as a program's untouched text would not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.sim.errors import KernelHang, SimulationError, kernel_function
from vmintro.sim.memory import GFP_HIGHUSER, UserMemory
from vmintro.sim.mmap import (
    MAP_FIXED,
    MAP_PRIVATE,
    PAGE_COPY,
    PAGE_MASK,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    STACK_TOP,
    TASK_SIZE,
    VM_GROWSDOWN,
    VM_READ,
    VM_WRITE,
    Mmap,
    page_align,
)
from vmintro.types.flags import VM_FLAGS

if TYPE_CHECKING:
    from vmintro.sim.process import Processes

__all__ = ["ELF_TEXT_START", "PROGRAMS", "UserVM"]

MM = "struct mm_struct"
TS = "struct task_struct"
VMA = "struct vm_area_struct"
MAX_ARG_PAGES = 32
ELF_TEXT_START = 0x08048000  # the i386 ELF link address of a program's text
# init/main.c's envp_init, which init passes on to what it runs
ENVP = ("HOME=/", "TERM=linux")
# A program's sizes in bytes: (text, data, bss), as its PT_LOAD segments give them;
# what is not named here gets DEFAULT_PROGRAM
PROGRAMS: dict[str, tuple[int, int, int]] = {
    "init": (0x5A00, 0x2F0, 0x1A0),
    "syslogd": (0x8F00, 0x4A0, 0x2B00),
    "klogd": (0x4C00, 0x1F4, 0x1AC0),
    "crond": (0x3E00, 0x1C0, 0x420),
    "sshd": (0x3A000, 0x16A0, 0x6F4),
    "atd": (0x3400, 0x1A0, 0x3C0),
    "bash": (0x7C000, 0x4B80, 0x4A60),
}
DEFAULT_PROGRAM = (0x10000, 0x800, 0x1000)
_PRESENT, _RW, _USER, _ACCESSED, _DIRTY = 0x1, 0x2, 0x4, 0x20, 0x40
SIGKILL, SIGSEGV = 9, 11


class UserVM:
    """The address spaces of the processes of ``procs``."""

    def __init__(self, procs: Processes) -> None:
        self.procs = procs
        self.k = procs.k
        self.mmap = Mmap(procs.k, procs.slab)
        self.mem = UserMemory(procs.k, procs.buddy, self.mmap)
        # the pid whose user-mode access is being handled, and whether the OOM
        # killer chose it meanwhile (it dies when it would return to user mode)
        self.current: int | None = None
        self.doomed = False

    def rlim(self, task: int) -> int:
        return task + self.k.types.offsetof(TS, "rlim")

    # -- exec -----------------------------------------------------------------------

    @kernel_function("copy_strings")
    def copy_strings(self, filename: str, argv: tuple[str, ...]) -> tuple[int, int, bytes]:
        """``copy_strings_kernel`` of the file name, then ``copy_strings`` of the
        environment and the arguments (each list from its last string down) into
        the top argument page. Returns (that page, ``bprm->p``, its bytes).

        :raises SimulationError: -ENOMEM (``alloc_page`` failed) or -E2BIG.
        """
        p = PAGE_SIZE * MAX_ARG_PAGES - 4
        data = bytearray(PAGE_SIZE)
        for s in (filename, *reversed(ENVP), *reversed(argv)):
            raw = s.encode() + b"\0"
            p -= len(raw)
            if p < PAGE_SIZE * (MAX_ARG_PAGES - 1):
                raise SimulationError("do_execve: -E2BIG (the simulator keeps one argument page)")
            data[p % PAGE_SIZE : p % PAGE_SIZE + len(raw)] = raw
        page = self.procs.buddy.alloc_pages(GFP_HIGHUSER, 0)
        if page is None:
            raise SimulationError("do_execve: -ENOMEM")
        self.k.mem.write(self.k.page_pfn(page) * PAGE_SIZE, bytes(data))
        return page, p, bytes(data)

    @kernel_function("setup_arg_pages")
    def setup_arg_pages(self, task: int, page: int, p: int) -> int:
        """``setup_arg_pages``: the stack area from ``bprm->p``'s page up to
        ``STACK_TOP`` and the argument page in it (``put_dirty_page``). Returns
        ``bprm->p`` as a user address."""
        mm = self.procs.get(task, "mm")
        stack_base = STACK_TOP - MAX_ARG_PAGES * PAGE_SIZE
        p += stack_base
        if self.mmap.stack_vma(mm, p & PAGE_MASK) is None:
            self.procs.buddy.free_pages(page)
            raise SimulationError("do_execve: -ENOMEM")
        self.put_dirty_page(mm, page, stack_base + (MAX_ARG_PAGES - 1) * PAGE_SIZE)
        return p

    @kernel_function("put_dirty_page")
    def put_dirty_page(self, mm: int, page: int, address: int) -> None:
        """``put_dirty_page``: ``page`` mapped at ``address``, writable and dirty."""
        from vmintro.sim.lru import lru_cache_add

        um = self.mem
        pmd = um.pmd_alloc(um.pgd_offset(mm, address), address)
        pte = um.pt.pte_alloc(self.procs.buddy, pmd, address)
        if pte is None or um.pt.get(pte):
            self.procs.buddy.free_pages(page)
            raise SimulationError("put_dirty_page: no page table (the task gets SIGKILL)")
        lru_cache_add(self.k, page)
        um.pt.set_pte(pte, self.k.paging.mk_pte(self.k.page_pfn(page), PAGE_COPY) | _RW | _DIRTY)
        um._rss(mm, 1)

    @kernel_function("load_elf_binary")
    def load_elf_binary(self, task: int, name: str, p: int, argv: tuple[str, ...]) -> None:
        """What ``load_elf_binary`` leaves in ``mm`` after ``setup_arg_pages``: the
        text and data (anonymous stand-ins, see the module), the bss by ``set_brk``,
        and the mm's layout fields."""
        mm = self.procs.get(task, "mm")
        text, data, bss = PROGRAMS.get(name, DEFAULT_PROGRAM)
        rlim = self.rlim(task)
        mmap = self.mmap
        start_code = ELF_TEXT_START
        end_code = start_code + text
        start_data = page_align(end_code) + (end_code & (PAGE_SIZE - 1))  # ELF's file offset
        end_data = start_data + data
        elf_bss, elf_brk = end_data, end_data + bss
        for addr, end, prot in (
            (start_code, end_code, PROT_READ | PROT_EXEC),
            (start_data & PAGE_MASK, end_data, PROT_READ | PROT_WRITE),
        ):
            got = mmap.do_mmap_pgoff(mm, rlim, addr, end - addr, prot, MAP_PRIVATE | MAP_FIXED)
            if got != addr:
                raise SimulationError(f"load_elf_binary: do_mmap failed ({got:#x})")
        start = page_align(elf_bss)
        if elf_brk > start:  # set_brk
            mmap.do_brk(mm, rlim, start, page_align(elf_brk) - start)
        arg_start = p  # bprm->p: argv's strings, then envp's, then the file name
        strings = [*argv, *ENVP]
        arg_end = arg_start + sum(len(s.encode()) + 1 for s in argv)
        env_end = arg_end + sum(len(s.encode()) + 1 for s in ENVP)
        self.k.set_many(
            mm,
            MM,
            start_code=start_code,
            end_code=end_code,
            start_data=start_data,
            end_data=end_data,
            start_brk=elf_brk,
            brk=elf_brk,
            start_stack=(p & ~15) - 4 * (len(strings) + 3),  # argc, argv[], envp[]
            arg_start=arg_start,
            arg_end=arg_end,
            env_start=arg_end,
            env_end=env_end,
        )

    def execve(self, task: int, filename: str, exec_mmap: object) -> None:
        """The memory part of ``do_execve`` of ``filename`` by ``task``: strings,
        ``flush_old_exec``'s ``exec_mmap`` (the callable), stack, program."""
        name = filename.rsplit("/", 1)[-1]
        argv = (name,)
        page, p, _ = self.copy_strings(filename, argv)
        assert callable(exec_mmap)
        exec_mmap(task)
        p = self.setup_arg_pages(task, page, p)
        self.load_elf_binary(task, name, p, argv)

    # -- fork and exit --------------------------------------------------------------

    def dup_mmap(self, mm: int, oldmm: int) -> bool:
        """``dup_mmap``'s loop: a copy of each area (``VM_LOCKED`` off) on the new
        list, its page tables copied (``copy_page_range``), then ``build_mmap_rb``.
        False for -ENOMEM."""
        mmap = self.mmap
        pprev = mm + self.k.types.offsetof(MM, "mmap")
        size = self.k.types.sizeof(VMA)
        ok = True
        for mpnt in mmap.vmas(oldmm):
            if mmap.get(mpnt, "vm_flags") & VM_FLAGS["VM_DONTCOPY"]:
                continue
            tmp = self.procs.slab.kmem_cache_alloc(mmap._cachep(), 0x1F0)
            if tmp is None:
                ok = False
                break
            self.k.write(tmp, self.k.read(mpnt, size))
            mmap.set(tmp, "vm_flags", mmap.get(tmp, "vm_flags") & ~VM_FLAGS["VM_LOCKED"])
            mmap.set(tmp, "vm_mm", mm)
            mmap.set(tmp, "vm_next", 0)
            self.k.w32(pprev, tmp)
            pprev = tmp + self.k.types.offsetof(VMA, "vm_next")
            mmap.mm_set(mm, "map_count", mmap.mm_get(mm, "map_count") + 1)
            if not self.mem.copy_page_range(mm, oldmm, tmp):
                ok = False
                break
        if ok:
            mmap.build_mmap_rb(mm)
        return ok

    @kernel_function("exit_mmap")
    def exit_mmap(self, mm: int) -> None:
        """``exit_mmap``: the counters cleared, each area's pages zapped and the area
        freed, then the page tables (``clear_page_tables``)."""
        mmap = self.mmap
        vmas = mmap.vmas(mm)
        self.k.set_many(mm, MM, mmap=0, mmap_cache=0, rss=0, total_vm=0, locked_vm=0)
        self.k.set(mm, MM, "mm_rb.rb_node", 0)
        for vma in vmas:
            mmap.mm_set(mm, "map_count", mmap.mm_get(mm, "map_count") - 1)
            start, end = mmap.get(vma, "vm_start"), mmap.get(vma, "vm_end")
            self.mem.zap_page_range(mm, start, end - start)
            mmap.free_vma(vma)
        self.k.set(mm, MM, "map_count", 0)
        self.mem.clear_page_tables(mm)

    # -- user-mode accesses ---------------------------------------------------------

    def user_access(self, pid: int, address: int, write: bool) -> str:
        """A user-mode access by ``pid``: ``"mapped"`` (the MMU found the page and
        set its accessed and dirty bits), ``"fault"`` (``do_page_fault`` mapped it),
        ``"segv"`` (no area allows it: SIGSEGV, the process is gone) or ``"killed"``
        (the OOM killer chose the process while it faulted: it is gone)."""
        task = self.procs.task_of(pid)
        mm = self.procs.get(task, "mm")
        um = self.mem
        pte = um.walk(mm, address) if mm else None
        if pte is not None:
            entry = um.pt.get(pte)
            if entry & _PRESENT and entry & _USER and (entry & _RW or not write):
                um.pt.set_pte(pte, entry | _ACCESSED | (_DIRTY if write else 0))
                return "mapped"
        present = pte is not None and bool(um.pt.get(pte) & _PRESENT)
        self.current, self.doomed = pid, False
        try:
            result = self.do_page_fault(task, mm, address, 4 | (2 if write else 0) | present)
        finally:
            self.current = None
        if self.doomed or result in ("segv", "oom"):
            self.procs.exit(pid, SIGSEGV if result == "segv" else SIGKILL)
            return "segv" if result == "segv" else "killed"
        return "fault"

    @kernel_function("do_page_fault", entry=("address", "error_code"))
    def do_page_fault(self, task: int, mm: int, address: int, error_code: int) -> str:
        """``do_page_fault`` of a user-mode access below ``TASK_SIZE``: :meth:`fault`."""
        return self.fault(task, mm, address, error_code)

    def fault(self, task: int, mm: int, address: int, error_code: int) -> str:
        """``do_page_fault`` below ``TASK_SIZE`` (``error_code`` bit 2 set: from user
        mode): ``"fault"`` (mapped now), ``"segv"`` (``bad_area``) or ``"oom"``."""
        mmap = self.mmap
        if not mm or address >= TASK_SIZE:
            return "segv"
        vma = mmap.find_vma(mm, address)
        if not vma:
            return "segv"
        flags = mmap.get(vma, "vm_flags")
        if mmap.get(vma, "vm_start") > address:
            # the user's stack pointer is taken to be at the address (no "address +
            # 32 < esp" refusal)
            if not flags & VM_GROWSDOWN or not mmap.expand_stack(vma, address, self.rlim(task)):
                return "segv"
        write = False
        if error_code & 2:
            if not flags & VM_WRITE:
                return "segv"
            write = True
        elif error_code & 1:
            return "segv"
        elif not flags & (VM_READ | VM_FLAGS["VM_EXEC"]):
            return "segv"
        while True:
            result = self.mem.handle_mm_fault(mm, vma, address, write)
            if result > 0:
                self.procs.set(task, "min_flt", self.procs.get(task, "min_flt") + 1)
                return "fault"
            if self.procs.get(task, "pid") != 1:
                self.k.printk(f"VM: killing process {self.procs.comm(task)}")
                return "oom"
            raise KernelHang(
                "do_page_fault", "init is out of memory: yield() and goto survive, forever"
            )

    # -- the scenario's system calls and accesses -----------------------------------

    @kernel_function("touch", entry=("pid", "addr=address", "size"))
    def touch(self, pid: int, address: int, size: int, write: bool) -> tuple[str, int]:
        """Process ``pid`` writes (or reads) every page of ``size`` bytes from
        ``address`` in user mode. Returns the outcome (``"mapped"``: no fault,
        ``"fault"``: pages were faulted in, ``"segv"`` or ``"killed"``: the process
        died there) and the number of faults that mapped a page.

        :raises SimulationError: no such process.
        """
        task = self.procs.task_of(pid)
        if not self.procs.get(task, "mm"):
            raise SimulationError(f"pid {pid} is a kernel thread: it has no user memory")
        first, last = address & PAGE_MASK, (address + max(size, 1) - 1) & PAGE_MASK
        if last < first or last >= TASK_SIZE:
            raise SimulationError(f"touch: {address:#x}+{size:#x} goes past TASK_SIZE")
        outcome, faults = "mapped", 0
        for page in range(first, last + PAGE_SIZE, PAGE_SIZE):
            got = self.user_access(pid, page, write)
            if got == "fault":
                outcome, faults = "fault", faults + 1
            elif got != "mapped":
                return got, faults
        self.procs._record(task)
        return outcome, faults

    def sys_mmap(self, pid: int, addr: int, size: int) -> int:
        """``mmap(addr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)``
        by ``pid``: the address, or a negative errno as an unsigned long.

        :raises SimulationError: no such process, or a kernel thread.
        """
        task, mm = self._user(pid)
        got = self.mmap.do_mmap_pgoff(
            mm, self.rlim(task), addr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE
        )
        self.procs._record(task)
        return got

    def sys_brk(self, pid: int, size: int, shrink: bool = False) -> tuple[int, int]:
        """``brk(mm->brk + size)`` by ``pid`` (``mm->brk - size`` with ``shrink``):
        (the old break, the new one; equal when it could not move).

        :raises SimulationError: no such process, or a kernel thread.
        """
        old = self.k.get(self._user(pid)[1], MM, "brk")
        return old, self.brk_to(pid, old - size if shrink else old + size)

    def brk_to(self, pid: int, brk: int) -> int:
        """``brk(brk)`` by ``pid``: the new break, or the old one when it cannot move.

        :raises SimulationError: no such process, or a kernel thread.
        """
        task, mm = self._user(pid)
        new = self.mmap.sys_brk(mm, self.rlim(task), brk & 0xFFFFFFFF)
        self.procs._record(task)
        return new

    def sys_munmap(self, pid: int, addr: int, size: int) -> int:
        """``munmap(addr, size)`` by ``pid``: 0 or a negative errno (-EINVAL).

        :raises SimulationError: no such process, or a kernel thread.
        """
        task, mm = self._user(pid)
        got = self.mmap.do_munmap(mm, addr & 0xFFFFFFFF, size)
        self.procs._record(task)
        return got

    def _user(self, pid: int) -> tuple[int, int]:
        task = self.procs.task_of(pid)
        mm = self.procs.get(task, "mm")
        if not mm:
            raise SimulationError(f"pid {pid} is a kernel thread: it has no user memory")
        return task, mm
