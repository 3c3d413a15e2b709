"""``vmintro exercise ...``: the post-mortem exercises — practise, and (teachers) a
variant per student and its grading."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vmintro.cli.parser import Parser, UsageExit, fail
from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from vmintro.escape import escape_text

__all__ = ["cmd_exercise", "parser"]


def _dir(name: str) -> Path:
    from vmintro.exercises.location import exercise_dir

    try:
        return exercise_dir(name)
    except LookupError as e:
        raise UsageExit(e.args[0]) from None


_META = {"name": str, "question": str, "parts": list, "commands": list, "plugins": list}


def _meta(path: Path) -> dict[str, Any]:
    """The directory's exercise.json, checked for what the actions read.

    :raises UsageExit: naming the file and what is wrong with it.
    """
    from vmintro.exercises.location import (
        EXERCISE_DEPTH,
        EXERCISE_FILE,
        EXERCISE_MAX,
        EXERCISE_NAME,
    )
    from vmintro.exercises.verify import answer_parts
    from vmintro.untrusted_json import load_json_file

    where = path / EXERCISE_FILE
    try:
        meta = load_json_file(where, EXERCISE_MAX, EXERCISE_DEPTH)
    except OSError as e:  # a FIFO, a directory or a device too, refused before a read
        raise UsageExit(f"{where}: {e.strerror or e}") from None
    except ValueError as e:
        raise UsageExit(f"{where}: {e}") from None
    if not isinstance(meta, dict):
        raise UsageExit(f"{where}: not an exercise: a JSON object was expected")
    for key, kind in _META.items():
        if not isinstance(meta.get(key), kind):
            raise UsageExit(
                f"{where}: not an exercise: '{key}' is missing or not a {kind.__name__}"
            )
    if not EXERCISE_NAME.fullmatch(meta["name"]):
        raise UsageExit(f"{where}: not an exercise: its name must be a word of a-z, 0-9 and -")
    if not all(isinstance(c, str) for c in meta["commands"] + meta["plugins"]):
        raise UsageExit(f"{where}: not an exercise: its commands must be words")
    hints = meta.get("hints")
    if not isinstance(hints, list) or not all(
        isinstance(h, dict)
        and isinstance(h.get("text"), str)
        and isinstance(h.get("commands"), list)
        and all(isinstance(c, str) for c in h["commands"])
        for h in hints
    ):
        raise UsageExit(f"{where}: not an exercise: 'hints' must be a list of text and commands")
    try:
        answer_parts(meta["parts"])
    except ValueError as e:
        raise UsageExit(f"{where}: not an exercise: {e}") from None
    if meta.get("student") is not None and not isinstance(meta["student"], str):
        raise UsageExit(f"{where}: not an exercise: 'student' must be a name or null")
    return meta


def _list(args: argparse.Namespace) -> int:
    from vmintro.exercises.catalog import EXERCISES, LEVELS

    for ex in sorted(EXERCISES, key=lambda e: e.level):
        where = "" if ex.shipped else "  (built on first use)"
        print(f"{ex.name:<20} level {ex.level} ({LEVELS[ex.level]:<21}) {ex.title}{where}")
    return EXIT_OK


def _shown(text: str) -> str:
    """``text`` escaped for a terminal (:func:`~vmintro.escape.escape_text`) but for its
    newlines and tabs: the layout of a README or a question stays."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join("\t".join(escape_text(cell) for cell in line.split("\t")) for line in lines)


def _show(args: argparse.Namespace) -> int:
    from vmintro.exercises.location import README_FILE, README_MAX
    from vmintro.files import read_regular

    where = _dir(args.name) / README_FILE
    try:
        raw = read_regular(where, README_MAX)
    except OSError as e:  # a FIFO, a directory or a device too, refused before a read
        raise UsageExit(f"{where}: {e.strerror or e}") from None
    print(_shown(raw.decode("utf-8", "surrogateescape")), end="")
    return EXIT_OK


def _made_by(path: Path, meta: dict[str, Any], key_file: Path) -> bool:
    """Whether ``key_file``'s key makes the variant in ``path``: the variant built again
    from it (as ``grade`` does) has the same core, byte for byte."""
    import tempfile

    from vmintro.exercises.build import realise
    from vmintro.exercises.catalog import by_name
    from vmintro.exercises.keys import KeyFileError, read_key, variant_seed
    from vmintro.files import open_regular

    try:
        key = read_key(key_file)
        ex = by_name(meta["name"])
    except (KeyFileError, LookupError) as e:
        raise UsageExit(str(e.args[0])) from None
    student = meta.get("student")
    student = student if isinstance(student, str) else ""  # a practice variant: ""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            realise(ex, variant_seed(key, student, ex.name), Path(tmp) / ex.name)
        except ValueError as e:  # no draw of this vmintro makes a variant of it
            raise UsageExit(f"{path}: its variant cannot be built again: {e}") from None
        made = (Path(tmp) / f"{ex.name}.vmcore").read_bytes()
    try:  # an untrusted file: no FIFO waited on, no more read than the core made
        with open_regular(path / f"{ex.name}.vmcore") as f:
            return f.read(len(made) + 1) == made
    except OSError:
        return False


def _open(args: argparse.Namespace) -> int:
    from vmintro.cli.session import cmd_session

    path = _dir(args.name)
    meta = _meta(path)
    image = path / meta["name"]
    from vmintro.exercises.session import Policy

    policy: Policy | None = Policy.of_meta(meta)  # the exercise.json _meta checked
    if args.key is not None:  # the teacher's (or maintainer's): every command, and Python
        if not _made_by(path, meta, Path(args.key)):
            raise UsageExit(
                f"{path}: {args.key} does not make this variant (another key, or another "
                "vmintro version)"
            )
        policy = None
    session = argparse.Namespace(
        image=str(image), vmlinux=None, plugin_dirs=[], commands=args.commands,
        json=args.json, quiet=args.quiet, policy=policy, unrestricted=policy is None,
    )  # fmt: skip
    if not args.quiet and args.commands is None and sys.stdin.isatty():
        print(_shown(meta["question"]) + "\n")
    status: int = cmd_session(session)
    return status


def _hint(args: argparse.Namespace) -> int:
    path = _dir(args.name)
    hints = _meta(path)["hints"]
    if not 1 <= args.n <= len(hints):
        return fail(f"exercise {args.name} has hints 1 to {len(hints)}", EXIT_USAGE)
    for i, hint in enumerate(hints[: args.n], 1):
        print(f"{i}. {escape_text(hint['text'])}")
        for command in hint["commands"]:
            print(f"     vmintro> {escape_text(command)}")
    if args.n < len(hints):
        name = escape_text(args.name)
        print(f"({args.n} of {len(hints)}: vmintro exercise hint {name} {args.n + 1})")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    import os

    from vmintro.exercises.verify import (
        ANSWER_FILE,
        AnswerError,
        AnswerFileError,
        answer_parts,
        verify_answer,
    )

    path = _dir(args.name)
    meta = _meta(path)
    parts = answer_parts(meta["parts"])  # _meta checked them
    student = meta.get("student")  # a name, or None for a practice exercise
    if student is not None and not os.path.lexists(path / ANSWER_FILE):
        return fail(
            f"{path}: {student}'s graded variant: hand the answer in, it is graded", EXIT_USAGE
        )
    try:
        right = verify_answer(path, parts, " ".join(args.answer))
    except (AnswerError, AnswerFileError) as e:
        return fail(str(e), EXIT_USAGE)
    print("right" if right else "wrong")
    return EXIT_OK if right else EXIT_FAILED


def _exercises(names: list[str]) -> list[Any]:
    from vmintro.exercises.catalog import EXERCISES, by_name

    try:
        return [by_name(n) for n in names] if names else list(EXERCISES)
    except LookupError as e:
        raise UsageExit(e.args[0]) from None


def _make(args: argparse.Namespace) -> int:
    from vmintro.exercises.variants import (
        RosterError,
        check_output_dir,
        make,
        read_key,
        read_roster,
    )

    exercises = _exercises(args.exercise)
    out = Path(args.output)
    try:
        students = read_roster(Path(args.roster))
        key = read_key(Path(args.key))
        check_output_dir(out)
    except RosterError as e:
        raise UsageExit(str(e)) from None
    failures = make(students, key, out, exercises, max(1, args.jobs))
    for line in failures:
        print(f"vmintro: {escape_text(line)}", file=sys.stderr)
    built = len(students) * len(exercises) - len(failures)
    print(
        f"{built} variants ({len(students)} students, {len(exercises)} exercises) "
        f"in {escape_text(str(out))}"
    )
    return EXIT_FAILED if failures else EXIT_OK


def _grade(args: argparse.Namespace) -> int:
    from vmintro.exercises.variants import (
        RosterError,
        check_output_dir,
        grade,
        read_key,
        read_submissions,
        score_table,
        write_results,
    )

    source = Path(args.submissions)
    try:
        key = read_key(Path(args.key))
        submissions, problems = read_submissions(source)
        out = Path(args.output) if args.output else source.with_suffix(".grades")
        check_output_dir(out)  # before the grading, which may take long
    except RosterError as e:
        raise UsageExit(str(e)) from None
    for line in problems:  # rows left out; the others are graded
        print(f"vmintro: {escape_text(line)}", file=sys.stderr)
    if not submissions:  # every row left out: nothing to grade, nothing written
        return EXIT_USAGE
    names = list(dict.fromkeys(ex.name for _, ex, _ in submissions))
    grades = grade(submissions, key, max(1, args.jobs))
    for g in grades:
        if not g.graded:  # its variant cannot be built again: said, the others graded
            problems.append(f"{g.student}/{g.exercise}: {g.output}")
            print(f"vmintro: {g.student}/{g.exercise}: {escape_text(g.output)}", file=sys.stderr)
    for line in score_table(grades, names):
        print(line)
    try:
        write_results(grades, names, out)
    except RosterError as e:
        raise UsageExit(str(e)) from None
    print(f"per-student JSON and results.json in {escape_text(str(out))}")
    return EXIT_FAILED if problems else EXIT_OK


_ACTIONS = {
    "list": _list,
    "show": _show,
    "open": _open,
    "hint": _hint,
    "verify": _verify,
    "make": _make,
    "grade": _grade,
}


def cmd_exercise(args: argparse.Namespace) -> int:
    return _ACTIONS[args.action](args)


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="vmintro exercise",
        description="post-mortem exercises: practise them (list, show, open, hint, verify), "
        "or give each student a variant and grade it (make, grade)",
    )
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    sub.add_parser("list", help="the exercises, with their levels")
    name = "an exercise's name, or the directory of a student's variant"
    sp = sub.add_parser("show", help="the exercise's README: the question and how to answer")
    sp.add_argument("name", metavar="NAME", help=name)
    sp = sub.add_parser("open", help="open the exercise's image: only its commands run")
    sp.add_argument("name", metavar="NAME", help=name)
    sp.add_argument("-c", dest="commands", metavar="COMMANDS", help="run these commands")
    sp.add_argument("--json", action="store_true", help="results as JSON, one line each")
    sp.add_argument("-q", "--quiet", action="store_true", help="no banner, no question")
    sp.add_argument(
        "--key", metavar="FILE",
        help="the key the variant was made with (a teacher's): every command runs",
    )  # fmt: skip
    sp = sub.add_parser("hint", help="hints 1 to N (default 1)")
    sp.add_argument("name", metavar="NAME", help=name)
    sp.add_argument("n", metavar="N", nargs="?", type=int, default=1)
    sp = sub.add_parser("verify", help="check a practice answer (exit 0 right, 1 wrong)")
    sp.add_argument("name", metavar="NAME", help=name)
    sp.add_argument(
        "answer", metavar="PART", nargs="+",
        help="the answer's parts in order; numbers as vmintro prints them",
    )  # fmt: skip
    sp = sub.add_parser("make", help="a variant of each exercise for each student")
    sp.add_argument("--roster", required=True, help="CSV with a 'student' column")
    sp.add_argument("--key", required=True, help="the course's secret key file")
    sp.add_argument("-o", "--output", required=True, metavar="DIR", help="DIR/STUDENT/EXERCISE")
    sp.add_argument("-j", "--jobs", type=int, default=1, help="variants built in parallel")
    sp.add_argument(
        "-e", "--exercise", action="append", default=[], metavar="NAME",
        help="only these exercises (repeatable; default: all)",
    )  # fmt: skip
    sp = sub.add_parser("grade", help="grade the answers of a submissions CSV")
    sp.add_argument("submissions", help="CSV with columns student, exercise, answer")
    sp.add_argument("--key", required=True, help="the course's secret key file")
    sp.add_argument(
        "-o", "--output", metavar="DIR",
        help="where STUDENT.json and results.json go (default: the submissions file's "
        "name with .grades for its suffix: subs.csv, subs.grades)",
    )  # fmt: skip
    sp.add_argument("-j", "--jobs", type=int, default=1, help="variants generated in parallel")
    p.set_defaults(func=cmd_exercise)
    return p
