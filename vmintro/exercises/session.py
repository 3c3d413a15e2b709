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

from typing import TYPE_CHECKING, Any

from vmintro.cmdline.lines import CommandLine
from vmintro.cmdline.runner import Runner
from vmintro.commands.dispatch import Invocation, split_words
from vmintro.errors import EXIT_OK, EXIT_USAGE
from vmintro.exercises.policy import ALWAYS, NOT_AVAILABLE, Policy, image_policy

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["NOT_AVAILABLE", "ExerciseRunner", "Policy", "image_policy"]


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
            shown = ", ".join(a for a in self.policy.allowed if a not in ALWAYS)
            self.out.write(f"commands in this exercise: {shown} ('help COMMAND' for each)\n")
            self.out.flush()
            return EXIT_OK
        return super().run_command(text)

    def _execute(self, invocation: Invocation, line: CommandLine) -> int:
        name = invocation.command.name
        if not self.policy.permits(name, split_words(line.text)[1:]):
            return self._fail(f"{name}: {NOT_AVAILABLE}", EXIT_USAGE)
        return super()._execute(invocation, line)
