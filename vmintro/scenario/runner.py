"""Running a scenario on the simulator."""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from vmintro.arch.x86 import PAGE_SHIFT, MachineConfig
from vmintro.scenario.loader import Scenario, ScenarioError, Step
from vmintro.sim.anon import DEFAULT_ANON, DEFAULT_ANON_BYTES
from vmintro.sim.boot import Kernel, boot
from vmintro.sim.errors import KernelHang, KernelOops, KernelPanic, SimulationError
from vmintro.sim.faults import run_fault
from vmintro.sim.mmap import TASK_SIZE
from vmintro.sim.module import delete_module, insmod
from vmintro.sim.pagecache import DEFAULT_PAGE_CACHE
from vmintro.sim.physmem import PhysMemError
from vmintro.sim.process import ForkFailed
from vmintro.sim.recorder import Recorder, recording
from vmintro.sim.resume import Resumed
from vmintro.sim.swap import swapoff, swapon

__all__ = [
    "RunResult",
    "machine_config",
    "anon_of",
    "page_cache_of",
    "run_scenario",
    "run_truth",
    "step_random",
]

DEFAULT_SWAP_DEVICE = 0x0302  # /dev/hda2


@dataclass
class RunResult:
    kernel: Kernel
    events: list[dict[str, Any]]
    faults: list[dict[str, Any]]
    # Where and why the run stopped early: a step the kernel would never return
    # from, allowed by ``allow_bug = true``. None when every step ran.
    stopped: str | None = None
    # The run's timeline as it was recorded (``record=True``), else None.
    recorder: Recorder | None = None
    # What the scenario's labels name when the run ends: label -> (kind, address or index)
    labels: dict[str, tuple[str, int]] = field(default_factory=dict)


def machine_config(scen: Scenario, overrides: dict[str, Any]) -> tuple[MachineConfig, int]:
    """The machine: scenario ``[machine]`` values, overridden by command-line ones."""
    m = {**scen.machine, **{k: v for k, v in overrides.items() if v is not None}}
    seed = int(m.pop("seed", 0))
    highmem = m.get("highmem")
    if highmem is None:  # CONFIG_HIGHMEM64G (PAE) selects HIGHMEM
        highmem = bool(m.get("pae", False))
    try:
        cfg = MachineConfig(
            ram=m.get("ram", 64 << 20),
            highmem=highmem,
            pae=m.get("pae", False),
            pse=m.get("pse", True),
        )
    except ValueError as e:
        # name the command-line options first: they won over the scenario's values
        given = [_OPTION.get(k, f"--{k}") for k, v in overrides.items() if v is not None]
        given = [g for g in given if g != "--seed"]
        source = f"{scen.machine_at}: [machine]"
        if given:
            source = f"{' '.join(given)} (with {source})"
        raise ScenarioError(f"{source}: {e}") from None
    return cfg, seed


_OPTION = {"pse": "--no-pse"}  # the command-line spelling of a machine key, where it differs


def run_scenario(
    scen: Scenario,
    cfg: MachineConfig,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    record: bool = False,
    *,
    resumed: Resumed | None = None,
    first: int = 0,
) -> RunResult:
    """Boot, then run every step. Kernel failures that a kernel reports (NULL, -ENOMEM)
    become events. A BUG() or an oops stops the run unless the step says
    ``allow_bug = true``; then the step's process dies and the rest go on. A step
    the kernel would never return from stops the run either way, and with
    ``allow_bug = true`` the machine is kept as it was at that moment.

    With ``record``, the run's timeline is recorded from boot on (``recorder``):
    each entry point a step calls (each call of a ``random`` step, each fault) is
    an entry, with every write to RAM it made.

    With ``resumed`` (:func:`vmintro.sim.resume.resume` of an image of the same
    scenario and seed) there is no boot: the steps from index ``first`` on run on
    that kernel, its labels, events and faults, and end where running them all
    from boot would (each step draws from its own :func:`step_random`).
    """
    if resumed is None:
        k = _boot(scen, cfg, seed)
    else:
        k = resumed.kernel
    recorder = Recorder(cfg.ram) if record else None
    with recording(k.mem, recorder) if recorder else nullcontext():
        return _run_steps(scen, k, seed, recorder, progress, resumed, first)


def _boot(scen: Scenario, cfg: MachineConfig, seed: int) -> Kernel:
    """``boot`` of ``cfg`` with the scenario's page cache and user memory; a kernel
    that cannot boot so (the buffer heads of a page cache in highmem fill lowmem,
    and the OOM killer finds nothing to kill) is a :class:`ScenarioError` saying
    which machine, as a step's panic is."""
    page_cache, anon = page_cache_of(scen), anon_of(scen, cfg)
    try:
        return boot(cfg, page_cache, seed, anon)
    except (SimulationError, PhysMemError) as e:
        kind = "PAE" if cfg.pae else "HIGHMEM" if cfg.highmem else "no HIGHMEM"
        lowmem = cfg.max_low_pfn << PAGE_SHIFT >> 20
        raise ScenarioError(
            f"page_cache {page_cache:g} and anon {anon:.3g} of {cfg.ram >> 20} MiB ({kind},"
            f" lowmem {lowmem} MiB): the boot's page cache and user memory do not fit: {e}"
        ) from None


def page_cache_of(scen: Scenario) -> float:
    """The share of RAM in the page cache when the scenario's steps begin."""
    return float(scen.machine.get("page_cache", DEFAULT_PAGE_CACHE))


def anon_of(scen: Scenario, cfg: MachineConfig) -> float:
    """The share of RAM the boot's user processes hold when the steps begin: the
    scenario's, else :data:`DEFAULT_ANON` of RAM up to :data:`DEFAULT_ANON_BYTES`."""
    if "anon" in scen.machine:
        return float(scen.machine["anon"])
    return min(DEFAULT_ANON, DEFAULT_ANON_BYTES / cfg.ram)


def run_truth(result: RunResult) -> dict[str, Any]:
    """What a run adds to the image's truth: its events, faults and live labels."""
    labels = {name: [kind, value] for name, (kind, value) in sorted(result.labels.items())}
    return {"events": result.events, "faults": result.faults, "labels": labels}


def step_random(seed: int, index: int) -> random.Random:
    """The random numbers step ``index`` (0-based) of a run seeded ``seed`` draws:
    a stream of its own, so a run resumed at any step draws what a whole run does."""
    return random.Random(f"{seed}/{index}")


def _run_steps(
    scen: Scenario,
    k: Kernel,
    seed: int,
    recorder: Recorder | None,
    progress: Callable[[int, int], None] | None,
    resumed: Resumed | None = None,
    first: int = 0,
) -> RunResult:
    labels: dict[str, tuple[str, int]] = dict(resumed.labels) if resumed else {}
    events: list[dict[str, Any]] = list(resumed.events) if resumed else []
    faults: list[dict[str, Any]] = list(resumed.faults) if resumed else []
    total = len(scen.steps)
    for step in scen.steps[first:]:
        where = step.where(scen.path)
        rng = step_random(seed, step.index)
        if recorder:
            recorder.step = step.index + 1
        try:
            try:
                if step.op == "fault":
                    args = {**step.args, **_cleanup_buffer(labels, step.args)}
                    record = run_fault(k, step.args["kind"], rng, args)
                    faults.append({"step": step.index + 1, **record})
                else:
                    _run_step(k, step, rng, labels, events)
            except KernelOops as e:
                if not step.args.get("allow_bug"):
                    raise ScenarioError(f"{where}: {e}") from None
                for line in e.printk_lines():
                    k.printk(line)
                event = {"step": step.index + 1, "op": step.op, "bug": str(e)}
                events.append(event)
                if step.op == "touch" and k.processes.oopsed is not None:
                    address = getattr(e, "address", 0)
                    event.update(pid=k.processes.oopsed, addr=address, outcome="oops")
                    k.processes.die()  # die(): the process whose access it was exits
        except KernelHang as e:
            if not step.args.get("allow_bug"):
                raise ScenarioError(f"{where}: {e}") from None
            # No printk: the kernel says nothing, it only stops answering.
            kind = "panic" if isinstance(e, KernelPanic) else "hang"
            events.append({"step": step.index + 1, "op": step.op, kind: str(e)})
            stopped = f"{where}: {e}{_not_run(step.index + 2, total)}"
            return RunResult(k, events, faults, stopped, recorder, labels)
        except SimulationError as e:
            raise ScenarioError(f"{where}: {e}") from None
        except PhysMemError as e:  # kernel code followed a pointer to device memory
            raise ScenarioError(f"{where}: the simulator cannot follow it: {e}") from None
        if progress:
            progress(step.index + 1, total)
    return RunResult(k, events, faults, None, recorder, labels)


def _not_run(first: int, last: int) -> str:
    """What a stop before step ``first`` (1-based) of ``last`` leaves out."""
    if first > last:
        return ""
    if first == last:
        return f"; step {first} was not run"
    return f"; steps {first}-{last} were not run"


def _run_step(
    k: Kernel,
    step: Step,
    rng: random.Random,
    labels: dict[str, tuple[str, int]],
    events: list[dict[str, Any]],
) -> None:
    a = step.args
    vm = k.vmalloc
    event: dict[str, Any] = {"step": step.index + 1, "op": step.op}

    def label_of(kind: str) -> int:
        name = a["label"]
        if name not in labels or labels[name][0] != kind:
            raise SimulationError(f"no {kind} labelled '{name}' is live")
        return labels.pop(name)[1]

    if step.op == "boot":
        return
    if step.op in ("vmalloc", "vmalloc_dma", "vmalloc_32"):
        owner = a.get("label", f"{step.op} step {step.index + 1}")
        addr = getattr(vm, step.op)(a["size"], owner=owner)
        event.update(size=a["size"], addr=addr or 0, failed=addr is None)
        if addr is not None and "label" in a:
            labels[a["label"]] = ("vmalloc", addr)
    elif step.op == "vfree":
        addr = label_of("vmalloc") if "label" in a else a["addr"]
        event.update(addr=addr, found=vm.vfree(addr))
    elif step.op == "ioremap":
        owner = a.get("label", f"ioremap step {step.index + 1}")
        fn = vm.ioremap_nocache if a.get("nocache") else vm.ioremap
        addr = fn(a["phys"], a["size"], owner=owner)
        event.update(phys=a["phys"], size=a["size"], addr=addr or 0, failed=addr is None)
        if addr is not None and "label" in a:
            labels[a["label"]] = ("ioremap", addr)
    elif step.op == "iounmap":
        vm.iounmap(label_of("ioremap"))
    elif step.op == "swapon":
        index = swapon(
            k,
            a.get("device", DEFAULT_SWAP_DEVICE),
            a["size"] // 4096,
            a.get("priority"),
            tuple(a.get("bad_pages", ())),
        )
        event.update(index=index)
        labels[a.get("label", f"swap{index}")] = ("swap", index)
    elif step.op == "swapoff":
        swapoff(k, label_of("swap"))
    elif step.op == "insmod":
        mod = insmod(k, a["name"], a["size"], rng, a.get("exports", 4))
        event.update(name=a["name"], addr=mod)
    elif step.op == "rmmod":
        delete_module(k, a["name"], **_cleanup_buffer(labels, a))
    elif step.op == "random":
        _random_mix(k, a, rng, event)
    elif step.op in ("fork", "spawn"):
        procs, parent = k.processes, a.get("parent", 1)
        try:
            pid = procs.fork(parent) if step.op == "fork" else procs.spawn(a["name"], parent)
        except ForkFailed as e:  # sys_fork returns do_fork's -errno and the run goes on
            event.update(parent=parent, pid=e.retval, failed=True, errno=e.errno_name)
        else:
            event.update(parent=parent, pid=pid)
            if "label" in a:
                labels[a["label"]] = ("process", pid)
    elif step.op == "exit":
        pid = label_of("process") if "label" in a else a["pid"]
        event.update(pid=pid)
        k.processes.exit(pid)
    elif step.op == "touch":
        pid = _labelled(labels, a["task"], ("process",)) if "task" in a else a["pid"]
        addr = a.get("addr", 0)
        if "label" in a:
            kinds = ("vmalloc", "ioremap", "mmap")
            addr = _labelled(labels, a["label"], kinds) + a.get("offset", 0)
        addr &= 0xFFFFFFFF  # a label plus an offset wraps, as the CPU's 32-bit address does
        event.update(pid=pid, addr=addr)
        if addr < TASK_SIZE:  # the process's own access, page by page
            size, write = a.get("size", 1), a.get("write", True)
            outcome, faults = k.processes.vm.touch(pid, addr, size, write)
            event.update(size=size, write=write, faults=faults, outcome=outcome)
        else:
            event.update(outcome=k.processes.touch(pid, addr))
    elif step.op in ("mmap", "brk"):
        pid = _labelled(labels, a["task"], ("process",)) if "task" in a else a["pid"]
        uvm = k.processes.vm
        if step.op == "mmap":
            addr = uvm.sys_mmap(pid, a.get("addr", 0), a["size"])
            failed = addr & 0xFFF != 0
            event.update(pid=pid, size=a["size"], addr=addr, failed=failed)
            if not failed and "label" in a:
                labels[a["label"]] = ("mmap", addr)
        else:
            shrink = a.get("shrink", False)
            old, new = uvm.sys_brk(pid, a["size"], shrink)
            event.update(pid=pid, size=a["size"], old=old, brk=new, failed=new == old)
            if shrink:
                event["shrink"] = True
    elif step.op == "munmap":
        pid = _labelled(labels, a["task"], ("process",)) if "task" in a else a["pid"]
        addr = a.get("addr", 0)
        if "label" in a:
            addr = _labelled(labels, a["label"], ("mmap",)) + a.get("offset", 0)
        got = k.processes.vm.sys_munmap(pid, addr, a["size"])
        event.update(pid=pid, addr=addr & 0xFFFFFFFF, size=a["size"], result=got)
        event["failed"] = got != 0  # -EINVAL (-22) or -ENOMEM: the call's return
    if k.processes.oom_killed:  # out_of_memory chose them while the step ran
        event["oom_killed"], k.processes.oom_killed = k.processes.oom_killed, []
    events.append(event)


def _cleanup_buffer(labels: dict[str, tuple[str, int]], a: dict[str, Any]) -> dict[str, int]:
    """``buffer=``: the address of the vmalloc area a module's cleanup frees (the
    step's ``cleanup`` label, no longer live after it), or nothing without one."""
    if "cleanup" not in a:
        return {}
    buffer = _labelled(labels, a["cleanup"], ("vmalloc",))
    del labels[a["cleanup"]]
    return {"buffer": buffer}


def _labelled(labels: dict[str, tuple[str, int]], name: str, kinds: tuple[str, ...]) -> int:
    """What live label ``name`` names (of one of ``kinds``), left in place."""
    if name not in labels or labels[name][0] not in kinds:
        raise SimulationError(f"no {' or '.join(kinds)} labelled '{name}' is live")
    return labels[name][1]


def _random_mix(
    k: Kernel,
    a: dict[str, Any],
    rng: random.Random,
    event: dict[str, Any],
) -> None:
    """A seeded mix of vmalloc and vfree: allocation sizes uniform in pages."""
    vm = k.vmalloc
    lo = max(1, a.get("min_size", 4096) // 4096)
    hi = max(lo, a.get("max_size", 64 << 10) // 4096)
    ratio = a.get("free_ratio", 0.3)
    mine: list[int] = []
    allocs = frees = failures = 0
    for _ in range(a["count"]):
        if mine and rng.random() < ratio:
            addr = mine.pop(rng.randrange(len(mine)))
            vm.vfree(addr)
            frees += 1
        else:
            new = vm.vmalloc(rng.randint(lo, hi) * 4096, owner="random")
            if new is None:
                failures += 1
            else:
                mine.append(new)
                allocs += 1
    event.update(allocs=allocs, frees=frees, failures=failures)
