"""timeline, goto, step, back, history and blame as a user types them (``vmintro -c``,
``--json``), on a copy of the demo image with a hand-made timeline whose every
moment is known (:func:`handmade.image_with_timeline`: the frame before RAM's
next-to-last starts as zeros, entry 1 writes 63 41 ff 07 at its start, entry 2
clears that word and writes "zz" over its third and fourth bytes, entry 3 leaves
the frames as the image holds them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vmintro.cli import main

from .handmade import DEMO, PAGE, copy_image, image_with_timeline


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_with_timeline(DEMO, tmp_path_factory.mktemp("commands"))


@pytest.fixture(scope="module")
def frame() -> int:
    """The physical address of the frame the timeline writes first (64 MiB of RAM)."""
    return (64 << 20) - 3 * PAGE


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _word(out: str) -> str:
    """The first word ``rd -p ADDR 1`` printed."""
    return out.split(":")[1].split()[0]


def test_goto_step_and_back_move_what_every_command_reads(capsys, image: Path, frame: int) -> None:
    lines = ["goto 0", "goto 1", "step", "back 2", "step 5", "goto end"]
    line = "; ".join(f"{move}; rd -p {frame:x} 1" for move in lines)
    status, out, err = cli(capsys, "-c", line, str(image))
    assert (status, err) == (0, "")
    said = [ln for ln in out.splitlines() if ln.startswith("entry ")]
    assert [s.split(":")[0] for s in said] == [
        "entry 0/3 (the booted kernel)",
        "entry 1/3",
        "entry 2/3",
        "entry 0/3 (the booted kernel)",
        "entry 3/3 (the image itself)",
        "entry 3/3 (the image itself)",
    ]
    assert "entry 1/3: step 1: vmalloc(size=4096) = 0xd0800000, 2 writes" in said
    words = [_word(ln) for ln in out.splitlines() if ln.startswith(f"{frame:x}:")]
    # the forward model: zeros, 63 41 ff 07, then 00 00 'z' 'z', and the image's word
    assert words[:4] == ["00000000", "07ff4163", "7a7a0000", "00000000"]
    assert words[4] == words[5]


def test_at_the_ends_step_and_back_say_so(capsys, image: Path) -> None:
    status, out, err = cli(capsys, "-c", "step; goto 0; back; vmlist", str(image))
    assert status == 1
    assert err.splitlines() == [
        "step: already at the last entry (3), the image itself",
        "back: already at entry 0, the booted kernel",
    ]
    assert "VM_STRUCT" in out  # the commands after them ran


def test_settings_and_python_follow_the_session(capsys, image: Path) -> None:
    status, out, err = cli(
        capsys, "-c", "set radix 16; goto 1; set radix; !print(prog.moment)", str(image)
    )
    assert (status, err) == (0, "")
    assert "16 (hex)" in out and out.splitlines()[-1] == "1"


def test_history_and_blame_as_json(capsys, image: Path, frame: int) -> None:
    line = f"history -p {frame:x}; blame -p {frame:x}; goto 1; blame -p -s 2 {frame + 2:x}"
    status, out, err = cli(capsys, "--json", "-c", line, str(image))
    assert (status, err) == (0, "")
    history, blame, _, early = (json.loads(doc) for doc in out.splitlines())
    rows = history["results"][0]["rows"]
    assert [(r["entry"], r["old"], r["new"]) for r in rows] == [
        (1, "00000000", "6341ff07"),
        (2, "6341ff07", "00000000"),
        (2, "0000", "7a7a"),
        (3, "00007a7a", rows[3]["new"]),
    ][: len(rows)]
    assert rows[0]["path"][-1] == "set_pte" and rows[0]["physical"] == frame
    assert blame["results"][0]["rows"] == [rows[-1]]
    # at entry 1 the bytes 2 and 3 were last written by entry 1 (the word's upper half)
    [last] = early["results"][0]["rows"]
    assert (last["entry"], last["address"], last["old"], last["new"]) == (
        1,
        frame + 2,
        "0000",
        "ff07",
    )


def test_timeline_lists_filters_and_marks_the_moment(capsys, image: Path, frame: int) -> None:
    status, out, err = cli(
        capsys, "-c", f"goto 2; timeline; timeline -c vfree; timeline -p {frame:x}", str(image)
    )
    assert (status, err) == (0, "")
    lines = out.splitlines()
    listing = lines[lines.index(next(ln for ln in lines if "ENTRY" in ln)) :]
    assert listing[1].split() == ["0", "0", "boot", "(not", "itemized)"]
    assert listing[3].startswith(">") and listing[3].split()[1:4] == [
        "2",
        "2",
        "vfree(addr=0xd0800000)",
    ]
    status, out, _ = cli(
        capsys, "--json", "-c", f"timeline -c vfree; timeline -p -s 2 {frame + 2:x}", str(image)
    )
    by_call, by_addr = (json.loads(doc)["results"][0]["rows"] for doc in out.splitlines())
    assert [r["entry"] for r in by_call] == [2]
    assert [r["entry"] for r in by_addr] == [1, 2, 3]
    assert by_call[0]["call"] == "vfree" and by_call[0]["writes"] == 2


def test_without_a_timeline_each_command_says_so_in_one_line(capsys, tmp_path: Path) -> None:
    plain = copy_image(DEMO, tmp_path)
    lines = ["timeline", "goto 1", "step", "back", "history vmlist", "blame vmlist"]
    status, out, err = cli(capsys, "-c", "; ".join([*lines, "vmlist"]), str(plain))
    assert status == 1
    assert [e.split(":")[0] for e in err.splitlines()] == [ln.split()[0] for ln in lines]
    assert all("no timeline: img.timeline is not beside img.vmcore" in e for e in err.splitlines())
    assert "VM_STRUCT" in out


def test_bad_moments_and_sizes_are_refused(capsys, image: Path) -> None:
    status, _, err = cli(capsys, "-c", "goto 4", str(image))
    assert (status, err) == (1, "goto: no entry 4: the timeline has entries 0 to 3\n")
    status, _, err = cli(capsys, "-c", "goto later", str(image))
    assert status == 2 and err.startswith("goto: 'later' is not an entry number (0 to 3) or end")
    status, _, err = cli(capsys, "-c", "back 0", str(image))
    assert status == 2 and "not a positive number" in err
    status, _, err = cli(capsys, "-c", "history -s 0 vmlist", str(image))
    assert status == 2 and err.startswith("history: argument -s/--size: size 0 is not between")
    # a size is decimal unless 0x, as every count: 0x10 is sixteen bytes
    status, out, err = cli(capsys, "-c", "history -s 0x10 vmlist", str(image))
    assert (status, err) == (0, "") and out.startswith("16 bytes at "), out


def test_bytes_no_entry_wrote_say_so(capsys, image: Path, frame: int) -> None:
    other = frame - PAGE + 64  # in the frame before: no entry writes it
    line = f"history -p {other:x}; blame -p {other:x}; timeline -c start_kernel"
    status, out, err = cli(capsys, "-c", line, str(image))
    assert (status, err) == (0, "")
    assert out.splitlines()[:3] == [
        f"4 bytes at physical {other:x}, up to entry 3:",
        "not written after boot (entry 0's writes are not itemized)",
        f"4 bytes at physical {other:x}, up to entry 3: not written after boot (entry 0's"
        " writes are not itemized)",
    ]
    assert out.splitlines()[-1].split() == ["0", "0", "boot", "(not", "itemized)"]
