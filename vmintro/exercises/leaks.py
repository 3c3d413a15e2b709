"""Whether an exercise's own commands print its answer: the check each drawn variant
passes before it is kept.

A student of the exercise runs what it allows. The lines a student is sure to try
are run on the variant's image (:func:`probe_lines`): every allowed command bare, the
hints' commands, and every allowed command with the arguments of each hint's command.
A line *shows* a part when the part's value stands in its output as a token of its
own (:func:`shows`): a hex part as its digits (``0x``, leading zeros or neither),
apart from other hex digits, wherever they stand -- a decimal count that reads the
same is shown too, since a student who tries each number printed finds it; a
decimal part as its digits apart from other digits; a word as a word. A list part
is shown when every one of its values is.

A variant is *printed* when a line shows a hidden part (:attr:`Exercise.hidden`:
one no allowed command may print at all) or every part at once; the builder then
draws again (:func:`vmintro.exercises.build.realise`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmintro.exercises.policy import Policy
from vmintro.exercises.verify import Part, canonical

if TYPE_CHECKING:
    from vmintro.exercises.catalog import Exercise, Hint

__all__ = ["printed_by", "probe_lines", "shows"]


def _token(part: Part, value: str) -> re.Pattern[str]:
    """The pattern of one canonical value of ``part`` (hex digits for numbers)."""
    number = int(value, 16) if part.form != "word" else 0
    if part.form.startswith("hex"):
        return re.compile(rf"(?<![0-9a-fx])(0x)?0*{number:x}(?![0-9a-f])", re.I)
    if part.form.startswith("dec"):
        return re.compile(rf"(?<![0-9]){number}(?![0-9])")
    return re.compile(rf"\b{re.escape(value)}\b", re.I)


def shows(part: Part, canonical_part: str, text: str) -> bool:
    """Whether ``text`` holds ``part``'s value, given in its canonical text (one
    part of :func:`~vmintro.exercises.verify.canonical`); a list, every value of it."""
    values = canonical_part.split(",") if part.is_list else [canonical_part]
    return all(_token(part, v).search(text) for v in values)


def probe_lines(ex: Exercise, hints: Sequence[Hint]) -> list[str]:
    """What a student of ``ex`` is sure to run: every allowed command bare (``quit``
    aside), the hints' commands, and every allowed command with the arguments of each
    hint's command (an address of the question, a symbol)."""
    bare = [c for c in ex.allowed if c != "quit"]
    hinted = [c for h in hints for c in h.commands]
    arguments = sorted({c.split(maxsplit=1)[1] for c in hinted if " " in c})
    return bare + hinted + [f"{c} {a}" for c in bare for a in arguments]


def printed_by(
    ex: Exercise, answer: Sequence[Any], image: Path, hints: Sequence[Hint]
) -> str | None:
    """The first of :func:`probe_lines` that, run on ``image`` (``NAME.vmcore`` and
    its vmlinux) as ``vmintro exercise open`` runs it, shows a hidden part of
    ``answer`` or all of it, with what it shows; None when none does."""
    from vmintro.commands.discovery import load_plugins
    from vmintro.exercises.session import ExerciseRunner
    from vmintro.program import Program

    load_plugins(())  # the plugins' commands an exercise allows (loaded once)
    prog = Program.from_files(image)
    policy = Policy(ex.name, ex.allowed)
    parts = canonical(ex.parts, answer).split(";")
    for line in probe_lines(ex, hints):
        out = io.StringIO()
        runner = ExerciseRunner(prog, policy, out=out, err=out)
        # what a student reads, whoever builds: VMINTRO_DEBUG's tracebacks (paths, line
        # numbers of the source) would make the draw depend on the builder's setup
        runner.debug = False
        runner.run_line(line)
        text = out.getvalue()
        shown = [shows(p, v, text) for p, v in zip(ex.parts, parts, strict=True)]
        for i in ex.hidden:
            if shown[i]:
                return f"'{line}' prints part {i + 1} ({ex.parts[i].label})"
        if all(shown):
            return f"'{line}' prints the whole answer"
    return None
