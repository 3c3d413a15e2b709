"""Processes: init_task and the task ring, each process's page directory from
pgd_alloc, and the vmalloc fault that copies a kernel entry into it (2.4.20's
kernel/fork.c, include/asm-i386/pgalloc.h, arch/i386/mm/fault.c).

gdb reads the images (the types from their DWARF, the tasks from the core); the
ring as the library walks it is compared with the generator's truth.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from generate_cli import vmintro_cli
from oracles import run_gdb

import vmintro
from vmintro.generate import generate
from vmintro.image.writer.snapshot import snapshot
from vmintro.scenario.loader import ScenarioError, parse_scenario
from vmintro.scenario.runner import machine_config, run_scenario, run_truth
from vmintro.sim.resume import resume

PAGE_OFFSET = 0xC0000000
# a process made, then a vmalloc area the kernel maps after it: its page table is
# new, so only swapper_pg_dir has the entry; the last step touches it
STEPS = [
    'op = "spawn"\nname = "bash"\nlabel = "sh"',
    'op = "spawn"\nname = "cat"\nlabel = "other"',
    'op = "vmalloc"\nsize = "8K"\nlabel = "buf"',
    'op = "touch"\ntask = "sh"\nlabel = "buf"',
]


def _scenario_text(steps: list[str], pae: bool = False) -> str:
    ram = "64M" if pae else "16M"
    # no boot processes with anonymous memory: the pids here are the scenario's
    machine = f'ram = "{ram}"\npae = {str(pae).lower()}\nseed = 3\nanon = 0\n'
    return f'name = "p"\n[machine]\n{machine}' + "".join(f"[[step]]\n{s}\n" for s in steps)


def _generate(out: Path, steps: list[str], pae: bool = False) -> dict:
    path = out.with_suffix(".toml")
    path.write_text(_scenario_text(steps, pae))
    generate(out, str(path))
    return json.loads(out.with_suffix(".truth.json").read_text())


@pytest.fixture(scope="module", params=[False, True], ids=["2level", "pae"])
def before_after(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    pae = request.param
    out = tmp_path_factory.mktemp("proc")
    before = _generate(out / "before", STEPS[:-1], pae)
    after = _generate(out / "after", STEPS, pae)
    return pae, out, before, after


def _task(truth: dict, comm: str) -> dict:
    (task,) = [t for t in truth["tasks"] if t["comm"] == comm]
    return task


def _gdb(out: Path, name: str, commands: list[str]) -> list[str]:
    return run_gdb([out / f"{name}.vmlinux", out / f"{name}.vmcore"], commands)


def _hex(line: str) -> int:
    return int(re.sub(r"^\$\d+ = ", "", line), 16)


INIT_TASK = [
    "p init_task_union.task.comm",
    "p init_task_union.task.mm",
    "p init_task_union.task.pid",
    "p init_task_union.task.next_task->pid",
    "p init_task_union.task.next_task->comm",
    "p init_task_union.task.active_mm == &init_mm",
    "p sizeof(union task_union)",
    "p (unsigned long)&init_task_union % 8192",
    "ptype struct task_struct",
]


def _check_init_task(lines: list[str]) -> None:
    assert re.sub(r"^\$\d+ = ", "", lines[0]) == '"swapper' + "\\000" * 8 + '"'
    assert lines[1].endswith("(struct mm_struct *) 0x0")
    assert lines[2].endswith("= 0")
    # the ring: SET_LINKS puts each new task last, before init_task
    assert lines[3].endswith("= 1") and '"init"' in lines[4]
    assert lines[5].endswith("= 1") and lines[6].endswith("= 8192") and lines[7].endswith("= 0")
    for member in ("volatile long state;", "char comm[16];", "struct mm_struct *active_mm;"):
        assert member in lines[8]


def test_gdb_reads_init_task_and_a_process_pgd_entry_before_and_after_touch(
    before_after,
) -> None:
    """2-level: the new page table is in swapper_pg_dir only until the touch copies
    it. PAE: the process's kernel pgd entry is swapper_pg_dir's own pmd page, so
    the area is reached without a fault."""
    pae, out, before, after = before_after
    addr = before["labels"]["buf"][1]
    index = addr >> (30 if pae else 22)
    entries = {}
    for name, truth in (("before", before), ("after", after)):
        sh, other = _task(truth, "bash"), _task(truth, "cat")
        lines = _gdb(
            out,
            name,
            [
                f"p/x ((struct task_struct *){sh['task']:#x})->mm->pgd[{index}].pgd",
                f"p/x ((struct task_struct *){other['task']:#x})->mm->pgd[{index}].pgd",
                f"p/x swapper_pg_dir[{index}].pgd",
                f"p/x ((struct task_struct *){sh['task']:#x})->mm->pgd",
                *(INIT_TASK if name == "after" else []),
            ],
        )
        entries[name] = [_hex(line) for line in lines[:4]]
        assert entries[name][3] == sh["pgd"]
    _check_init_task(lines[4:])
    kernel = entries["before"][2]
    assert kernel & 1 and entries["after"][2] == kernel
    (touch,) = [e for e in after["events"] if e["op"] == "touch"]
    if pae:
        assert entries["before"][:2] == [kernel, kernel] == entries["after"][:2]
        assert touch["outcome"] == "mapped"
    else:
        assert entries["before"][:2] == [0, 0]  # missing: made before the vmalloc
        assert entries["after"][:2] == [kernel, 0]  # copied into the touched one only
        assert touch["outcome"] == "synced"


def test_truth_tasks_are_the_ring_in_ram(before_after) -> None:
    _pae, out, _before, after = before_after
    prog = vmintro.open(out / "after")
    init = prog["init_task_union"].task
    seen = []
    p = init.next_task
    while p.value_() != init.address_of_().value_():
        mm = p.mm.value_()
        vmas, vma = [], p.mm.mmap if mm else None
        while vma is not None and vma.value_():  # mm->mmap, by vm_next
            vmas.append([vma.vm_start.value_(), vma.vm_end.value_(), vma.vm_flags.value_()])
            vma = vma.vm_next
        seen.append(
            {
                "pid": p.pid.value_(),
                "ppid": p.p_pptr.pid.value_(),
                "comm": p.comm.string_().decode(),
                "task": p.value_(),
                "mm": mm,
                "pgd": p.mm.pgd.value_() if mm else 0,
                "state": {0: "TASK_RUNNING", 1: "TASK_INTERRUPTIBLE"}[p.state.value_()],
                "rss": p.mm.rss.value_() if mm else 0,
                "total_vm": p.mm.total_vm.value_() if mm else 0,
                "vmas": vmas,
            }
        )
        # hashed where find_task_by_pid looks
        h = ((seen[-1]["pid"] >> 8) ^ seen[-1]["pid"]) & 1023
        q = prog["pidhash"][h]
        while q.value_() != p.value_():
            q = q.pidhash_next
        p = p.next_task
    assert sorted(seen, key=lambda t: t["pid"]) == after["tasks"]
    assert [t["comm"] for t in seen] == [
        "init", "keventd", "ksoftirqd_CPU0", "kswapd", "bdflush", "kupdated", "bash", "cat",
    ]  # fmt: skip
    assert prog["nr_threads"].value_() == len(seen)
    # init_mm.mmlist: init's mm (exec_mmap), then each child after its parent's (dup_mmap)
    assert prog["mmlist_nr"].value_() == 3


def test_exit_frees_what_fork_took_and_resume_goes_on(tmp_path: Path) -> None:
    """Steps 1..3 saved, resumed, 4..7 run: RAM and truth as one run from boot; the
    exits give back every page and object fork and the oops's victim took."""
    steps = [
        'op = "vmalloc"\nsize = "8K"\nlabel = "buf"',
        'op = "spawn"\nname = "sh"\nlabel = "sh"',
        'op = "fork"\nparent = 1',
        'op = "touch"\ntask = "sh"\nlabel = "buf"\noffset = 4096',
        'op = "touch"\npid = 8\naddr = 0xc0001000',
        'op = "touch"\npid = 7\naddr = 0xfff00000\nallow_bug = true',
        'op = "exit"\npid = 8',
    ]
    scen = parse_scenario(_scenario_text(steps), "p.toml")
    cfg, seed = machine_config(scen, {})
    whole = run_scenario(scen, cfg, seed, record=True)
    generate(tmp_path / "part", dataclasses.replace(scen, steps=scen.steps[:3]))
    rest = run_scenario(scen, cfg, seed, resumed=resume(tmp_path / "part"), first=3)
    mem, other = whole.kernel.mem, rest.kernel.mem
    assert {p: mem.page(p) for p in mem.stored_pfns()} == {
        p: other.page(p) for p in other.stored_pfns()
    }
    truth = snapshot(whole.kernel, {}, run_truth(whole)).truth
    assert snapshot(rest.kernel, {}, run_truth(rest)).truth == truth
    outcomes = [e.get("outcome") for e in truth["events"] if e["op"] == "touch"]
    # sh was made after buf's page table, so its pgd has the entry; 0xfff00000 is a
    # fixmap slot nothing set: an oops, and pid 7 dies of it
    assert outcomes == ["mapped", "mapped", "oops"]
    assert [t["pid"] for t in truth["tasks"]] == [1, 2, 3, 4, 5, 6]
    assert "Unable to handle kernel paging request at virtual address fff00000" in truth["log"]
    k = whole.kernel
    assert k.r32(k.sym("nr_threads")) == 6 and k.r32(k.sym("mmlist_nr")) == 1


def test_generation_with_process_ops_is_byte_identical(tmp_path: Path) -> None:
    for name in ("a", "b"):
        _generate(tmp_path / name, STEPS + ['op = "exit"\nlabel = "other"'])
    for suffix in (".vmcore", ".vmlinux", ".truth.json", ".timeline"):
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ('op = "touch"\naddr = 0xc0000000', "exactly one of 'pid' or 'task'"),
        ('op = "touch"\npid = 1', "exactly one of 'addr' or 'label'"),
        ('op = "touch"\npid = 1\naddr = 1\noffset = 4', "'offset' goes with 'label'"),
        ('op = "exit"', "exactly one of 'pid' or 'label'"),
        ('op = "fork"\nparent = 32768', "below PID_MAX"),
        ('op = "spawn"\nname = "a-name-of-sixteen"', "15 are allowed"),
        ('op = "spawn"', "missing 'name'"),
    ],
)
def test_bad_process_steps_are_one_line_errors(step: str, message: str) -> None:
    with pytest.raises(ScenarioError) as e:
        parse_scenario(_scenario_text([step]), "p.toml")
    assert message in str(e.value) and "\n" not in str(e.value) and "p.toml:" in str(e.value)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ('op = "exit"\npid = 1', "Kernel panic: Attempted to kill init!"),
        ('op = "exit"\npid = 99', "no process has pid 99"),
        ('op = "touch"\npid = 1\naddr = 0xf0000000', "Unable to handle kernel paging request"),
        ('op = "touch"\ntask = "nobody"\naddr = 0xc0000000', "no process labelled 'nobody'"),
    ],
)
def test_what_the_kernel_refuses_stops_the_run_in_one_line(step: str, message: str) -> None:
    scen = parse_scenario(_scenario_text([step]), "p.toml")
    cfg, seed = machine_config(scen, {})
    with pytest.raises(ScenarioError) as e:
        run_scenario(scen, cfg, seed)
    assert message in str(e.value) and "\n" not in str(e.value) and "step 1" in str(e.value)


def test_sim_calls_fork_spawn_touch_exit(before_after) -> None:
    """The sim command, as a user types it, on the image before the touch."""
    pae, out, before, _after = before_after
    if pae:
        pytest.skip("the 2-level image shows the fault; PAE never takes it")
    addr = before["labels"]["buf"][1]
    sh = _task(before, "bash")["pid"]
    script = (
        f"sim touch {sh} {addr:#x}; sim touch {sh} {addr:#x}; sim touch {sh} 0xfff00000; "
        "sim spawn vi; sim fork 99; sim exit 1"
    )
    proc = vmintro_cli(str(out / "before"), "-c", script)
    text = proc.stdout + proc.stderr
    assert "vmalloc fault: do_page_fault copied the missing entry from init_mm.pgd" in text
    assert "mapped: the process's page directory maps it, no fault" in text
    assert "Unable to handle kernel paging request at virtual address fff00000" in text
    assert f"spawn(name='vi', parent=1) = {sh + 2}" in text  # pids 7 and 8 are taken
    assert "no process has pid 99" in text
    assert "do_exit(code=0, current=1) = panic" in text
    assert "Kernel panic: Attempted to kill init!" in text
    assert "Traceback" not in text


def test_fork_past_max_threads_is_an_event_and_the_run_goes_on(tmp_path: Path) -> None:
    """kernel/fork.c: do_fork returns -EAGAIN once nr_threads reaches max_threads (256
    on 16 MiB: mempages / 2 / 8 in fork_init), and sys_fork hands it to the caller. The
    run goes on, as after a vmalloc that returns NULL: the truth's event says so, the
    timeline's do_fork entry returns -EAGAIN, and the steps after it ran."""
    steps = ['op = "fork"'] * 256 + ['op = "spawn"\nname = "late"']
    steps.append('op = "vmalloc"\nsize = "8K"\nlabel = "after"')
    scenario = tmp_path / "forks.toml"
    scenario.write_text(_scenario_text(steps))
    out = tmp_path / "forks"
    proc = vmintro_cli("generate", "-q", "-o", str(out), "--scenario", str(scenario))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    truth = json.loads(out.with_suffix(".truth.json").read_text())
    listing = vmintro_cli(str(out), "-q", "-c", "p max_threads; p nr_threads; timeline").stdout
    max_threads = (16 << 20) // 4096 // 2 // 8
    assert f"max_threads = $1 = {max_threads}\nnr_threads = $2 = {max_threads}\n" in listing
    forks = [e for e in truth["events"] if e["op"] in ("fork", "spawn")]
    failed = [e for e in forks if e.get("failed")]
    first = failed[0]["step"]
    assert failed == [
        {"step": s, "op": "fork" if s <= 256 else "spawn", "parent": 1, "pid": -11}
        | {"failed": True, "errno": "EAGAIN"}
        for s in range(first, 258)
    ]
    assert all(e["pid"] > 0 and "failed" not in e for e in forks if e["step"] < first)
    assert "after" in truth["labels"] and truth["events"][-1]["op"] == "vmalloc"
    assert not any(t["comm"] == "late" for t in truth["tasks"])
    rows = [line.split() for line in listing.splitlines()]
    results = {int(r[1]): r[-2] for r in rows if r and r[0].isdigit() and "do_fork(" in r[2]}
    assert results[first] == "-EAGAIN" and results[first - 1].isdigit()


def test_fork_enomem_is_an_event_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """do_fork's other failure, -ENOMEM when alloc_task_struct gets no pages (2.4.20's
    __alloc_pages rarely gives up on an order-1 GFP_KERNEL request: here it is made to),
    is recorded the same way, and the next steps run."""
    from vmintro.sim.boot import Kernel, boot
    from vmintro.sim.process import Processes

    def boot_then_no_memory(*args: Any) -> Kernel:  # boot's own forks succeed
        k = boot(*args)
        monkeypatch.setattr(Processes, "alloc_task_struct", lambda self: None)
        return k

    monkeypatch.setattr("vmintro.scenario.runner.boot", boot_then_no_memory)
    steps = ['op = "fork"\nlabel = "child"', 'op = "vmalloc"\nsize = "8K"']
    scen = parse_scenario(_scenario_text(steps), "p.toml")
    cfg, seed = machine_config(scen, {})
    result = run_scenario(scen, cfg, seed)
    fork, vmalloc = result.events
    expected = {"step": 1, "op": "fork", "parent": 1, "pid": -12}
    assert fork == expected | {"failed": True, "errno": "ENOMEM"}
    assert vmalloc["op"] == "vmalloc" and not vmalloc["failed"]
    assert "child" not in result.labels
