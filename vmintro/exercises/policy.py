"""What an exercise allows, and which exercise an image belongs to.

Kept apart from the session (:mod:`vmintro.exercises.session`) so that what only
needs to know whether an image is an exercise's (``vmintro check``, ``map``, gdb's
``$vm_*`` functions) does not import the command runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmintro.exercises.location import (
    EXERCISE_DEPTH,
    EXERCISE_FILE,
    EXERCISE_MAX,
    EXERCISE_NAME,
)

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["ALWAYS", "NOT_AVAILABLE", "Policy", "image_policy"]

NOT_AVAILABLE = "not available in this exercise"
ALWAYS = ("help", "quit")


@dataclass(frozen=True)
class Policy:
    """What an exercise allows: ``CMD`` (with any arguments) or ``CMD WORDS`` (exactly so,
    ``--json`` aside: ``kmem -f`` allows ``kmem -f`` and not ``kmem -v``)."""

    exercise: str
    allowed: tuple[str, ...]

    @classmethod
    def of(cls, directory: Path) -> Policy:
        """The rules of the exercise in ``directory`` (:meth:`of_meta` of its
        ``exercise.json``, read with the bounds of any exercise file).

        :raises OSError: the file cannot be read, or is too large.
        :raises ValueError: it is not JSON of an exercise's depth.
        """
        from vmintro.untrusted_json import load_json_file

        meta = load_json_file(directory / EXERCISE_FILE, EXERCISE_MAX, EXERCISE_DEPTH)
        return cls.of_meta(meta)

    @classmethod
    def of_meta(cls, meta: dict[str, Any]) -> Policy:
        """The rules of the exercise ``meta`` (an ``exercise.json``) describes: the
        catalog's for an exercise it knows (an edited file allows nothing more), else
        the file's commands and plugins."""
        from vmintro.exercises.catalog import by_name

        try:
            return cls(meta["name"], by_name(meta["name"]).allowed)
        except LookupError:
            return cls(meta["name"], (*meta["commands"], *meta["plugins"], *ALWAYS))

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
    if not isinstance(name, str) or not EXERCISE_NAME.fullmatch(name):
        return Policy("(unnamed)", ALWAYS)  # an untrusted note: never printed as it is
    from vmintro.exercises.catalog import by_name

    try:
        return Policy(name, by_name(name).allowed)
    except LookupError:
        return Policy(name, ALWAYS)
