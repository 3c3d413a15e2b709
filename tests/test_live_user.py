"""The live kernel's calls on a process's address space: sim mmap, brk, munmap and a
touch of a user address, each printing what the system call returned and what
changed, and read back with vm (crash's) and the process's page tables."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from process_images import scenario_image

import vmintro
from vmintro.cmdline.runner import Runner
from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

PAGE = 4096
VMA_HEADER = "  VMA       START      END    FLAGS  FILE"
SCENARIO = """name = "u"
[machine]
ram = "32M"
seed = 3
[[step]]
op = "spawn"
name = "hog"
label = "hog"
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """(the image, hog's pid, a kernel thread's pid)."""
    out = tmp_path_factory.mktemp("liveuser") / "u"
    truth = scenario_image(out, SCENARIO)
    kthread = next(t["pid"] for t in truth["tasks"] if t["pid"] and not t["mm"])
    return out, truth["labels"]["hog"][1], kthread


class Session:
    """A REPL session's runner: each line's status, output and errors."""

    def __init__(self, base: Path) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()
        self.runner = Runner(vmintro.open(base), out=self.out, err=self.err)

    def __call__(self, line: str) -> tuple[int, list[str], str]:
        start_out, start_err = self.out.tell(), self.err.tell()
        status = self.runner.run_line(line)
        self.out.seek(start_out)
        self.err.seek(start_err)
        out, err = self.out.read(), self.err.read()
        return status, [x.rstrip() for x in out.splitlines()], err


def _areas(lines: list[str]) -> list[tuple[int, int]]:
    """The (start, end) of each VMA line of vm's output."""
    rows = [line.split() for line in lines[lines.index(VMA_HEADER) + 1 :]]
    return [(int(r[1], 16), int(r[2], 16)) for r in rows if len(r) == 4]


def _mm(lines: list[str]) -> list[str]:
    return lines[lines.index("   MM       PGD      RSS    TOTAL_VM") + 1].split()


def test_mmap_touch_munmap_as_vm_reads_them(image) -> None:
    base, pid, _ = image
    run = Session(base)
    status, before, _ = run(f"vm {pid}")
    assert status == EXIT_OK
    status, out, err = run(f"sim mmap {pid} 16K")
    assert status == EXIT_OK, err
    m = re.fullmatch(
        rf"do_mmap_pgoff\(current={pid}, addr=0x0, len=16384\) = (0x[0-9a-f]+)", out[0]
    )
    assert m, out
    addr = int(m.group(1), 16)
    assert addr % PAGE == 0 and 0x40000000 <= addr < 0xC0000000
    changed = out[-1]
    _, after, _ = run(f"vm {pid}")
    new_areas = len(_areas(after)) - len(_areas(before))  # 0: merged with its neighbour
    assert new_areas in (0, 1)
    areas = "areas +1, " if new_areas else ""
    assert changed == f"changed: pid {pid} {areas}total_vm +4"
    assert any(s <= addr and addr + 4 * PAGE <= e for s, e in _areas(after))
    total = int(_mm(after)[3][:-1])
    assert total == int(_mm(before)[3][:-1]) + 16
    # a kernel-mode read of the new area's page: handle_mm_fault maps the zero page
    status, out, _ = run(f"sim touch {pid} {addr:#x}")
    assert status == EXIT_OK and out[1].startswith("page fault: inside one of the process's")
    _, pages, _ = run(f"vm -p {pid}")
    zero = vmintro.open(base).symbol("empty_zero_page").address - 0xC0000000
    assert f"{addr:<8x}  {zero:>8x}" in pages
    assert f"{addr + PAGE:<8x}  (not mapped)" in pages
    # a hole in the middle: two areas, a page less
    status, out, _ = run(f"sim munmap {pid} {addr + PAGE:#x} 4K")
    assert status == EXIT_OK and out[0].endswith(") = 0"), out
    assert out[-1] == f"changed: pid {pid} areas +1, total_vm -1"
    _, holed, _ = run(f"vm {pid}")
    spans = _areas(holed)
    assert any(e == addr + PAGE for _, e in spans) and any(s == addr + 2 * PAGE for s, _ in spans)
    assert len(spans) == len(_areas(after)) + 1


def test_bad_munmap_is_einval_and_changes_nothing(image) -> None:
    base, pid, _ = image
    run = Session(base)
    for words in ("0x40000001 4K", "0xbffff000 8K", "0x40000000 0"):
        status, out, _ = run(f"sim munmap {pid} {words}")
        assert status == EXIT_OK and out[0].endswith(" = -EINVAL"), out
        assert out[-1] == "changed: nothing changed"
    status, out, _ = run(f"sim mmap {pid} 0xC0000000")  # more than TASK_SIZE leaves
    assert out[0].endswith(" = -ENOMEM"), out


def test_brk_grows_and_shrinks_the_heap(image) -> None:
    base, pid, _ = image
    run = Session(base)
    prog = vmintro.open(base)
    from vmintro.helpers import find_task

    old = find_task(prog, pid).mm.brk.value_()
    top = (old + 0x20000) & ~(PAGE - 1)
    status, out, _ = run(f"sim brk {pid} {top:#x}")
    assert status == EXIT_OK and out[0] == f"sys_brk(current={pid}, brk={top:#x}) = {top:#010x}"
    _, grown, _ = run(f"vm {pid}")
    assert any(e == top for _, e in _areas(grown))
    status, out, _ = run(f"sim brk {pid} {top - 0x10000:#x}")
    assert out[0].endswith(f" = {top - 0x10000:#010x}") and "total_vm -16" in out[-1]
    _, shrunk, _ = run(f"vm {pid}")
    assert any(e == top - 0x10000 for _, e in _areas(shrunk))


def test_a_kernel_thread_and_bad_words_are_one_line(image) -> None:
    base, _, kthread = image
    run = Session(base)
    status, out, err = run(f"sim mmap {kthread} 4K")
    assert status == EXIT_FAILED and out == []
    assert err == f"sim: do_mmap_pgoff: pid {kthread} is a kernel thread: it has no user memory\n"
    status, out, err = run("sim munmap 1 0x40000000")
    assert status == EXIT_USAGE and err.count("\n") == 1
    assert "usage: sim munmap PID ADDR SIZE" in err
    status, out, _ = run("help sim")
    assert status == EXIT_OK
    text = " ".join(out)
    assert "mmap PID SIZE [ADDR]" in text and "brk PID ADDR" in text
    assert "munmap PID ADDR SIZE" in text


def test_brk_near_4_gib_leaves_the_break_as_2_4_20_does(image) -> None:
    # PAGE_ALIGN(0xffffffff) wraps to 0 in unsigned long: the growth 0 - oldbrk asks
    # vm_enough_memory for nearly 4 GiB, which fails, and sys_brk returns the old break
    # (the simulator said "do_munmap is not modelled" and failed the call)
    base, pid, _ = image
    run = Session(base)
    prog = vmintro.open(base)
    from vmintro.helpers import find_task

    old = find_task(prog, pid).mm.brk.value_()
    status, out, err = run(f"sim brk {pid} 0xffffffff")
    assert (status, err) == (EXIT_OK, ""), err
    assert out == [
        f"sys_brk(current={pid}, brk=0xffffffff) = {old:#010x}",
        "changed: nothing changed",
    ]
