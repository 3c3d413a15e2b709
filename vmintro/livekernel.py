"""A live kernel: an image resumed on the simulator, called into, and saved.

    >>> import vmintro
    >>> k = vmintro.live("images/demo")           # or vmintro.open(...).resume()
    >>> call = k.vmalloc(64 << 10)
    >>> print(call)                               # what the kernel returned, what changed
    vmalloc(size=65536) = 0xc8823000  areas +1 (0xc8823000 68K); free pages Normal -17
    >>> k.program["vmlist"]                       # every helper reads the new state
    >>> k.save("/tmp/after")                      # a new image; the original is untouched

Each method is one kernel call with the kernel's name and arguments; it returns
a :class:`Call`: the result as the kernel returned it (an address, NULL, a
-errno, a BUG() or an oops with its message and call path), the lines it
printed, and a short summary of what changed. A BUG() or an oops leaves memory
as the kernel would have at that moment, as a hang does (the simulator stops).

Every call is recorded as the generator records a scenario's calls
(:mod:`vmintro.sim.recorder`), after the image's own timeline:
:attr:`LiveKernel.timeline` is the image's entries and then these, so a session
moves back and forth across them (``goto``, ``back``), and :meth:`LiveKernel.save`
writes it with the image.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.backends.base import MachineFacts, TableBackend
from vmintro.errors import FaultError, VmintroError
from vmintro.image.format.timeline import (
    HALTS,
    STOPS,
    ZERO,
    Entry,
    Result,
    Timeline,
    argument_fault,
)
from vmintro.timeline.moments import ImageTimeline
from vmintro.types.flags import (
    GFP_KERNEL,
    MAX_SWAPFILES,
    SIGCHLD,
    SWP_WRITEOK,
    VM_ALLOC,
    ZONE_NAMES,
)

if TYPE_CHECKING:
    from vmintro.program import Program
    from vmintro.sim.boot import Kernel
    from vmintro.sim.recorder import Recorder

__all__ = ["Call", "LiveError", "LiveKernel", "live"]

MASK32 = 0xFFFFFFFF
DEFAULT_SWAP_DEVICE = 0x0302  # /dev/hda2, as scenarios default it
LIVE_OWNER = "live"  # the ground-truth owner of an area a live call made


class LiveError(VmintroError):
    """A call the simulator cannot make (not a kernel state): one line."""


def live(
    image: str | os.PathLike[str], vmlinux: str | os.PathLike[str] | None = None
) -> LiveKernel:
    """The kernel of ``image`` resumed, ready for calls (:class:`LiveKernel`).

    :raises LiveError: an image that cannot be resumed (one line, naming why).
    """
    from vmintro.program import Program
    from vmintro.sim.resume import ResumeError

    try:
        return LiveKernel(Program.from_files(image, vmlinux))
    except (VmintroError, ResumeError) as e:
        raise LiveError(str(e)) from None


@dataclass(frozen=True)
class Call:
    """One kernel call and what it did.

    ``kind`` is ``"address"``, ``"null"``, ``"int"``, ``"errno"``, ``"void"``,
    ``"bug"``, ``"oops"``, ``"hang"`` or ``"panic"`` (as a timeline's results);
    ``value`` the address, the int or the negative errno; ``text`` the errno's
    name or the BUG()/oops/hang report; ``call_path`` where a BUG() or an
    oops happened, outermost first; ``printk`` the lines the kernel logged;
    ``changes`` a one-line summary of what changed (vm areas, free pages).
    """

    call: str
    args: tuple[tuple[str, int | str], ...]
    kind: str
    value: int | None
    text: str | None
    call_path: tuple[str, ...]
    printk: tuple[str, ...]
    changes: str
    entries: tuple[int, ...]

    @property
    def returned(self) -> str:
        """The result as the kernel returned it: ``0xc8823000``, ``NULL``, ``-ENOMEM``..."""
        if self.kind == "address" and self.value is not None:
            return f"{self.value:#010x}"
        if self.kind == "null":
            return "NULL"
        if self.kind == "errno":
            return f"-{self.text}"
        if self.kind == "int":
            return str(self.value)
        if self.kind == "void":
            return "(void)"
        return "BUG()" if self.kind == "bug" else self.kind

    def __str__(self) -> str:
        args = ", ".join(_arg_text(n, v) for n, v in self.args)
        return f"{self.call}({args}) = {self.returned}  {self.changes}"


def _arg_text(name: str, value: int | str) -> str:
    if isinstance(value, str):
        return f"{name}={value!r}"
    hexed = name.endswith("addr") or name in ("page", "offset", "objp", "brk")
    return f"{name}={value:#x}" if hexed else f"{name}={value}"


class LiveTimeline(ImageTimeline):
    """A live program's timeline: the image's and the calls, joined on first use."""

    def __init__(self, root: Program, kernel: LiveKernel) -> None:
        super().__init__(root)
        self.live = kernel

    @property
    def timeline(self) -> Timeline | None:
        with self._lock:
            if self._timeline is None:
                self._timeline = self.live.timeline
                self._loaded = True
        return self._timeline

    @property
    def loaded(self) -> bool:
        """Always: the prompt may say the moment without the timeline being joined."""
        return True

    @property
    def last(self) -> int:
        return self.live.last_entry


class LiveBackend(TableBackend):
    """The simulated kernel's RAM as a program reads it: symbols and types of the image
    it was resumed from, memory that changes with every call (never cached)."""

    def __init__(self, kernel: Kernel, source: TableBackend | Any) -> None:
        from vmintro.backends.base import DebugTables

        self.kernel = kernel
        tables = DebugTables(source.symbols(), source.types(), source.variables())
        facts = dataclasses.replace(source.facts(), fixed_memory=False)
        super().__init__(tables, facts)

    def read_phys(self, paddr: int, size: int) -> bytes:
        from vmintro.sim.physmem import PhysMemError

        try:
            return self.kernel.mem.read(paddr, size)
        except PhysMemError:
            raise FaultError(paddr, f"could not read physical {paddr:#x}") from None

    def stored_ranges(self) -> list[tuple[int, int]]:
        """The frames that may hold non-zero bytes."""
        return [(p * PAGE_SIZE, (p + n) * PAGE_SIZE) for p, n in self.kernel.mem.runs()]

    def facts(self) -> MachineFacts:
        return self._facts


class LiveKernel:
    """The kernel of a program (an image, or a moment of its timeline) resumed.

    :attr:`program` reads the kernel as it is after the last call; :attr:`timeline`
    is the image's timeline (up to the moment resumed) followed by the calls made.

    :raises vmintro.sim.resume.ResumeError: an image no kernel could have left.
    """

    def __init__(self, prog: Program) -> None:
        from vmintro.sim.recorder import Recorder
        from vmintro.sim.resume import resume_program

        resumed = resume_program(prog)
        self.kernel: Kernel = resumed.kernel
        self.source = prog
        self.generator = resumed.generator
        self.events = resumed.events
        self.faults = resumed.faults
        self.labels = resumed.labels
        from vmintro.timeline.moments import root_of

        earlier = getattr(root_of(prog), "_live", None)  # a moment of a live session
        # the image first resumed: save never replaces it
        self.origin: Path | None = getattr(prog.backend, "vmcore_path", None)
        if earlier is not None:
            self.generator, self.origin = earlier.generator, earlier.origin
        elif self.origin is None and hasattr(prog.backend, "root"):
            self.origin = getattr(prog.backend.root.backend, "vmcore_path", None)
        seed = self.generator.get("seed", 0)
        self.seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
        base = _timeline_until(prog)
        self.base_timeline: Timeline | None = base
        self.first_step = max((e.step for e in base.entries), default=0) if base else 0
        self.recorder: Recorder = Recorder(self.kernel.config.ram)
        self.calls: list[Call] = []
        # where the kernel hangs, once a call never returned (or the moment resumed is
        # such a call's): it takes no more calls
        self.hung: str | None = _halted_in(base)
        self.program: Program = self._make_program()

    def _make_program(self) -> Program:
        from vmintro.program import Program

        backend = LiveBackend(self.kernel, self.source.backend)
        prog = Program(backend, cache_pages=False)
        prog._live = self  # type: ignore[attr-defined]
        return prog

    # -- the timeline ---------------------------------------------------------------

    @property
    def timeline(self) -> Timeline:
        """The image's entries (up to the moment resumed), then one or more per call."""
        live = self.recorder.timeline(b"\0" * 32)
        return extend_timeline(self.base_timeline, live)

    def refresh(self) -> Program:
        """After a call: the program forgets what it read, and its timeline (made when
        first asked for) is the new one."""
        prog = self.program
        prog.clear_caches()
        prog._timeline_state = LiveTimeline(prog, self)
        return prog

    # -- making a call ----------------------------------------------------------------

    def _run(
        self,
        call: str,
        args: tuple[tuple[str, int | str], ...],
        fn: Any,
        returns: str = "pointer",
        traced: bool = True,
        result_entry: int = -1,
        recorded: tuple[tuple[str, int | str], ...] | None = None,
    ) -> Call:
        """Run ``fn`` as kernel call ``call``: recorded, its result as the kernel's
        (that of the entry point it called, the ``result_entry``-th if several).
        An argument no kernel call takes (beyond 32 bits, a name longer than any) is
        refused before anything runs: of ``args``, or of ``recorded`` where the
        entry points are given others."""
        from vmintro.sim.errors import (
            CALL_PATH,
            KernelHang,
            KernelOops,
            KernelPanic,
            SimulationError,
            entry_failure,
            entry_result,
        )
        from vmintro.sim.physmem import PhysMemError
        from vmintro.sim.recorder import recording

        if self.hung is not None:
            raise LiveError(
                f"{call}: the kernel is stuck in {self.hung} and takes no more calls "
                "(save it, or go back to an earlier moment)"
            )
        for name, value in args if recorded is None else recorded:
            if (fault := argument_fault(value)) is not None:
                raise LiveError(f"{call}: {name} {fault}")
        k, rec = self.kernel, self.recorder
        rec.step = self.first_step + len(self.calls) + 1
        first_entry = len(rec._entries)
        log_end = k.r32(k.sym("log_end"))
        before = _summary_state(k)
        path: tuple[str, ...] = ()
        with recording(k.mem, rec):
            if not traced:
                rec.enter(call, args)
            try:
                result = entry_result(returns, fn())
            except SimulationError as e:
                result = entry_failure(e)
                if not isinstance(e, (KernelOops, KernelHang)) and result[0] != "errno":
                    CALL_PATH.clear()
                    raise LiveError(f"{call}: {e}") from None  # not a kernel state
                path = tuple(getattr(e, "call_path", ()) or ())
                if isinstance(e, KernelHang):  # UP: spinning with its lock held, for ever
                    self.hung = "panic()" if isinstance(e, KernelPanic) else f"{e.function}()"
                if isinstance(e, KernelOops):
                    for line in e.printk_lines():  # die(): the report goes to the log
                        k.printk(line)
            except PhysMemError as e:  # a pointer to memory the simulator cannot follow
                CALL_PATH.clear()
                raise LiveError(f"{call}: the simulator cannot follow it: {e}") from None
            if not traced:
                rec.leave(result)
        entries = tuple(range(first_entry, len(rec._entries)))
        if traced and entries:  # the outermost entry's result is the call's
            traced_result = rec._entries[entries[result_entry]].result
            if traced_result[0] != "void" or result[0] in STOPS:
                result = traced_result if result[0] not in STOPS else result
        done = Call(
            call,
            args,
            result[0],
            result[1],
            result[2],
            path,
            tuple(_new_log(k, log_end)),
            _summary(k, before),
            tuple(e + self._offset() for e in entries),
        )
        self.calls.append(done)
        self.refresh()
        return done

    @property
    def last_entry(self) -> int:
        """The number of the timeline's last entry (the kernel as it is now)."""
        return self._offset() + len(self.recorder._entries) - 1

    def _offset(self) -> int:
        base = self.base_timeline
        return len(base.entries) - 1 if base is not None else 0

    # -- the calls --------------------------------------------------------------------

    def vmalloc(self, size: int) -> Call:
        """``vmalloc(size)``: GFP_KERNEL | __GFP_HIGHMEM."""
        vm = self.kernel.vmalloc
        return self._run("vmalloc", (("size", size),), lambda: vm.vmalloc(size, LIVE_OWNER))

    def vmalloc_dma(self, size: int) -> Call:
        """``vmalloc_dma(size)``: GFP_KERNEL | GFP_DMA."""
        vm = self.kernel.vmalloc
        return self._run("vmalloc_dma", (("size", size),), lambda: vm.vmalloc_dma(size, LIVE_OWNER))

    def vmalloc_32(self, size: int) -> Call:
        """``vmalloc_32(size)``: GFP_KERNEL, lowmem only."""
        vm = self.kernel.vmalloc
        return self._run("vmalloc_32", (("size", size),), lambda: vm.vmalloc_32(size, LIVE_OWNER))

    def vfree(self, addr: int) -> Call:
        """``vfree(addr)``: void; an address that is no area gets the kernel's printk."""
        vm = self.kernel.vmalloc
        return self._run("vfree", (("addr", addr),), lambda: vm.vfree(addr), "void")

    def get_vm_area(self, size: int, flags: int = VM_ALLOC) -> Call:
        """``get_vm_area(size, flags)``: a ``vm_struct`` on vmlist, nothing mapped."""
        vm = self.kernel.vmalloc
        return self._run(
            "get_vm_area",
            (("size", size), ("flags", flags)),
            lambda: vm.get_vm_area(size, flags, LIVE_OWNER),
        )

    def ioremap(self, phys_addr: int, size: int, nocache: bool = False) -> Call:
        """``ioremap(offset, size)`` (``ioremap_nocache`` with ``nocache``)."""
        vm = self.kernel.vmalloc
        name = "ioremap_nocache" if nocache else "ioremap"
        fn = vm.ioremap_nocache if nocache else vm.ioremap
        return self._run(
            name,
            (("offset", phys_addr), ("size", size)),
            lambda: fn(phys_addr, size, owner=LIVE_OWNER),
        )

    def iounmap(self, addr: int) -> Call:
        """``iounmap(addr)``."""
        vm = self.kernel.vmalloc
        return self._run("iounmap", (("addr", addr),), lambda: vm.iounmap(addr), "void")

    def alloc_pages(self, order: int, gfp_mask: int = GFP_KERNEL) -> Call:
        """``alloc_pages(gfp_mask, order)``: the ``struct page *`` of a 2^order block, or NULL."""
        buddy = self.kernel.buddy
        if order >= 10:  # alloc_pages(): if (order >= MAX_ORDER) return NULL
            return self._run(
                "__alloc_pages",
                (("gfp_mask", gfp_mask), ("order", order)),
                lambda: None,
                traced=False,
            )
        return self._run(
            "__alloc_pages",
            (("gfp_mask", gfp_mask), ("order", order)),
            lambda: buddy.alloc_pages(gfp_mask, order),
        )

    def free_pages(self, page: int, order: int) -> Call:
        """``__free_pages(page, order)``."""
        buddy = self.kernel.buddy
        return self._run(
            "__free_pages",
            (("page", page), ("order", order)),
            lambda: buddy.free_pages(page, order),
            "void",
        )

    def kmalloc(self, size: int, flags: int = GFP_KERNEL) -> Call:
        """``kmalloc(size, flags)``: an object of the first general cache that fits."""
        slab = self.kernel.slab
        return self._run(
            "kmalloc",
            (("size", size), ("flags", flags)),
            lambda: slab.kmalloc(size, flags),
            traced=False,
        )

    def kfree(self, addr: int) -> Call:
        """``kfree(objp)``."""
        slab = self.kernel.slab
        return self._run("kfree", (("objp", addr),), lambda: slab.kfree(addr), "void", traced=False)

    def swapon(
        self, size: int, device: int = DEFAULT_SWAP_DEVICE, bad_pages: tuple[int, ...] = ()
    ) -> Call:
        """``sys_swapon`` of a block device of ``size`` bytes whose header lists
        ``bad_pages``: 0 (its slot in ``swap_info``) or -errno."""
        from vmintro.sim.swap import swapon

        k = self.kernel
        return self._run(
            "sys_swapon",
            (("size", size),),
            lambda: swapon(k, device, size // PAGE_SIZE, None, bad_pages),
            "zero",
            recorded=(("device", device),),  # the size is the device's, no argument
        )

    def swapoff(self, index: int) -> Call:
        """``sys_swapoff`` of ``swap_info[index]``: -EINVAL when it is no swap area."""
        from vmintro.sim.swap import swapoff

        k = self.kernel
        si = k.sym("swap_info") + index * k.types.sizeof("struct swap_info_struct")
        # sys_swapoff finds no area whose (flags & SWP_WRITEOK) == SWP_WRITEOK: -EINVAL
        if not 0 <= index < MAX_SWAPFILES or (
            k.get(si, "struct swap_info_struct", "flags") & SWP_WRITEOK != SWP_WRITEOK
        ):
            return self._run(
                "sys_swapoff", (("type", index),), lambda: _einval(), "zero", traced=False
            )
        return self._run("sys_swapoff", (("type", index),), lambda: swapoff(k, index), "zero")

    def insmod(self, name: str, size: int) -> Call:
        """``sys_create_module`` and ``sys_init_module`` of a synthesised module image."""
        from vmintro.scenario.runner import step_random
        from vmintro.sim.module import insmod

        k, rng = self.kernel, step_random(self.seed, 1_000_000 + len(self.calls))
        return self._run(
            "insmod", (("name", name), ("size", size)), lambda: insmod(k, name, size, rng), "zero"
        )

    def rmmod(self, name: str) -> Call:
        """``sys_delete_module(name)``."""
        from vmintro.sim.module import delete_module

        k = self.kernel
        return self._run(
            "sys_delete_module", (("name", name),), lambda: delete_module(k, name), "zero"
        )

    def fault(self, kind: str, **args: Any) -> Call:
        """Inject fault ``kind`` (:data:`vmintro.sim.faults.FAULTS`) as a kernel bug would."""
        from vmintro.scenario.runner import step_random
        from vmintro.sim.faults import FAULTS, inject_fault

        if kind not in FAULTS:
            raise LiveError(f"fault: unknown kind '{kind}' (known: {', '.join(FAULTS)})")
        k, rng = self.kernel, step_random(self.seed, 1_000_000 + len(self.calls))
        return self._run(
            "fault", (("kind", kind),), lambda: inject_fault(k, kind, rng, args), "void"
        )

    # -- processes ------------------------------------------------------------------

    def fork(self, parent: int = 1) -> Call:
        """``fork()`` in process ``parent`` (``do_fork(SIGCHLD)``): the child's pid."""
        procs = self.kernel.processes
        args = (("clone_flags", SIGCHLD), ("current", parent))
        return self._run("do_fork", args, lambda: procs.fork(parent), "int")

    def spawn(self, name: str, parent: int = 1) -> Call:
        """``fork()`` in ``parent``, then ``execve`` of program ``name`` in the child
        (``do_fork``, ``do_execve``): the child's pid."""
        procs = self.kernel.processes
        return self._run(
            "spawn",
            (("name", name), ("parent", parent)),
            lambda: procs.spawn(name, parent),
            "int",
            result_entry=0,
            recorded=(("filename", f"/bin/{name}"), ("current", parent)),  # at most
        )

    def exit(self, pid: int) -> Call:
        """Process ``pid`` exits (``do_exit``) and its parent reaps it (``sys_wait4``)."""
        procs = self.kernel.processes
        return self._run(
            "do_exit",
            (("code", 0), ("current", pid)),
            lambda: procs.exit(pid),
            "void",
            result_entry=0,
        )

    def touch(self, pid: int, addr: int) -> Call:
        """A kernel-mode read of ``addr`` in process ``pid``'s context: ``mapped`` (no
        fault), ``synced`` (``do_page_fault``'s vmalloc fault copied the entry from
        ``init_mm``), or the oops, after which the process exits (``die``)."""
        from vmintro.sim.errors import KernelOops, PageFault

        procs, k = self.kernel.processes, self.kernel
        outcome: list[str] = []

        class Reported(KernelOops):
            """The oops, its report already in the log before the process died."""

            def printk_lines(self) -> list[str]:
                return []

        def access() -> None:
            try:
                outcome.append(procs.touch(pid, addr))
            except PageFault as e:
                for line in e.printk_lines():
                    k.printk(line)
                procs.die()  # may panic: pid 0 or 1
                oops = Reported(str(e))
                oops.call_path = e.call_path  # type: ignore[attr-defined]
                raise oops from None

        done = self._run("touch", (("pid", pid), ("addr", addr)), access, "void")
        if outcome and done.kind == "void":
            done = dataclasses.replace(done, text=outcome[0])
            self.calls[-1] = done
        return done

    # -- a process's address space ------------------------------------------------

    def mmap(self, pid: int, size: int, addr: int = 0) -> Call:
        """``mmap(addr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)`` in
        process ``pid`` (``do_mmap_pgoff``): the area's address, or -errno."""
        uvm = self.kernel.processes.vm
        args = (("current", pid), ("addr", addr), ("len", size))
        return self._run("do_mmap_pgoff", args, lambda: _or_errno(uvm.sys_mmap(pid, addr, size)))

    def brk(self, pid: int, brk: int) -> Call:
        """``brk(brk)`` in process ``pid`` (``sys_brk``): the new break, or the old one
        when it cannot move; a lower break unmaps (``do_munmap``)."""
        uvm = self.kernel.processes.vm
        return self._run("sys_brk", (("current", pid), ("brk", brk)), lambda: uvm.brk_to(pid, brk))

    def munmap(self, pid: int, addr: int, size: int) -> Call:
        """``munmap(addr, size)`` in process ``pid`` (``do_munmap``): 0, or -EINVAL
        (an address not page-aligned, a range past ``TASK_SIZE``, a size of 0)."""
        uvm = self.kernel.processes.vm
        args = (("current", pid), ("addr", addr), ("len", size))
        return self._run(
            "do_munmap", args, lambda: _or_errno(uvm.sys_munmap(pid, addr, size)), "int"
        )

    # -- saving -----------------------------------------------------------------------

    def save(self, name: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the kernel as it is now as image ``name`` (core, vmlinux, truth and the
        timeline), atomically as the generator does; the image resumed is never
        touched (a name that is one of its files is refused).

        :raises LiveError: ``name`` cannot be written (one line).
        """
        from vmintro.image.format.names import image_paths
        from vmintro.image.format.timeline import timeline_encoder
        from vmintro.image.writer.install import ImageWriteError, write_image
        from vmintro.image.writer.snapshot import snapshot

        if self.origin is not None:
            mine = {p.resolve() for p in image_paths(self.origin).values()}
            if any(p.resolve() in mine for p in image_paths(name).values()):
                raise LiveError(f"save: {name} is the image this kernel was resumed from")
        labels = {n: [kind, value] for n, (kind, value) in sorted(self.labels.items())}
        live_events = [
            {"step": self.first_step + i + 1, "op": c.call, "result": c.returned}
            for i, c in enumerate(self.calls)
        ]
        truth = {"events": [*self.events, *live_events], "faults": self.faults, "labels": labels}
        generator = dict(self.generator)
        try:  # checked before anything is written (compressed meanwhile)
            encode = timeline_encoder(self.timeline)
        except ValueError as e:  # a call's arguments no timeline holds
            raise LiveError(f"save: {e}") from None
        try:
            spec = snapshot(self.kernel, generator, truth)
            return write_image(spec, name, encode)
        except ImageWriteError as e:
            raise LiveError(f"save: {e}") from None
        except OSError as e:  # a full or read-only disk: the user's image, not our fault
            raise LiveError(f"save: {os.fspath(name)}: {e.strerror or e}") from None


# -- results --------------------------------------------------------------------------


def _or_errno(value: int) -> int:
    """A system call's return value, or the -errno it is (an unsigned long from -4095
    up, as ``IS_ERR_VALUE``, or a negative int) raised as the kernel's error."""
    from vmintro.sim.errors import SimulationError

    if value < 0 or value > 0xFFFFF000:
        code = -value if value < 0 else (1 << 32) - value
        raise SimulationError(f"-{errno.errorcode.get(code, str(code))}")
    return value


def _einval() -> None:
    from vmintro.sim.errors import SimulationError

    raise SimulationError("-EINVAL")


def _new_log(k: Kernel, end_before: int) -> list[str]:
    """The lines printk wrote to ``log_buf`` since ``log_end`` was ``end_before``."""
    from vmintro.types.flags import LOG_BUF_LEN

    end = k.r32(k.sym("log_end"))
    count = min((end - end_before) & MASK32, LOG_BUF_LEN)
    buf, start = k.sym("log_buf"), (end - count) & (LOG_BUF_LEN - 1)
    first = min(count, LOG_BUF_LEN - start)
    raw = k.read(buf + start, first) + k.read(buf, count - first)
    lines = raw.decode(errors="replace").split("\n")[:-1]
    return [line[3:] if line[:1] == "<" and line[2:3] == ">" else line for line in lines]


# -- what changed ---------------------------------------------------------------------


_State = tuple[dict[int, int], list[int], str, dict[int, tuple[int, int, int]]]


def _summary_state(k: Kernel) -> _State:
    """vmlist's areas (addr -> size), each zone's free pages and how vmlist ends, as
    memory holds them: the simulator's own records would miss what a corrupting call
    did to the list."""
    from vmintro.sim.errors import PageFault
    from vmintro.sim.vmalloc import VM

    areas: dict[int, int] = {}
    seen: set[int] = set()
    end = ""
    try:
        for _, node in k.vmalloc.links(None):
            if node in seen:
                end = f"vmlist loops back to {node:#x}"
                break
            if node:
                seen.add(node)
                areas[k.get(node, VM, "addr")] = k.get(node, VM, "size")
    except PageFault as e:
        end = f"vmlist runs into unmapped memory at {e.address:#x}"
    free = [k.get(zone, "zone_t", "free_pages") for zone in k.buddy.zones]
    return areas, free, end, _user_state(k)


def _user_state(k: Kernel) -> dict[int, tuple[int, int, int]]:
    """Each process's (map_count, total_vm, rss), from its mm_struct in memory
    (``for_each_task``: the ring, which the simulator walks bounded)."""
    from vmintro.sim.errors import PageFault

    procs, out = k.processes, {}
    try:
        for task in procs.for_each_task():
            mm = procs.get(task, "mm")
            if mm:
                got = (k.get(mm, "struct mm_struct", f) for f in ("map_count", "total_vm", "rss"))
                out[procs.get(task, "pid")] = tuple(got)
    except PageFault:  # a ring a corrupting call broke: the vmlist summary says enough
        pass
    return out  # type: ignore[return-value]


def _summary(k: Kernel, before: _State) -> str:
    """``areas +1 (0xc8823000 68K); free pages Normal -17``: vm areas added and
    removed, each zone's free pages before and after, and a list that stopped ending
    in NULL."""
    areas_before, free_before, end_before, user_before = before
    areas_after, free_after, end_after, user_after = _summary_state(k)
    parts = []
    added = sorted(set(areas_after) - set(areas_before))
    removed = sorted(set(areas_before) - set(areas_after))
    for sign, addrs, table in (("+", added, areas_after), ("-", removed, areas_before)):
        if addrs:
            shown = ", ".join(f"{a:#x} {table[a] >> 10}K" for a in addrs[:3])
            more = ", ..." if len(addrs) > 3 else ""
            parts.append(f"areas {sign}{len(addrs)} ({shown}{more})")
    free = [
        f"{ZONE_NAMES[j]} {after - was:+d}"
        for j, (was, after) in enumerate(zip(free_before, free_after, strict=True))
        if after != was
    ]
    if free:
        parts.append("free pages " + ", ".join(free))
    for pid in sorted(set(user_before) & set(user_after)):  # a process's address space
        was, now = user_before[pid], user_after[pid]
        moved = [
            f"{what} {b - a:+d}"
            for what, a, b in zip(("areas", "total_vm", "rss"), was, now, strict=True)
            if a != b
        ]
        if moved:
            parts.append(f"pid {pid} " + ", ".join(moved))
    if end_after != end_before:
        parts.append(end_after or "vmlist ends in NULL again")
    return "; ".join(parts) if parts else "nothing changed"


# -- timelines ------------------------------------------------------------------------


def _timeline_until(prog: Program) -> Timeline | None:
    """The timeline of ``prog``'s image up to the moment ``prog`` shows (None: none)."""
    from vmintro.timeline.source import TimelineError

    try:
        t = prog.timeline
    except TimelineError:
        return None
    if t is None:
        return None
    moment = prog.moment
    if moment is None or moment >= len(t.entries) - 1:
        return t
    return truncate_timeline(t, moment)


def truncate_timeline(t: Timeline, last: int) -> Timeline:
    """``t``'s entries 0..``last`` and their writes."""
    entries = t.entries[: last + 1]
    end = entries[-1].first_write + entries[-1].write_count
    return dataclasses.replace(t, entries=entries, writes=t.writes[:end].copy())


def _halted_in(t: Timeline | None) -> str | None:
    """Where the kernel spins for ever when ``t``'s last entry is a hang or a panic
    (``panic()``, ``get_vm_area()``): 2.4.20 runs nothing more there."""
    last = t.entries[-1] if t is not None and t.entries else None
    if last is None or last.result.kind not in HALTS:
        return None
    if last.result.kind == "panic":
        return "panic()"
    from vmintro.sim.errors import KernelHang

    return f"{KernelHang.function_of(last.result.text or '') or last.call}()"


def extend_timeline(base: Timeline | None, live: Timeline) -> Timeline:
    """``base``'s entries, then ``live``'s after its entry 0 (the moment resumed), renumbered,
    with their writes, paths and bytes appended."""
    if base is None:
        return live
    paths = list(base.paths)
    index = {p: i for i, p in enumerate(paths)}
    remap = np.empty(len(live.paths), dtype=np.uint32)
    for i, p in enumerate(live.paths):
        if p not in index:
            index[p] = len(paths)
            paths.append(p)
        remap[i] = index[p]
    offset_entries = len(base.entries) - 1
    offset_writes = len(base.writes)
    writes = live.writes.copy()
    writes["entry"] += offset_entries
    if len(writes):
        writes["path"] = remap[writes["path"]]
    for col in ("old", "new"):
        stored = writes[col] != ZERO
        writes[col][stored] += len(base.data)
    entries = list(base.entries) + [
        Entry(
            e.number + offset_entries,
            e.step,
            e.call,
            e.args,
            Result(e.result.kind, e.result.value, e.result.text),
            e.first_write + offset_writes,
            e.write_count,
        )
        for e in live.entries[1:]
    ]
    return Timeline(
        tuple(entries),
        tuple(paths),
        np.concatenate([base.writes, writes]),
        base.data + live.data,
        base.ram_size,
        base.core_digest,
    )
