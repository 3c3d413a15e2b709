"""``ps``, ``vtop -c PID|TASK ADDR`` and ``check``'s process page directories, on images
with processes (``process_images.py``): crash's layout, what the simulator did as the
oracle, the lazy vmalloc fault before and after a ``touch``, and one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from hostile_image import HostileImage

import vmintro
from vmintro.checkrun import check_images
from vmintro.cmdline.namespace import python_namespace
from vmintro.cmdline.runner import Runner
from vmintro.commands import run
from vmintro.commands.render import render_text
from vmintro.errors import EXIT_FAILED, EXIT_OK

# crash's task.c, show_ps and show_ps_data, for a 32-bit kernel (VADDR_PRLEN 8)
CRASH_HEADER = "      PID    PPID  CPU   TASK    ST  %MEM      VSZ      RSS  COMM"
# 2.4.20's TASK_RUNNING .. TASK_STOPPED and crash's letters for them
STATES = {0: "RU", 1: "IN", 2: "UN", 4: "ZO", 8: "ST"}


def crash_line(
    pid: int,
    ppid: int,
    task: int,
    state: str,
    comm: str,
    kthread: bool,
    memory: tuple[int, int, int] = (0, 0, 1),
) -> str:
    """What crash's show_ps_data prints for a task: its printf formats, written out;
    "> " marks the task a CPU runs, on an idle machine the idle task. ``memory`` is
    (mm->rss, mm->total_vm, crash's divisor for %MEM: MIN(BTOP(VTOP(high_memory)),
    num_physpages)); a 3-character %MEM is mkstring'd to 4, right-justified."""
    rss, total_vm, total = memory
    line = "> " if pid == 0 else "  "
    line += "%7ld %7ld %3s  %s %3s" % (pid, ppid, "0", f"{task:08x}", state)  # noqa: UP031
    pct = "%.1f" % (rss * 100 / total)  # noqa: UP031
    pct = pct.rjust(4) if len(pct) == 3 else pct
    line += "  " + pct + " " + "%8ld " % (total_vm * 4) + "%8ld  " % (rss * 4)  # noqa: UP031
    return line + (f"[{comm}]" if kthread else comm)


def lines(prog, line: str) -> list[str]:
    return list(render_text(run(prog, line)))


def status_of(prog, line: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = Runner(prog, out=out, err=err).run_line(line)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(params=["2level", "pae"])
def image(request: pytest.FixtureRequest, process_images):
    return process_images[request.param]


def test_ps_is_crashs_layout_of_every_task(image) -> None:
    prog = vmintro.open(image.base)
    out = lines(prog, "ps")
    assert out[0] == CRASH_HEADER
    total = min((prog["high_memory"].value_() - 0xC0000000) // 4096, prog["num_physpages"].value_())
    expected = [
        crash_line(
            pid,
            f["ppid"],
            f["task"],
            STATES[f["state"]],
            f["comm"],
            kthread=pid == 0 or not f["mm"],
            memory=(f.get("rss", 0), f.get("total_vm", 0), total),
        )
        for pid, f in sorted(image.tasks.items())
    ]
    assert out[1:] == expected
    assert [w.split()[-1] for w in out[1:]][:3] == ["[swapper]", "init", "[keventd]"]


def test_ps_json_and_its_choices(image) -> None:
    prog = vmintro.open(image.base)
    [part] = run(prog, "ps --json")
    rows = json.loads(json.dumps(list(part.rows)))
    assert [r["pid"] for r in rows] == sorted(image.tasks)
    for r in rows:
        facts = image.tasks[r["pid"]]
        assert (r["task"], r["ppid"], r["comm"]) == (facts["task"], facts["ppid"], facts["comm"])
    kernel = {r["pid"] for r in rows if r["kernel_thread"]}
    assert kernel == {pid for pid, f in image.tasks.items() if pid == 0 or not f["mm"]}

    def pids(line: str) -> list[int]:
        return [r["pid"] for p in run(prog, line) for r in p.rows]

    assert pids("ps -k") == sorted(kernel)
    assert pids("ps -u") == sorted(set(image.tasks) - kernel)
    bash = image.tasks[image.bash]["task"]
    assert pids(f"ps {image.cron} bash {bash:x}") == [image.bash, image.cron]


def test_ps_errors_are_one_line(process_images) -> None:
    prog = vmintro.open(process_images["2level"].base)
    status, out, err = status_of(prog, "ps nosuchcommand")
    assert status == EXIT_FAILED and out == ""
    assert err == "ps: nosuchcommand: no task has that pid, task address or command\n"
    status, _, err = status_of(prog, "ps -k -u")
    assert status != EXIT_OK and err.count("\n") == 1


def _vtop_json(prog, line: str) -> dict:
    parts = run(prog, line)
    return {p.name: p for p in parts}


def test_vtop_c_before_and_after_the_vmalloc_fault(image) -> None:
    """bash touched the probe address: its entry is the copy of init_mm's; cron did
    not: its entry is missing (2-level). Under PAE both share init_mm's kernel pmd."""
    prog = vmintro.open(image.base)
    probe = image.probe
    init_walk = prog.follow_pte(probe)
    for pid, who in ((image.bash, "bash"), (image.cron, "cron")):
        parts = _vtop_json(prog, f"vtop -c {pid} {probe:x}")
        data = parts["init_mm"].data
        assert data["pid"] == pid and data["page_directory"] == image.tasks[pid]["pgd"]
        first = data["entries"][0]
        assert first["process"] == image.entries[who][1]  # the simulator's RAM
        assert first["init_mm"] == image.entries["init_mm"][1]
        statuses = [e["status"] for e in data["entries"]]
        [vtop_row] = parts["vtop"].rows
        if image.pae:
            assert statuses == ["same", "shared"]
            assert vtop_row["physical"] == init_walk.paddr
        elif who == "bash":
            assert statuses == ["same"] and vtop_row["physical"] == init_walk.paddr
        else:
            assert statuses == ["missing"] and vtop_row["physical"] is None
    text = "\n".join(lines(prog, f"vtop -c {image.cron} {probe:x}"))
    if not image.pae:
        assert "missing in pid 8's page directory, present in init_mm's" in text
        assert "vmalloc_fault" in text
    # the same walk by task address, and pid 0 runs on swapper_pg_dir itself
    task = image.tasks[image.bash]["task"]
    assert lines(prog, f"vtop -c {task:x} {probe:x}") == lines(
        prog, f"vtop -c {image.bash} {probe:x}"
    )
    idle = _vtop_json(prog, f"vtop -c 0 {probe:x}")["init_mm"].data
    assert idle["page_directory"] == image.swapper
    assert [e["status"] for e in idle["entries"]] == ["shared"]


def test_vtop_c_errors_are_one_line(process_images) -> None:
    image = process_images["2level"]
    prog = vmintro.open(image.base)
    kthread = next(p for p, f in image.tasks.items() if p and not f["mm"] and not f["active_mm"])
    for line, message in (
        (f"vtop -c 999 {image.probe:x}", "vtop: 999: no task has that pid or task_struct address"),
        (f"vtop -c {kthread} {image.probe:x}", f"vtop: pid {kthread} is a kernel thread"),
    ):
        status, out, err = status_of(prog, line)
        assert status == EXIT_FAILED and out == "" and err.count("\n") == 1
        assert err.startswith(message)


def _script_output(prog, line: str) -> list[str]:
    [part] = run(prog, f"{line} --py")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(part.data["script"], "<--py>", "exec"), python_namespace(prog))  # noqa: S102
    return out.getvalue().splitlines()


def test_py_scripts_compute_what_ps_and_vtop_c_print(image) -> None:
    prog = vmintro.open(image.base)
    for line in ("ps", "ps -u", "ps -k", f"ps -u {image.cron} bash 1"):
        rows = [w.split() for w in lines(prog, line)[1:]]
        assert [w.split() for w in _script_output(prog, line)] == rows, line
    for pid in (image.bash, image.cron):
        line = f"vtop -c {pid} {image.probe:x}"
        printed = _script_output(prog, line)
        [row] = run(prog, line)[0].rows
        physical = f" {row['physical']:x}" if row["physical"] is not None else ""
        assert printed[0] == f"{image.probe:x} {physical}".rstrip().replace("  ", "  ")
        entries = _vtop_json(prog, line)["init_mm"].data["entries"]
        assert [p.split()[-1] for p in printed[1:]] == [e["status"] for e in entries]


def _check(base: Path) -> tuple[int, str]:
    out = io.StringIO()
    return check_images([str(base)], out), out.getvalue()


def test_check_a_missing_entry_is_normal(process_images) -> None:
    assert _check(process_images["2level"].base) == (EXIT_OK, "clean\n")


def test_check_reports_a_stale_entry_as_legal(process_images, tmp_path: Path) -> None:
    """After vfree, init_mm's entry cleared (as vfree's pmd_clear leaves a bad one) and
    bash's copy kept: stale, legal in 2.4, reported once and not failed. (Under PAE
    no process has a copy: the kernel pmd page is init_mm's own.)"""
    image = process_images["2level"]
    prog = vmintro.open(image.base)
    gone = prog.paging.levels[0].index(image.gone)
    stale = HostileImage(tmp_path / "stale", image.base)
    stale.write_u32(image.swapper + gone * 4, 0)
    # and a command name from the image that would drive a terminal: ps escapes it
    cron = image.tasks[image.cron]["task"]
    stale.write(cron + prog.type("struct task_struct").offsetof("comm"), b"\x1b[2Jcron\0")
    stale.save()
    status, out = _check(stale.base)
    assert status == EXIT_OK, out
    [line] = out.splitlines()  # the entry once: nothing else is wrong
    entry = image.tasks[image.bash]["pgd"] + gone * 4
    assert line.startswith(
        f"process_pgd_stale: pid {image.bash}: pgd entry {gone} for {image.gone:#x} at {entry:#x}"
    )
    assert "stale (legal in 2.4: the kernel clears a kernel entry only in init_mm" in out
    assert status_of(vmintro.open(stale.base), "check")[0] == EXIT_OK
    status, out, _ = status_of(vmintro.open(stale.base), f"ps {image.cron}")
    assert status == EXIT_OK and out.splitlines()[1].endswith("  \\x1b[2Jcron")


@pytest.mark.parametrize("name", ["2level", pytest.param("pae", marks=pytest.mark.slow)])
def test_check_reports_an_entry_to_another_table_as_corruption(
    process_images, tmp_path: Path, name: str
) -> None:
    image = process_images[name]
    prog = vmintro.open(image.base)
    size = 8 if image.pae else 4
    index = prog.paging.levels[0].index(image.probe)
    bad = HostileImage(tmp_path / "bad", image.base)
    value = image.entries["bash"][1] + 0x5000  # another table than init_mm's
    bad.write(image.tasks[image.bash]["pgd"] + index * size, value.to_bytes(size, "little"))
    # and cron's mm->pgd points where no pgd_alloc could have put a page directory
    cron_mm = image.tasks[image.cron]["mm"]
    bad.write_u32(cron_mm + prog.type("struct mm_struct").offsetof("pgd"), 0x1000)
    bad.save()
    status, out = _check(bad.base)
    assert status == EXIT_FAILED
    entry, wild = out.splitlines()  # the entry once, however many spans it covers
    assert entry.startswith(f"process_pgd_corrupt: pid {image.bash}: pgd entry {index} ")
    assert f"is {value:#x}, corrupted" in entry
    assert wild.startswith(f"process_pgd_corrupt: pid {image.cron}: mm {cron_mm:#x} has pgd 0x1000")
    assert status_of(vmintro.open(bad.base), "check")[0] == EXIT_FAILED


def test_a_task_whose_mm_leads_nowhere(process_images, tmp_path: Path) -> None:
    """A hostile image: bash's mm points at user space. Each command says which task
    in one line; check goes on to the others."""
    image = process_images["2level"]
    prog = vmintro.open(image.base)
    bash = image.tasks[image.bash]["task"]
    task = prog.type("struct task_struct")
    bad = HostileImage(tmp_path / "bad", image.base)
    bad.write_u32(bash + task.offsetof("mm"), 0x1000)
    bad.save()
    damaged = vmintro.open(bad.base)
    status, out, err = status_of(damaged, f"vtop -c {image.bash} {image.probe:x}")
    assert (status, out) == (EXIT_FAILED, "")
    assert err.startswith(f"vtop: pid {image.bash} (task {bash:#x}): its mm cannot be read: ")
    status, out, err = status_of(damaged, "ps")
    assert (status, out) == (EXIT_FAILED, "") and err.startswith(f"ps: task {bash:#x}: read of ")
    assert err.count("\n") == 1
    status, out, _ = status_of(damaged, "check")
    assert status == EXIT_FAILED
    assert f"process_pgd_corrupt       pid {image.bash}: task {bash:#x} has mm 0x1000" in out
    # cron still checked: its missing entry is no finding, and nothing else is
    assert out.count("\n") == 2


def test_ps_agrees_with_the_generators_truth(image_set) -> None:
    """The generated PAE demo (the session's image set): its boot-time tasks as the
    generator's truth file lists them, pid 0 aside (the truth lists no idle task)."""
    base = image_set["pae"]
    truth = json.loads(Path(f"{base}.truth.json").read_text())["tasks"]
    [part] = run(vmintro.open(base), "ps")
    rows = [r for r in part.rows if r["pid"]]
    letters = {"TASK_RUNNING": "RU", "TASK_INTERRUPTIBLE": "IN", "TASK_UNINTERRUPTIBLE": "UN"}
    letters |= {"TASK_ZOMBIE": "ZO", "TASK_STOPPED": "ST"}
    assert [(r["pid"], r["ppid"], r["task"], r["comm"], r["state"]) for r in rows] == [
        (t["pid"], t["ppid"], t["task"], t["comm"], letters[t["state"]])
        for t in sorted(truth, key=lambda t: t["pid"])
    ]
    assert {r["pid"] for r in rows if r["kernel_thread"]} == {
        t["pid"] for t in truth if not t["mm"]
    }


@pytest.mark.slow
def test_random_words_in_the_tasks_give_one_line_answers(process_images, tmp_path: Path) -> None:
    """Seeded damage to the task_structs (their links, mm, pids, pidhash chains):
    ps, vtop -c and check end in a status and at most one error line each, never a
    traceback, a hang or a control character."""
    import random

    image = process_images["2level"]
    prog = vmintro.open(image.base)
    size = prog.type("struct task_struct").size
    tasks = [f["task"] for f in image.tasks.values()]
    img = HostileImage(tmp_path / "fuzzed", image.base)
    pristine = bytes(img.core)
    rng = random.Random(20261206)
    lowmem = [f["task"] for f in image.tasks.values()] + [f["mm"] for f in image.tasks.values()]
    for _ in range(12):
        img.core[:] = pristine
        for _ in range(6):
            task = rng.choice(tasks)
            word = task + rng.randrange(0, size, 4)
            value = rng.choice([0, 0xFFFFFFFF, rng.getrandbits(32), rng.choice(lowmem) + 4])
            img.write_u32(word, value)
        img.save()
        damaged = vmintro.open(img.base)
        for line in ("ps", "ps -u --json", f"vtop -c 1 {image.probe:x}", "check"):
            status, out, err = status_of(damaged, line)
            assert status in (EXIT_OK, EXIT_FAILED), (line, err)
            assert err.count("\n") <= 1, (line, err)
            assert "\x1b" not in out + err and "Traceback" not in err
