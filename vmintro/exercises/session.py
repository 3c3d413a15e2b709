"""An exercise's session: only the commands the exercise allows, and no Python.

``help`` lists the exercise's commands (``help CMD`` still describes any). A
command the exercise does not allow is refused in one line, ``CMD: not
available in this exercise``, with exit status EXIT_USAGE, and the next one runs.
Python lines (``!``, ``py``) are refused the same way: Python reaches every
command and every helper (``run("check")``), so a restricted exercise has none.

The restriction follows the image: an exercise's core says which exercise it is
(its VMINTRO note, :func:`image_policy`), so ``vmintro IMAGE`` (the REPL, ``-c``,
standard input) applies the same rules as ``vmintro exercise open NAME``, and the
subcommands that would show more (``run``, ``check``, ``map``, ``html``, ``serve``,
``export``) refuse the image. It shapes the puzzle and is no security boundary (gdb,
drgn or the Python library read the same files): what keeps answers from being
looked up is that no allowed command prints them, that no file of an exercise holds
its seed, the slow hash of practice answers, and a variant per student for graded
work.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmintro.cmdline.lines import CommandLine
from vmintro.cmdline.runner import Runner
from vmintro.commands.dispatch import Invocation, split_words
from vmintro.errors import EXIT_OK, EXIT_USAGE
from vmintro.exercises.location import EXERCISE_FILE

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["NOT_AVAILABLE", "ExerciseRunner", "Policy", "image_policy"]

NOT_AVAILABLE = "not available in this exercise"
_ALWAYS = ("help", "quit")


@dataclass(frozen=True)
class Policy:
    """What an exercise allows: ``CMD`` (with any arguments) or ``CMD WORDS`` (exactly so,
    ``--json`` aside: ``kmem -f`` allows ``kmem -f`` and not ``kmem -v``)."""

    exercise: str
    allowed: tuple[str, ...]

    @classmethod
    def of(cls, directory: Path) -> Policy:
        """The rules of the exercise in ``directory``: the catalog's for an exercise it
        knows (an edited ``exercise.json`` allows nothing more), else the file's."""
        meta: dict[str, Any] = json.loads((directory / EXERCISE_FILE).read_text())
        from vmintro.exercises.catalog import by_name

        try:
            return cls(meta["name"], by_name(meta["name"]).allowed)
        except LookupError:
            return cls(meta["name"], (*meta["commands"], *meta["plugins"], *_ALWAYS))

    def permits(self, name: str, words: list[str]) -> bool:
        rest = [w for w in words if w != "--json"]
        for entry in self.allowed:
            command, *fixed = entry.split()
            if command == name and (not fixed or rest == fixed):
                return True
        return False


def image_policy(prog: Program) -> Policy | None:
    """The rules of the exercise whose image ``prog`` reads, as its core's note names it
    (None for an image of no exercise). A name this version's catalog lacks allows
    nothing but ``help`` and ``quit``."""
    core = getattr(prog.backend, "core", None)
    note = getattr(core, "generator", None)
    name = note.get("exercise") if isinstance(note, dict) else None
    if name is None:
        return None
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", name):
        return Policy("(unnamed)", _ALWAYS)  # an untrusted note: never printed as it is
    from vmintro.exercises.catalog import by_name

    try:
        return Policy(name, by_name(name).allowed)
    except LookupError:
        return Policy(name, _ALWAYS)


class ExerciseRunner(Runner):
    """A :class:`Runner` that runs only what ``policy`` permits, and no Python."""

    def __init__(self, prog: Program, policy: Policy, **options: Any) -> None:
        options["python"] = None
        super().__init__(prog, **options)
        self.policy = policy

    def run_command(self, text: str) -> int:
        t = text.strip()
        if t == "py" or t.startswith("!"):
            return self._fail(f"py: {NOT_AVAILABLE}", EXIT_USAGE)
        if t == "help":  # the exercise's commands, not every command there is
            shown = ", ".join(a for a in self.policy.allowed if a not in _ALWAYS)
            self.out.write(f"commands in this exercise: {shown} ('help COMMAND' for each)\n")
            self.out.flush()
            return EXIT_OK
        return super().run_command(text)

    def _execute(self, invocation: Invocation, line: CommandLine) -> int:
        name = invocation.command.name
        if not self.policy.permits(name, split_words(line.text)[1:]):
            return self._fail(f"{name}: {NOT_AVAILABLE}", EXIT_USAGE)
        return super()._execute(invocation, line)
