"""What an exercise's own commands must not print, and the build drawing again when
they would (vmintro.exercises.leaks, vmintro.exercises.build.realise)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

import vmintro
from vmintro.commands.discovery import load_plugins
from vmintro.exercises import build
from vmintro.exercises.catalog import Hint, by_name
from vmintro.exercises.keys import variant_seed
from vmintro.exercises.leaks import printed_by, probe_lines, shows
from vmintro.exercises.session import ExerciseRunner, Policy
from vmintro.exercises.verify import Part

HEX = Part("first", "hex", 1 << 20)
DEC = Part("count", "dec", 1024)
WORD = Part("zone", "word", 3)
PFNS = Part("pfns", "hex-list", 1 << 40)


@pytest.mark.parametrize(
    ("part", "value", "text", "shown"),
    [
        (HEX, "0x320", "free pages: 320\n", True),  # a decimal count that reads the same
        (HEX, "0x320", "pfn 0x0320 at c1006400", True),
        (HEX, "0x320", "page c1006400 pfn 320", True),
        (HEX, "0x320", "3200 pages", False),
        (HEX, "0x320", "pfn a320", False),
        (HEX, "0x320", "0x3201", False),
        (HEX, "0x320", "x320", False),
        (DEC, "0x320", "800 pages", True),  # the canonical text is hex: 0x320 is 800
        (DEC, "0x320", "8000 pages", False),
        (DEC, "0x320", "320 pages", False),
        (WORD, "normal", "zone Normal: 12 pages", True),
        (WORD, "normal", "abnormal", False),
        (PFNS, "0x1f,0x2a", "1f 2a 3b", True),
        (PFNS, "0x1f,0x2a", "1f 3b", False),  # a list is shown when every value is
    ],
)
def test_shows(part: Part, value: str, text: str, shown: bool) -> None:
    assert shows(part, value, text) is shown


def test_probe_lines_are_the_commands_bare_hinted_and_with_the_hints_arguments() -> None:
    ex = by_name("why-oops")
    hints = [Hint("look", ("vtop c8800000", "kmem -v")), Hint("then", ("rd c8800000",))]
    lines = probe_lines(ex, hints)
    bare = [c for c in ex.allowed if c != "quit"]
    assert lines[: len(bare)] == bare
    assert lines[len(bare) : len(bare) + 3] == ["vtop c8800000", "kmem -v", "rd c8800000"]
    # each hinted command's arguments once, in order: "-v" of "kmem -v" too
    assert lines[len(bare) + 3 :] == [f"{c} {a}" for c in bare for a in ("-v", "c8800000")]


# A key whose practice variant of dma-spill first drew a first pfn of 0x320: `kmem -f`,
# which the exercise allows, prints a count of 320 pages, so a student trying each
# number it prints would find the hidden part.
PRINTED_KEY = b"67f5a1db9686143e7eccf74b0c94be05f2cb828d70ca765533eca1aecdd419ba"


def _kmem_f(image: Path) -> str:
    out = io.StringIO()
    ex = by_name("dma-spill")
    ExerciseRunner(vmintro.open(image), Policy(ex.name, ex.allowed), out=out, err=out).run_line(
        "kmem -f"
    )
    return out.getvalue()


def _standalone(value: int, text: str) -> bool:
    return re.search(rf"(?<![0-9a-fx]){value:x}(?![0-9a-f])", text, re.I) is not None


def test_a_printed_draw_is_drawn_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_plugins([])
    ex = by_name("dma-spill")
    seed = variant_seed(PRINTED_KEY, "", ex.name)
    for d in ("first", "kept"):
        (tmp_path / d).mkdir()
    with monkeypatch.context() as m:  # the first fair draw, as a build without the check
        m.setattr(build, "printed_by", lambda *_: None)
        first = build.realise(ex, seed, tmp_path / "first" / ex.name)
    text = _kmem_f(tmp_path / "first" / ex.name)
    assert any(_standalone(first.answer[i], text) for i in ex.hidden), (first.answer, text)

    kept = build.realise(ex, seed, tmp_path / "kept" / ex.name)
    assert kept.answer != first.answer
    text = _kmem_f(tmp_path / "kept" / ex.name)
    assert not any(_standalone(kept.answer[i], text) for i in ex.hidden), (kept.answer, text)
    assert printed_by(ex, kept.answer, tmp_path / "kept" / ex.name, kept.hints) is None
    # the same seed, the same variant: the check is part of the draw
    assert build.realise(ex, seed, None).answer == kept.answer


def test_the_draw_does_not_depend_on_the_builders_debug_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # under this key, s18's bad-pte-frame has a hidden pfn of 0x132: with VMINTRO_DEBUG
    # set, a failing command's traceback ('sym.py", line 132') read as that pfn, and
    # every draw was refused
    ex = by_name("bad-pte-frame")
    seed = variant_seed(b"k" * 32, "s18", ex.name)
    monkeypatch.delenv("VMINTRO_DEBUG", raising=False)
    plain = build.realise(ex, seed, None)
    monkeypatch.setenv("VMINTRO_DEBUG", "1")
    assert build.realise(ex, seed, None).answer == plain.answer
