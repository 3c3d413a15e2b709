"""``vm [-p] [PID|TASK]``: crash's vm for a 2.4 kernel (memory.c, cmd_vm and
vm_area_dump), on an image whose process mapped, touched and unmapped memory.

The oracles: the generator's truth (each task's mm, pgd, rss, total_vm and areas)
and the simulator's own page tables for the same run (which frame each page maps),
against crash's printf formats written out here."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from generate_cli import vmintro_cli
from hostile_image import HostileImage
from oracles import run_gdb
from process_images import scenario_image

import vmintro
from vmintro.cmdline.namespace import python_namespace
from vmintro.commands import run
from vmintro.commands.render import render_text
from vmintro.commands.result import Table
from vmintro.errors import EXIT_FAILED, EXIT_OK
from vmintro.scenario.loader import parse_scenario
from vmintro.scenario.runner import machine_config, run_scenario

PAGE = 4096
SCENARIO = """name = "vm"
[machine]
ram = "32M"
seed = 5
[[step]]
op = "spawn"
name = "hog"
label = "hog"
[[step]]
op = "mmap"
task = "hog"
size = "20K"
label = "buf"
[[step]]
op = "touch"
task = "hog"
label = "buf"
size = "12K"
[[step]]
op = "munmap"
task = "hog"
label = "buf"
offset = "4K"
size = "4K"
"""


def build(out: Path, scenario: str) -> tuple[Path, dict, dict]:
    """(the image ``out`` of ``scenario``, its truth, pid -> {vaddr: frame} of the
    simulator's page tables after the same run)."""
    truth = scenario_image(out, scenario)
    scen = parse_scenario(scenario, "vm.toml")
    k = run_scenario(scen, *machine_config(scen, {})).kernel
    mem, frames = k.processes.vm.mem, {}
    for t in truth["tasks"]:
        if not t["mm"]:
            continue
        got = frames.setdefault(t["pid"], {})
        for start, end, _ in t["vmas"]:
            for va in range(start, end, PAGE):
                pte = mem.walk(t["mm"], va)
                entry = mem.pt.get(pte) if pte is not None else 0
                if entry & 1:
                    got[va] = (entry & k.paging.phys_mask) >> 12
    return out, truth, frames


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    return build(tmp_path_factory.mktemp("vm") / "vm", SCENARIO)


def _center(text: str, width: int) -> str:
    """crash's mkstring(CENTER|LJUST): the odd space on the right."""
    extra = width - len(text)
    left = extra // 2 if extra > 0 else 0
    return " " * left + text + " " * max(extra - left, 0)


def crash_vm(task: dict, cpu: int = 0) -> list[str]:
    """What crash's cmd_vm prints for one task of the truth (32-bit: VADDR_PRLEN and
    UVADDR_PRLEN 8, MINSPACE two spaces), trailing spaces dropped."""
    lines = [
        'PID: %-7ld  TASK: %-8x  CPU: %-3s  COMMAND: "%s"'  # noqa: UP031
        % (task["pid"], task["task"], cpu, task["comm"]),
        "   MM       PGD      RSS    TOTAL_VM",
        "  ".join(
            (
                _center(f"{task['mm']:x}", 8),
                _center(f"{task['pgd']:x}", 8),
                _center(f"{task['rss'] * 4}k", 6),
                _center(f"{task['total_vm'] * 4}k", 8),
            )
        ),
    ]
    if task["mm"]:
        lines.append("  VMA       START      END    FLAGS  FILE")
    return [line.rstrip() for line in lines]


def _vma_line(vma: int, start: int, end: int, flags: int) -> str:
    return ("%s  %8x  %8x %6x  " % (_center(f"{vma:x}", 8), start, end, flags)).rstrip()  # noqa: UP031


def _text(prog: vmintro.Program, line: str) -> list[str]:
    return [x.rstrip() for x in render_text(run(prog, line))]


def test_vm_is_crashs_layout_of_the_truth(image) -> None:
    base, truth, _ = image
    proc = vmintro_cli("-c", "vm 12", str(base))
    assert proc.returncode == EXIT_OK, proc.stderr
    got = [x.rstrip() for x in proc.stdout.splitlines()]
    hog = next(t for t in truth["tasks"] if t["pid"] == 12)
    head = crash_vm(hog)
    assert got[: len(head)] == head
    spans = [(s, e, f) for s, e, f in got_vmas(base, 12)]
    assert [(s, e, f) for s, e, f in spans] == [tuple(v) for v in hog["vmas"]]
    prog = vmintro.open(base)
    rows = [_vma_line(a, s, e, f) for a, (s, e, f) in zip(vma_addrs(prog, 12), spans, strict=True)]
    # the text area is executable and has no file: the deviation is printed under the areas
    assert got[len(head) : -1] == rows
    assert got[-1].startswith("note: an executable area without a FILE: vmintro's simulated")
    # the hole munmap made: buf's first page and its last three, two areas
    buf = truth["labels"]["buf"][1]
    assert [buf, buf + PAGE] in [v[:2] for v in hog["vmas"]]
    assert [buf + 2 * PAGE, buf + 5 * PAGE] in [v[:2] for v in hog["vmas"]]


def vma_addrs(prog: vmintro.Program, pid: int) -> list[int]:
    """The areas on mm->mmap, read by hand (no helper): mmap, then vm_next."""
    from vmintro.helpers import find_task

    task = find_task(prog, pid)
    out, vma = [], task.mm.mmap
    while vma.value_() and len(out) < 100:
        out.append(vma.value_())
        vma = vma.vm_next
    return out


def got_vmas(base: Path, pid: int) -> list[tuple[int, int, int]]:
    prog = vmintro.open(base)
    [areas] = [p for p in run(prog, f"vm {pid} --json") if p.name == "vm_areas"]
    return [(r["start"], r["end"], r["flags"]) for r in areas.rows]


def test_vm_p_translates_each_page_as_the_simulators_page_tables(image) -> None:
    check_pages(*image)


@pytest.mark.slow  # a second image, under PAE: 8-byte entries, the pmd from get_pgd_slow
def test_vm_p_under_pae(tmp_path: Path) -> None:
    scenario = SCENARIO.replace('ram = "32M"\n', 'ram = "32M"\npae = true\n')
    assert "pae = true" in scenario
    check_pages(*build(tmp_path / "pae", scenario))


def check_pages(base: Path, truth: dict, frames: dict) -> None:
    """vm -p of pid 12: every page of every area, each the frame the simulator's
    page tables map or (not mapped)."""
    prog = vmintro.open(base)
    got = _text(prog, "vm -p 12")
    pages = {}
    headers = 0
    for line in got:
        if line == "VIRTUAL   PHYSICAL":
            headers += 1
        elif line.startswith("  VMA "):
            continue
        else:
            words = line.split(maxsplit=1)
            if words[1:] == ["(not mapped)"] or len(line.split()) == 2:
                pages[int(words[0], 16)] = words[1]
    hog = next(t for t in truth["tasks"] if t["pid"] == 12)
    assert headers == len(hog["vmas"])
    every = [va for s, e, _ in hog["vmas"] for va in range(s, e, PAGE)]
    assert sorted(pages) == every
    for va in every:  # PHYSICAL right-justified in 8 (the machine's addresses fit in 7)
        want = f"{frames[12][va] << 12:>8x}" if va in frames[12] else "(not mapped)"
        assert pages[va] == want.strip(), hex(va)
    buf = truth["labels"]["buf"][1]
    # touched: buf's first page and (after the hole) its third; never touched: the rest
    assert buf in frames[12] and buf + 2 * PAGE in frames[12]
    assert buf + 3 * PAGE not in frames[12]
    assert f"{buf + 3 * PAGE:<8x}  (not mapped)" in got
    assert len(frames[12]) == hog["rss"] + sum(
        1
        for va in frames[12]
        if frames[12][va] == (prog.symbol("empty_zero_page").address - 0xC0000000) >> 12
    )


def test_a_kernel_thread_has_no_mm_and_no_areas(image) -> None:
    base, truth, _ = image
    prog = vmintro.open(base)
    kthread = next(t for t in truth["tasks"] if t["comm"] == "kswapd")
    assert _text(prog, f"vm {kthread['pid']}") == crash_vm(kthread)[:2] + [
        "   0         0        0k       0k"
    ]


def test_several_tasks_and_the_running_one(image) -> None:
    base, truth, _ = image
    prog = vmintro.open(base)
    got = _text(prog, "vm 12 1")
    assert got.count("") == 1 and got[got.index("") + 1].startswith("PID: 1 ")
    task = next(t for t in truth["tasks"] if t["pid"] == 12)
    assert _text(prog, f"vm {task['task']:x}") == _text(prog, "vm 12")
    # no argument: the task the CPU runs (crash's current context), the idle task here
    assert _text(prog, "vm") == _text(prog, "vm 0")


def test_vm_json_carries_the_numbers(image) -> None:
    base, truth, _ = image
    proc = vmintro_cli("-c", "vm 12 --json", str(base))
    assert proc.returncode == EXIT_OK, proc.stderr
    hog = next(t for t in truth["tasks"] if t["pid"] == 12)
    results = {r["name"]: r for r in json.loads(proc.stdout)["results"]}
    [mm] = results["vm_mm"]["rows"]
    assert (mm["mm"], mm["pgd"]) == (hog["mm"], hog["pgd"])
    assert (mm["rss"], mm["total_vm"]) == (hog["rss"] * 4, hog["total_vm"] * 4)  # KiB
    areas = results["vm_areas"]["rows"]
    assert [[a["start"], a["end"], a["flags"]] for a in areas] == hog["vmas"]


def test_an_unknown_task_is_one_line_and_a_failed_command(image) -> None:
    base, _, _ = image
    proc = vmintro_cli("-c", "vm 999", str(base))
    assert proc.returncode == EXIT_FAILED and proc.stdout == ""
    assert proc.stderr == "vm: 999: no task has that pid or task_struct address\n"


def test_a_looping_area_list_stops_with_the_area_that_holds_the_link(image, tmp_path: Path) -> None:
    base, _, _ = image
    prog = vmintro.open(base)
    first, second = vma_addrs(prog, 12)[:2]
    img = HostileImage(tmp_path / "bad", base)
    img.write_u32(second + prog.type("struct vm_area_struct").offsetof("vm_next"), first)
    img.save()
    proc = vmintro_cli("-c", "vm 12", str(img.base))
    assert proc.returncode == EXIT_FAILED
    assert proc.stderr.count("\n") == 1 and f"cycle: node at {second:#x}" in proc.stderr


def test_the_py_script_prints_the_commands_rows(image) -> None:
    """vm -p --py on a process with areas, pages mapped and not: the script, run as
    ``vmintro run`` runs it, prints the rows of every table vm prints."""
    base, _, _ = image
    prog = vmintro.open(base)
    [part] = run(prog, "vm -p 12 1 --py")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(part.data["script"], python_namespace(prog))  # noqa: S102
    tables = [p for p in run(prog, "vm -p 12 1") if isinstance(p, Table)]
    for table in tables:
        table.header = False
    want = [line.split() for line in render_text(tables) if line.strip()]
    assert [line.split() for line in out.getvalue().splitlines()] == want
    assert len(want) > 30


def test_overlapping_areas_walk_each_page_once(image, tmp_path: Path) -> None:
    """A corrupted list whose second area starts back at the first's start: vm
    prints both areas as they are, as crash does, and -p walks no page twice."""
    base, _, _ = image
    prog = vmintro.open(base)
    first, second = vma_addrs(prog, 12)[:2]
    vma_type = prog.type("struct vm_area_struct")
    start = prog.read_u32(first + vma_type.offsetof("vm_start"))
    img = HostileImage(tmp_path / "overlap", base)
    img.write_u32(second + vma_type.offsetof("vm_start"), start)
    img.save()
    bad = vmintro.open(img.base)
    lines = _text(bad, "vm -p 12")
    pages = [
        w[0]
        for w in (line.split() for line in lines)
        if w[1:] == ["(not", "mapped)"] or (len(w) == 2 and w[0] not in ("VIRTUAL",))
    ]
    assert len(pages) == len(set(pages)) > 0
    assert sum(1 for line in lines if line.split()[1:2] == [f"{start:x}"]) == 2


def test_vm_agrees_with_gdb(image) -> None:
    """gdb's reading of the core: the task's mm and pgd, and each area's address,
    start, end and flags down the vm_next chain, are vm's rows."""
    base, truth, _ = image
    hog = next(t for t in truth["tasks"] if t["pid"] == 12)
    mm = f"((struct task_struct *){hog['task']:#x})->mm"
    chain = [f"{mm}->mmap" + "->vm_next" * i for i in range(len(hog["vmas"]))]
    commands = [f"p/x {mm}", f"p/x {mm}->pgd", f"p {mm}->map_count"]
    for vma in chain:
        commands += [f"p/x {vma}", f"p/x {vma}->vm_start", f"p/x {vma}->vm_end"]
        commands.append(f"p/x {vma}->vm_flags")
    got = [
        int(line.split()[-1], 0)
        for line in run_gdb([base.with_suffix(".vmlinux"), base.with_suffix(".vmcore")], commands)
    ]
    prog = vmintro.open(base)
    parts = {p.name: p for p in run(prog, "vm 12")}
    [row] = parts["vm_mm"].rows
    assert got[:3] == [row["mm"], row["pgd"], len(parts["vm_areas"].rows)]
    want = [(r["vma"], r["start"], r["end"], r["flags"]) for r in parts["vm_areas"].rows]
    assert [tuple(got[i : i + 4]) for i in range(3, len(got), 4)] == want


def test_vm_names_no_stand_in_for_a_kernel_thread_or_anonymous_areas(image) -> None:
    """The note is about executable areas without a file: a kernel thread has none."""
    base, _, _ = image
    got = vmintro_cli("-c", "vm 2", str(base)).stdout
    assert "note:" not in got and "FLAGS" not in got
