"""``vmintro.helpers.pid`` (the task ring and the pid hash) against what the simulator did,
the 2.4.20 source, and on damaged rings.

The images (``process_images.py``) hold the boot-time tasks (the idle task, init and
five kernel threads) and two processes; the simulator's own account of each task
is the oracle.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_image import HostileImage

import vmintro
from vmintro.errors import CorruptionError
from vmintro.helpers import find_task, for_each_task, init_task, pid_hashfn

# include/linux/sched.h: PIDHASH_SZ and pid_hashfn, written out
PIDHASH_SZ = 4096 >> 2


@pytest.fixture(params=["2level", "pae"])
def image(request: pytest.FixtureRequest, process_images):
    return process_images[request.param]


def test_init_task_is_init_task_union(image) -> None:
    prog = vmintro.open(image.base)
    task = init_task(prog)
    assert int(task) == prog.symbol("init_task_union").address == image.tasks[0]["task"]
    assert task.pid.value_() == 0 and task.comm.string_() == b"swapper"


def test_for_each_task_is_the_ring_the_kernel_made(image) -> None:
    prog = vmintro.open(image.base)
    tasks = list(for_each_task(prog))
    # every task but the idle one, as the kernel's for_each_task macro; bash and cron last
    assert sorted(int(t) for t in tasks) == sorted(
        f["task"] for pid, f in image.tasks.items() if pid != 0
    )
    assert [t.pid.value_() for t in tasks][-2:] == [image.bash, image.cron]
    assert [t.type_.c_name for t in tasks[:1]] == ["struct task_struct *"]
    with_idle = list(for_each_task(prog, idle=True))
    assert int(with_idle[0]) == image.tasks[0]["task"]
    assert [int(t) for t in with_idle[1:]] == [int(t) for t in tasks]
    for t in tasks:
        assert t.comm.string_().decode() == image.tasks[t.pid.value_()]["comm"]


def test_find_task_follows_the_pid_hash(image) -> None:
    prog = vmintro.open(image.base)
    for pid, facts in image.tasks.items():
        found = find_task(prog, pid)
        if pid == 0:
            assert found is None  # init_task is never hashed
        else:
            assert found is not None and int(found) == facts["task"]
    assert find_task(prog, 12345) is None
    assert find_task(prog, -1) is None


def test_pid_hashfn_is_the_kernels() -> None:
    assert pid_hashfn(0) == 0
    assert pid_hashfn(7) == 7
    assert pid_hashfn(0x1234) == ((0x1234 >> 8) ^ 0x1234) & (PIDHASH_SZ - 1) == 0x226
    assert pid_hashfn(0x7FFF) == 0x380


def _field(prog, name: str) -> int:
    return prog.type("struct task_struct").offsetof(name)


def _damaged(tmp_path: Path, source: Path, damage) -> vmintro.Program:
    img = HostileImage(tmp_path / "damaged", source)
    damage(img, img.prog)
    img.save()
    return vmintro.open(img.base)


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("cycle", "cycle"),
        pytest.param("back_link", "prev_task", marks=pytest.mark.slow),
        pytest.param("wild", "cannot be read", marks=pytest.mark.slow),
    ],
)
def test_a_broken_ring_is_a_corruption_error(
    process_images, tmp_path: Path, what: str, message: str
) -> None:
    image = process_images["2level"]
    bash, cron = image.tasks[image.bash]["task"], image.tasks[image.cron]["task"]

    def damage(img: HostileImage, prog) -> None:
        o_next, o_prev = _field(prog, "next_task"), _field(prog, "prev_task")
        if what == "cycle":  # cron's next goes back to bash, never to init_task
            img.write_u32(cron + o_next, bash)
        elif what == "back_link":
            img.write_u32(cron + o_prev, cron)
        else:
            img.write_u32(bash + o_next, 0x00001000)  # user space: nothing maps it

    prog = _damaged(tmp_path, image.base, damage)
    with pytest.raises(CorruptionError, match=message):
        list(for_each_task(prog))


@pytest.mark.slow
def test_a_looping_pid_chain_is_a_corruption_error(process_images, tmp_path: Path) -> None:
    image = process_images["2level"]
    bash = image.tasks[image.bash]["task"]

    def damage(img: HostileImage, prog) -> None:
        img.write_u32(bash + _field(prog, "pidhash_next"), bash)  # the chain loops
        img.write_u32(bash + _field(prog, "pid"), 9999)  # and holds no pid 7 any more

    prog = _damaged(tmp_path, image.base, damage)
    with pytest.raises(CorruptionError, match=r"pidhash\[\d+\]: cycle"):
        find_task(prog, image.bash)
