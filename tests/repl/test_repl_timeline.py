"""The moment in the REPL: goto, step and back move what every command reads, and the
prompt and the toolbar say which entry the session shows (a real terminal)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from replkit import Repl, spawn_repl
from timeline.handmade import DEMO, build, copy_image, image_with_timeline, write

FRAME = (64 << 20) - 3 * 4096  # the frame the hand-made timeline writes first


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_with_timeline(DEMO, tmp_path_factory.mktemp("repl-timeline"))


def test_goto_moves_the_prompt_commands_and_python(image: Path, tmp_path: Path) -> None:
    session: Repl = spawn_repl(tmp_path / "h", image=image)
    session.prompt()
    assert "vmintro [" not in session.child.after  # nothing of the timeline read before it
    # read once the prompt is there: the prompt is drawn again with the moment
    session.child.expect_exact(" [3/3]>")
    out = session.run("goto 1")
    assert "entry 1/3: step 1: vmalloc(size=4096) = 0xd0800000, 2 writes" in out
    assert "vmintro [1/3]>" in session.child.after
    assert f"{FRAME:x}:" in (out := session.run(f"rd -p {FRAME:x} 1")) and " 07ff4163 " in out
    assert session.run("!print(prog.moment)").endswith("\x1b[?2004l1\r\n")
    session.run("step")
    assert "vmintro [2/3]>" in session.child.after
    assert " 7a7a0000 " in session.run(f"rd -p {FRAME:x} 1")
    session.child.sendline("py")
    session.py_prompt()
    session.child.sendline("prog.moment")
    session.child.expect_exact("\x1b[?2004l2\r\n")
    session.py_prompt()
    session.child.sendcontrol("d")
    session.prompt()
    out = session.run("back 5")
    assert "entry 0/3 (the booted kernel)" in out and "vmintro [0/3]>" in session.child.after
    session.child.close(force=True)


def test_toolbar_shows_the_moment(image: Path, tmp_path: Path) -> None:
    session = spawn_repl(tmp_path / "h", image=image, PROMPT_TOOLKIT_NO_CPR="")
    child = session.child
    child.expect_exact("\x1b[6n")
    child.send("\x1b[1;1R")
    # the timeline is read once the first prompt is drawn: the image is its last moment.
    # The redraw that shows it writes only what changed; Ctrl-L draws the toolbar whole
    child.expect_exact(" [3/3]>")
    child.sendcontrol("l")
    child.expect_exact("\x1b[6n")
    child.send("\x1b[1;1R")
    child.expect(r"img\s+\|\s+entry 3/3\s+\|\s+2\.4\.20")
    child.sendline("goto 2")
    child.expect_exact("\x1b[6n")
    child.send("\x1b[1;1R")
    child.expect(r"img\s+\|\s+entry 2/3\s+\|\s+2\.4\.20 i386 2-level, 64 MiB")
    child.close(force=True)


@pytest.mark.slow
def test_ctrl_c_stops_a_long_history(tmp_path: Path) -> None:
    # a timeline whose entry 1 writes one frame's words `writes` times: a long history
    # (100,000 took 1 s from the start of a process on a 2-core machine: the interrupt,
    # a second after the line, found the prompt back; this takes about 3 s there)
    from vmintro.backends.image import ImageBackend

    writes = 400_000

    base = copy_image(DEMO, tmp_path)
    backend = ImageBackend(base)
    ram = backend.facts().ram_size
    pfn = ram // 4096 - 3
    page = backend.read_phys(pfn * 4096, 4096)
    plan = [[(pfn, (i * 4) % 4096, (i & 0xFFFFFFFF).to_bytes(4, "little")) for i in range(writes)]]
    made = build(Path(f"{base}.vmcore"), ram, {pfn: page}, {pfn: bytes(4096)}, plan)
    write(base, made.timeline)
    target = tmp_path / "history.txt"
    session = spawn_repl(tmp_path / "h", image=base)
    session.prompt()
    session.child.sendline(f"history -p -s 4096 {pfn * 4096:x} > {target}")
    time.sleep(1.0)
    session.child.sendintr()
    session.child.expect_exact("interrupted")
    session.prompt()
    rows = target.read_text().splitlines()
    assert 0 < len(rows) < writes  # partial output, then stopped
    assert "(B) vmlist" in session.run("sym vmlist")  # the session goes on
    session.child.close(force=True)
