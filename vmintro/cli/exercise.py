"""``vmintro exercise list|show|verify``: the post-mortem exercises."""

from __future__ import annotations

import argparse
from pathlib import Path

from vmintro.cli.parser import Parser, fail
from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

__all__ = ["cmd_exercise", "parser"]


def _exercise_dir(name: str) -> Path:
    from vmintro.exercises.location import exercises_root

    root = exercises_root()
    path = root / name
    if not (path / "answer.json").exists():
        known = ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir()))
        raise LookupError(f"no exercise '{name}' (known: {known})")
    return path


def cmd_exercise(args: argparse.Namespace) -> int:
    from vmintro.exercises.catalog import EXERCISES
    from vmintro.exercises.verify import AnswerError, verify_answer

    if args.action == "list":
        from vmintro.exercises.location import exercises_root

        root = exercises_root()
        for ex in EXERCISES:
            print(f"{ex.name:<20} {ex.title}  ({root / ex.name})")
        return EXIT_OK
    if not args.name:
        return fail(f"exercise {args.action} needs a NAME", EXIT_USAGE)
    try:
        path = _exercise_dir(args.name)
    except LookupError as e:
        return fail(e.args[0], EXIT_USAGE)
    if args.action == "show":
        print((path / "README.md").read_text(), end="")
        return EXIT_OK
    if args.answer is None:
        return fail("exercise verify needs NAME and ANSWER", EXIT_USAGE)
    try:
        right = verify_answer(path, args.answer)
    except AnswerError as e:
        return fail(str(e), EXIT_USAGE)
    print("right" if right else "wrong")
    return EXIT_OK if right else EXIT_FAILED


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="vmintro exercise",
        description="post-mortem exercises: list them, show one, verify an answer "
        "(exit 0 right, 1 wrong)",
    )
    p.add_argument("action", choices=["list", "show", "verify"])
    p.add_argument("name", nargs="?")
    p.add_argument("answer", nargs="?", help="a number (decimal or 0x-hex), a word, or a list")
    p.set_defaults(func=cmd_exercise)
    return p
