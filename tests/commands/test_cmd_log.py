"""log: the printk ring read back from images, as dmesg and crash's log read it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import vmintro
from vmintro.arch.x86 import MachineConfig
from vmintro.commands import CommandError, run
from vmintro.commands.render import render_text
from vmintro.image.writer.install import write_image
from vmintro.image.writer.snapshot import snapshot
from vmintro.sim.boot import boot

LOG_BUF_LEN = 16384  # kernel/printk.c, uniprocessor


def text_of(prog, line: str) -> str:
    return "\n".join(render_text(run(prog, line)))


MESSAGES = [f"<3>message {i:04d} " + "x" * (i % 37) for i in range(700)]


@pytest.fixture(scope="module")
def wrapped(tmp_path_factory: pytest.TempPathFactory) -> vmintro.Program:
    """An image whose ring has wrapped: more printk text than LOG_BUF_LEN."""
    k = boot(MachineConfig(ram=16 << 20))
    for message in MESSAGES:
        k.printk(message)
    base = tmp_path_factory.mktemp("log") / "wrapped"
    write_image(snapshot(k, {"scenario": "log test"}), base)
    return vmintro.open(base)


def test_a_wrapped_ring_ends_with_the_last_messages(wrapped) -> None:
    rows = [r for p in run(wrapped, "log") for r in p.rows]
    lines = [r["text"] for r in rows]
    assert text_of(wrapped, "log").splitlines() == [line.rstrip() for line in lines]
    shown = [m.removeprefix("<3>") for m in MESSAGES]
    # every whole line the ring holds, in order, is the end of what was printk'ed
    assert lines[1:] == shown[-(len(lines) - 1) :]
    assert shown[-len(lines)].endswith(lines[0])  # the oldest line, its start overwritten
    total = sum(len(r["text"]) + (3 if r["level"] is not None else 0) + 1 for r in rows)
    assert total == LOG_BUF_LEN  # the whole ring: logged_chars stops at LOG_BUF_LEN
    levelled = text_of(wrapped, "log -m").splitlines()
    assert levelled[1:] == [m.rstrip() for m in MESSAGES[-(len(lines) - 1) :]]
    assert [r["level"] for r in rows[1:]] == [3] * (len(rows) - 1)


def test_log_of_a_generated_image_is_its_truth(demo_on: Callable[..., Path]) -> None:
    base = demo_on("demo")  # the demo scenario (boot and swapon messages), once per session
    truth = json.loads(base.with_suffix(".truth.json").read_text())
    prog = vmintro.open(base)
    assert text_of(prog, "log").splitlines() == truth["log"]
    # gdb reads the same ring: log_end and logged_chars as the kernel left them
    assert prog["logged_chars"].value_() == sum(len(m) + 4 for m in truth["log"])


def test_log_of_an_image_without_log_buf_is_one_line(prog) -> None:
    if "log_buf" in prog:
        pytest.skip("the bundled demo image has a log_buf now")
    assert text_of(prog, "log") == (
        "log: this image has no log_buf (its kernel kept no printk buffer in memory)"
    )
    with pytest.raises(CommandError):
        run(prog, "log c4800000")
