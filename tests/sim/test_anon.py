"""Anonymous memory and user mappings (mm/mmap.c, mm/memory.c, fs/exec.c,
mm/oom_kill.c, kernel/exit.c of 2.4.20): VMAs on mm->mmap and in mm->mm_rb,
user page tables, rss and total_vm, ps, the OOM killer and exit.

The oracles: the generator's truth, the library reading the core (mm->mmap by
vm_next, mm_rb by rb_left/rb_right, the page tables by follow_pte), gdb on the
image, and tests/sim/rawmem's reader of physical memory for the free lists.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from generate_cli import vmintro_cli
from oracles import run_gdb
from rawmem import Raw, check_buddy
from rbtree_walk import rb_inorder

import vmintro
from vmintro.generate import generate
from vmintro.scenario.loader import ScenarioError, parse_scenario
from vmintro.scenario.runner import machine_config, run_scenario, run_truth
from vmintro.sim.resume import resume

PAGE = 4096
TASK_SIZE = 0xC0000000
STEPS = [
    'op = "spawn"\nname = "hog"\nlabel = "hog"',
    'op = "mmap"\ntask = "hog"\nsize = "256K"\nlabel = "buf"',
    'op = "touch"\ntask = "hog"\nlabel = "buf"\nsize = "256K"',
    'op = "brk"\ntask = "hog"\nsize = "64K"',
    'op = "fork"\nparent = 12\nlabel = "kid"',
    'op = "touch"\ntask = "kid"\nlabel = "buf"\nsize = "8K"',
    'op = "spawn"\nname = "bad"\nlabel = "bad"',
    'op = "touch"\ntask = "bad"\naddr = 0x1000',
]


def _text(steps: list[str], machine: str = 'ram = "32M"\nseed = 5\n') -> str:
    return f'name = "a"\n[machine]\n{machine}' + "".join(f"[[step]]\n{s}\n" for s in steps)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("anon") / "a"
    out.with_suffix(".toml").write_text(_text(STEPS))
    generate(out, str(out.with_suffix(".toml")))
    return out, json.loads(out.with_suffix(".truth.json").read_text())


def _tasks(truth: dict) -> dict[int, dict]:
    return {t["pid"]: t for t in truth["tasks"]}


def _black_height(node) -> int:  # type: ignore[no-untyped-def]
    """The red-black rules below ``node``: no red node with a red child, and one
    black height on every path; returns that height."""
    if not node.value_():
        return 1
    left, right = _black_height(node.rb_left), _black_height(node.rb_right)
    assert left == right
    red = node.rb_color.value_() == 0
    if red:
        for child in (node.rb_left, node.rb_right):
            assert not child.value_() or child.rb_color.value_() == 1
    return left + (0 if red else 1)


def test_boot_processes_hold_the_default_share(image) -> None:
    _, truth = image
    boot = truth["boot"]["anon"]
    tasks = _tasks(truth)
    assert boot["pids"] == [7, 8, 9, 10, 11]
    assert [tasks[p]["comm"] for p in boot["pids"]] == ["syslogd", "klogd", "crond", "sshd", "atd"]
    prog = vmintro.open(image[0].with_suffix(".vmcore"))
    assert boot["target"] == boot["pages"] == int(0.1 * prog["totalram_pages"].value_())
    # each page written is one page of rss; the argument page of exec is the other
    assert sum(tasks[p]["rss"] for p in boot["pids"]) == boot["pages"] + 5


def test_vmas_in_ram_are_the_truths_sorted_list_and_tree(image) -> None:
    out, truth = image
    prog = vmintro.open(out.with_suffix(".vmcore"))
    tasks = _tasks(truth)
    seen = 0
    init = prog["init_task_union"].task
    p = init.next_task
    while p.value_() != init.address_of_().value_():
        mm = p.mm
        if mm.value_():
            vmas, vma = [], mm.mmap
            while vma.value_():
                assert vma.vm_mm.value_() == mm.value_()
                vmas.append(vma)
                vma = vma.vm_next
            spans = [[v.vm_start.value_(), v.vm_end.value_(), v.vm_flags.value_()] for v in vmas]
            assert spans == tasks[p.pid.value_()]["vmas"]
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
            assert mm.map_count.value_() == len(vmas)
            assert mm.total_vm.value_() == sum(e - s for s, e, _ in spans) // PAGE
            root = mm.mm_rb.rb_node
            assert [n - 0x18 for n in rb_inorder(root)] == [v.value_() for v in vmas]
            assert root.rb_color.value_() == 1
            _black_height(root)
            cache = mm.mmap_cache.value_()
            assert cache in [0] + [v.value_() for v in vmas]
            seen += 1
        p = p.next_task
    assert seen == len([t for t in truth["tasks"] if t["mm"]]) >= 8


def test_rss_is_the_present_user_ptes(image) -> None:
    """Every present user pte of a process maps a page on the LRU; their number is
    mm->rss; the pages fork shared are read-only in both and counted twice."""
    from vmintro.helpers import follow_pte

    out, truth = image
    prog = vmintro.open(out.with_suffix(".vmcore"))
    tasks = _tasks(truth)
    frames: dict[int, dict[int, int]] = {}
    for pid in (12, 13):
        t = tasks[pid]
        mine: dict[int, int] = {}
        for start, end, _ in t["vmas"]:
            for addr in range(start, end, PAGE):
                walk = follow_pte(prog, t["pgd"], addr)
                if walk.paddr is not None:
                    mine[addr] = walk.steps[-1].value
        assert len(mine) == t["rss"]
        frames[pid] = mine
    hog, kid = frames[12], frames[13]
    buf = truth["labels"]["buf"][1]
    assert set(hog) == set(kid)  # fork copied every entry
    for addr in hog:
        same = hog[addr] >> 12 == kid[addr] >> 12
        # the child wrote the first two pages of buf: copies of its own (do_wp_page)
        assert same == (not buf <= addr < buf + 2 * PAGE)
        if same:
            assert not hog[addr] & 2 and not kid[addr] & 2  # COW: write-protected
    page = prog["mem_map"] + (hog[buf] >> 12)
    assert page.count.counter.value_() == 1 and page.flags.value_() & (1 << 6)  # PG_lru
    shared = prog["mem_map"] + (hog[buf + 2 * PAGE] >> 12)
    assert shared.count.counter.value_() == 2


def test_ps_shows_vsz_rss_and_mem_as_crash_computes_them(image) -> None:
    out, truth = image
    run = vmintro_cli("-c", "ps", str(out.with_suffix(".vmcore")))
    assert run.returncode == 0, run.stderr
    lines = [[c for c in line.split() if c != ">"] for line in run.stdout.splitlines()[1:]]
    rows = {int(m[0]): m for m in lines}
    prog = vmintro.open(out.with_suffix(".vmcore"))
    # crash: rss * 100 / MIN(BTOP(VTOP(high_memory)), num_physpages)
    total = min((prog["high_memory"].value_() - TASK_SIZE) // PAGE, prog["num_physpages"].value_())
    for t in truth["tasks"]:
        row = rows[t["pid"]]
        assert row[-2] == str(t["rss"] * 4) and row[-3] == str(t["total_vm"] * 4)
        assert row[-4] == f"{t['rss'] * 100 / total:.1f}"
    assert int(rows[12][-2]) > 256  # hog's buffer


def test_gdb_reads_the_vma_lists(image) -> None:
    out, truth = image
    tasks = _tasks(truth)
    hog = tasks[12]["task"]
    lines = run_gdb(
        [out.with_suffix(".vmlinux"), out.with_suffix(".vmcore")],
        [
            "p/x init_task_union.task.next_task->mm->mmap->vm_start",
            f"p/x ((struct task_struct *){hog:#x})->mm->mmap->vm_next->vm_end",
            f"p ((struct task_struct *){hog:#x})->mm->rss",
            "ptype struct vm_area_struct",
        ],
    )
    assert int(re.sub(r"^\$\d+ = ", "", lines[0]), 16) == tasks[1]["vmas"][0][0]
    assert int(re.sub(r"^\$\d+ = ", "", lines[1]), 16) == tasks[12]["vmas"][1][1]
    assert re.sub(r"^\$\d+ = ", "", lines[2]) == str(tasks[12]["rss"])
    assert "rb_node_t vm_rb;" in lines[3]


def test_a_touch_outside_every_area_is_sigsegv(image) -> None:
    _, truth = image
    last = truth["events"][-1]
    assert last["outcome"] == "segv" and last["pid"] == 14
    assert 14 not in _tasks(truth) and 12 in _tasks(truth)


def test_exit_gives_back_every_page_and_page_table() -> None:
    steps = STEPS[:4] + ['op = "exit"\nlabel = "hog"']
    scen = parse_scenario(_text(steps[:4]), "a.toml")
    cfg, seed = machine_config(scen, {})
    k = run_scenario(scen, cfg, seed).kernel
    vm = k.processes.vm
    mm = k.get(k.processes.task_of(12), "struct task_struct", "mm")
    pfns, tables = set(), set()
    for start, end, _ in k.processes.records[12]["vmas"]:
        for addr in range(start, end, PAGE):
            pte = vm.mem.walk(mm, addr)
            if pte is not None:
                tables.add(k.pa(pte) // PAGE)
                if vm.mem.pt.get(pte) & 1:
                    pfns.add(vm.mem.pt.get(pte) >> 12)
    assert len(pfns) == k.processes.records[12]["rss"] > 64
    scen = parse_scenario(_text(steps), "a.toml")
    k = run_scenario(scen, cfg, seed).kernel
    free = set(check_buddy(Raw(k)))
    assert pfns | tables <= free


@pytest.mark.slow  # 1,800 copy-on-write faults and ten reclaim rounds per kill: ~10 s
def test_oom_kills_the_task_of_most_badness_and_frees_its_memory() -> None:
    """A child writes the buffer it shares with its parent: each write copies a page
    (do_wp_page) until memory runs out. out_of_memory's badness is total_vm (every
    task is root's: / 4, and / 4 again for CAP_SYS_RAWIO), so the two of the largest
    total_vm tie and the first in the task ring, the parent, dies; its pages go back
    and the child's writes go on."""
    steps = [
        'op = "spawn"\nname = "h1"\nlabel = "h1"',
        'op = "mmap"\ntask = "h1"\nsize = "7M"\nlabel = "m"',
        'op = "touch"\ntask = "h1"\nlabel = "m"\nsize = "7M"',
        'op = "fork"\nparent = 12\nlabel = "child"',
        'op = "touch"\ntask = "child"\nlabel = "m"\nsize = "7M"',
    ]
    scen = parse_scenario(_text(steps, 'ram = "16M"\n'), "a.toml")
    cfg, seed = machine_config(scen, {})
    result = run_scenario(scen, cfg, seed)
    truth = run_truth(result)
    last = truth["events"][-1]
    assert last["oom_killed"] == [12] and last["outcome"] == "fault"
    assert last["faults"] == 7 * 256  # every page of the child's is its own now
    log = result.kernel.log
    assert "Out of Memory: Killed process 12 (h1)." in log
    assert 12 not in result.kernel.processes.records
    assert result.kernel.processes.records[13]["rss"] >= 7 * 256


def test_resumed_kernel_picks_up_areas_and_page_tables(tmp_path: Path) -> None:
    scen = parse_scenario(_text(STEPS), "a.toml")
    cfg, seed = machine_config(scen, {})
    whole = run_scenario(scen, cfg, seed)
    generate(tmp_path / "part", dataclasses.replace(scen, steps=scen.steps[:3]))
    rest = run_scenario(scen, cfg, seed, resumed=resume(tmp_path / "part"), first=3)
    mem, other = whole.kernel.mem, rest.kernel.mem
    assert {p: mem.page(p) for p in mem.stored_pfns()} == {
        p: other.page(p) for p in other.stored_pfns()
    }
    assert rest.kernel.processes.records == whole.kernel.processes.records


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ('op = "mmap"\nsize = "4K"', "exactly one of 'pid' or 'task'"),
        ('op = "brk"\npid = 1\ntask = "x"\nsize = "4K"', "exactly one of 'pid' or 'task'"),
        ('op = "mmap"\npid = 1', "missing 'size'"),
    ],
)
def test_bad_memory_steps_are_one_line_errors(step: str, message: str) -> None:
    with pytest.raises(ScenarioError) as e:
        parse_scenario(_text([step]), "a.toml")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_the_anon_knob_from_the_command_line(tmp_path: Path) -> None:
    run = vmintro_cli("generate", "-q", "-o", str(tmp_path / "z"), "--ram", "16M", "--anon", "0")
    assert run.returncode == 0, run.stderr
    truth = json.loads((tmp_path / "z.truth.json").read_text())
    assert truth["boot"]["anon"]["pids"] == [] and truth["boot"]["anon"]["fraction"] == 0
    assert not [t for t in truth["tasks"] if t["comm"] in ("syslogd", "atd")]
    bad = vmintro_cli("generate", "-q", "-o", str(tmp_path / "y"), "--anon", "2")
    assert bad.returncode == 2 and "--anon" in bad.stderr


def test_many_areas_keep_the_list_and_the_red_black_tree_in_step() -> None:
    """Areas made at scattered addresses, then the gaps between some filled: each
    fill merges with the area before and after it (vma_merge, rb_erase of the next),
    so the tree sees inserts, rotations and erases; it stays a red-black tree whose
    in-order walk is mm->mmap."""
    import random

    scen = parse_scenario(_text(STEPS[:1], 'ram = "16M"\nanon = 0\n'), "a.toml")
    cfg, seed = machine_config(scen, {})
    result = run_scenario(scen, cfg, seed)
    k, pid = result.kernel, result.labels["hog"][1]
    vm = k.processes.vm
    rng = random.Random(1)
    slots = rng.sample(range(200), 150)
    base = 0x50000000
    for i in slots:  # every other page: areas of one page, none adjacent
        assert vm.sys_mmap(pid, base + 2 * i * PAGE, PAGE) == base + 2 * i * PAGE
    for i in rng.sample(slots, 60):  # the page after it: joins it to the next when there
        assert vm.sys_mmap(pid, base + (2 * i + 1) * PAGE, PAGE) == base + (2 * i + 1) * PAGE
    mm = k.get(k.processes.task_of(pid), "struct task_struct", "mm")
    listed = vm.mmap.vmas(mm)
    assert k.get(mm, "struct mm_struct", "map_count") == len(listed)
    r32 = k.r32

    def inorder(n: int) -> list[int]:
        return inorder(r32(n + 12)) + [n - 0x18] + inorder(r32(n + 8)) if n else []

    def height(n: int) -> int:
        if not n:
            return 1
        left, right = height(r32(n + 12)), height(r32(n + 8))
        assert left == right
        red = r32(n + 4) == 0
        assert not red or all(not c or r32(c + 4) == 1 for c in (r32(n + 8), r32(n + 12)))
        return left + (not red)

    root = r32(mm + k.types.offsetof("struct mm_struct", "mm_rb"))
    assert inorder(root) == listed and r32(root + 4) == 1
    height(root)
    spans = [
        (k.get(v, "struct vm_area_struct", "vm_start"), k.get(v, "struct vm_area_struct", "vm_end"))
        for v in listed
    ]
    mine = [(a, b) for a, b in spans if base <= a < base + 400 * PAGE]
    assert all(a[1] < b[0] for a, b in zip(mine, mine[1:], strict=False))  # all merged
    assert len(listed) < 150 + 5


def test_a_kernel_mode_read_of_user_memory_faults_it_in_or_oopses() -> None:
    """sim touch's kernel-mode read (as copy_from_user makes) of a user address:
    inside an area do_page_fault maps the zero page (a read takes no memory); outside
    every area no_context oopses."""
    from vmintro.sim.errors import PageFault

    scen = parse_scenario(_text(STEPS[:2], 'ram = "16M"\nanon = 0\n'), "a.toml")
    cfg, seed = machine_config(scen, {})
    result = run_scenario(scen, cfg, seed)
    k, pid = result.kernel, result.labels["hog"][1]
    buf = result.labels["buf"][1]
    procs = k.processes
    rss = procs.records[pid]["rss"]
    assert procs.touch(pid, buf + PAGE) == "fault"
    mm = k.get(procs.task_of(pid), "struct task_struct", "mm")
    entry = procs.vm.mem.pt.get(procs.vm.mem.walk(mm, buf + PAGE))
    assert entry >> 12 == k.pa(k.sym("empty_zero_page")) >> 12 and not entry & 2
    assert k.get(mm, "struct mm_struct", "rss") == rss
    assert procs.touch(pid, buf + PAGE) == "mapped"
    with pytest.raises(PageFault, match="virtual address 00001000"):
        procs.touch(pid, 0x1000)


def test_pae_page_tables_and_highmem_pages(tmp_path: Path) -> None:
    """Under PAE the user entries are 8 bytes in the pmd pages get_pgd_slow gave;
    do_anonymous_page's GFP_HIGHUSER takes HighMem first where the machine has it,
    while the page tables (GFP_KERNEL) stay in lowmem."""
    from vmintro.helpers import follow_pte

    out = tmp_path / "p"
    out.with_suffix(".toml").write_text(_text(STEPS[:3], 'ram = "64M"\npae = true\nanon = 0\n'))
    generate(out, str(out.with_suffix(".toml")))
    truth = json.loads(out.with_suffix(".truth.json").read_text())
    prog = vmintro.open(out.with_suffix(".vmcore"))
    hog = _tasks(truth)[truth["labels"]["hog"][1]]
    buf = truth["labels"]["buf"][1]
    walks = [follow_pte(prog, hog["pgd"], buf + i * PAGE) for i in range(64)]
    assert all(w.paddr is not None and len(w.steps) == 3 for w in walks)
    assert all(w.steps[-1].value & 0x67 == 0x67 for w in walks)  # present, rw, user, A, D

    scen = parse_scenario(_text(STEPS[:3], 'ram = "1G"\nhighmem = true\nanon = 0\n'), "a.toml")
    cfg, seed = machine_config(scen, {})
    result = run_scenario(scen, cfg, seed)
    k, pid = result.kernel, result.labels["hog"][1]
    mm = k.get(k.processes.task_of(pid), "struct task_struct", "mm")
    um = k.processes.vm.mem
    highstart = k.r32(k.sym("highstart_pfn"))
    for i in range(64):
        pte = um.walk(mm, result.labels["buf"][1] + i * PAGE)
        assert pte is not None and um.pt.get(pte) >> 12 >= highstart
        assert k.pa(pte) >> 12 < highstart


def test_the_workload_writes_no_more_than_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """However large the share asked, the boot's processes write at most MAX_ANON_BYTES
    (each page is held by the host and faulted one at a time)."""
    import vmintro.sim.anon as anon
    from vmintro.arch.x86 import MachineConfig
    from vmintro.sim.boot import boot

    monkeypatch.setattr(anon, "MAX_ANON_BYTES", 64 * 4096)
    k = boot(MachineConfig(ram=16 << 20), anon=0.5, seed=3)
    run = k.boot_truth["anon"]
    assert run["target"] == run["pages"] == 64


def test_a_touch_at_a_label_past_4_gib_wraps_as_the_cpus_address_does(tmp_path: Path) -> None:
    """An area's label plus an offset beyond 4 GiB is the 32-bit address it wraps to
    (here 0: the process's own access, a SIGSEGV), recorded so and read back."""
    text = (
        '[machine]\nram = "32M"\n'
        '[[step]]\nop = "spawn"\nname = "sh"\nlabel = "sh"\n'
        '[[step]]\nop = "mmap"\ntask = "sh"\nsize = "1M"\nlabel = "m"\n'
        '[[step]]\nop = "touch"\ntask = "sh"\nlabel = "m"\noffset = 0xC0000000\n'
    )
    scen = parse_scenario(text, "wrap.toml")
    generate(tmp_path / "wrap", scen, {})
    prog = vmintro.open(tmp_path / "wrap")
    assert prog.timeline is not None
    last = prog.timeline.entries[-1]
    assert last.call == "touch" and dict(last.args)["addr"] == 0
    truth = json.loads((tmp_path / "wrap.truth.json").read_text())
    assert truth["events"][-1]["addr"] == 0 and truth["events"][-1]["outcome"] == "segv"
