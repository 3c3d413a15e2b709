"""A variant of every exercise per student, and grading them.

``make``: for every student of the roster and every exercise, the seed is
HMAC-SHA256(key, student NUL exercise) (:func:`~vmintro.exercises.keys.variant_seed`);
the variant's image, README and ``exercise.json`` go to ``DIR/STUDENT/EXERCISE/``.
Nothing of the answer is written: no truth, no timeline, no hash.

``grade``: each submission's variant is generated again from the key (the same seed
gives the same machine, byte for byte) and its answer compared with the one handed
in, read as ``verify`` reads it. An answer handed in under another student's name
is compared with that student's variant, so it fails.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from vmintro.exercises.build import build_exercise, realise
from vmintro.exercises.catalog import Exercise, by_name
from vmintro.exercises.keys import KeyFileError, variant_seed
from vmintro.exercises.keys import read_key as _read_key
from vmintro.exercises.verify import AnswerError, canonical
from vmintro.files import atomic_output

__all__ = ["Grade", "RosterError", "grade", "make", "read_key", "read_roster", "read_submissions"]

_STUDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")  # also a directory name
T = TypeVar("T")
R = TypeVar("R")


class RosterError(ValueError):
    """A key, roster or submissions file that cannot be used: one line naming it."""


def read_key(path: Path) -> bytes:
    """The course key: the file's bytes, surrounding whitespace aside (at least 16)."""
    try:
        return _read_key(path)
    except KeyFileError as e:
        raise RosterError(str(e)) from None


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return [
                {(k or "").strip().lower(): (v or "") for k, v in r.items()}
                for r in csv.DictReader(f)
            ]
    except OSError as e:
        raise RosterError(f"{path}: {e.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise RosterError(f"{path}: not a CSV file of UTF-8 text: {e}") from None


def _student(path: Path, line: int, value: str) -> str:
    student = value.strip()
    if not _STUDENT.fullmatch(student):
        raise RosterError(
            f"{path}:{line}: student '{student[:40]}' must be 1-64 letters, digits or . _ @ + - "
            "(it names a directory)"
        )
    return student


def read_roster(path: Path) -> list[str]:
    """The students of a CSV roster with a ``student`` column (an id, an e-mail)."""
    rows = _rows(path)
    if rows and "student" not in rows[0]:
        raise RosterError(f"{path}: no 'student' column (the first line names the columns)")
    students: list[str] = []
    for line, row in enumerate(rows, 2):
        student = _student(path, line, row["student"])
        if student in students:
            raise RosterError(f"{path}:{line}: student '{student}' is listed twice")
        students.append(student)
    if not students:
        raise RosterError(f"{path}: no students")
    return students


def read_submissions(path: Path) -> list[tuple[str, Exercise, str]]:
    """(student, exercise, answer) of each row of a CSV with columns student, exercise,
    answer (an answer may hold newlines, quoted as CSV quotes them)."""
    rows = _rows(path)
    if rows and not {"student", "exercise", "answer"} <= set(rows[0]):
        raise RosterError(f"{path}: the columns must be student, exercise, answer")
    out = []
    for line, row in enumerate(rows, 2):
        student = _student(path, line, row["student"])
        try:
            ex = by_name(row["exercise"].strip())
        except LookupError as e:
            raise RosterError(f"{path}:{line}: {e}") from None
        out.append((student, ex, row["answer"]))
    return out


def _map(func: Callable[[T], R], items: Iterable[T], jobs: int) -> list[R]:
    items = list(items)
    if jobs <= 1 or len(items) <= 1:
        return [func(i) for i in items]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(func, items, chunksize=max(1, len(items) // (jobs * 8))))


def _make_one(task: tuple[bytes, str, str, str]) -> str | None:
    key, student, name, out = task
    ex = by_name(name)
    try:
        build_exercise(ex, Path(out) / student, key, student)
    except Exception as e:  # noqa: BLE001 - one variant's failure costs no other its build
        return f"{student}/{name}: {' '.join(str(e).split())}"
    return None


def make(
    students: list[str], key: bytes, out: Path, exercises: list[Exercise], jobs: int = 1
) -> list[str]:
    """Build every student's variant of every exercise into ``out``; the failures, one
    line each."""
    tasks = [(key, s, ex.name, str(out)) for s in students for ex in exercises]
    return [e for e in _map(_make_one, tasks, jobs) if e is not None]


@dataclass
class Grade:
    student: str
    exercise: str
    right: bool
    output: str


def _expected(task: tuple[bytes, str, str]) -> list[Any]:
    key, student, name = task
    ex = by_name(name)
    return realise(ex, variant_seed(key, student, name), None).answer


def grade(submissions: list[tuple[str, Exercise, str]], key: bytes, jobs: int = 1) -> list[Grade]:
    """Each submission judged against its own student's variant (the last one handed
    in for a student and exercise counts)."""
    last = {(s, ex.name): (ex, answer) for s, ex, answer in submissions}
    pairs = sorted(last)
    expected = _map(_expected, [(key, s, name) for s, name in pairs], jobs)
    grades = []
    for (student, name), want in zip(pairs, expected, strict=True):
        ex, answer = last[(student, name)]
        try:
            right = canonical(ex.parts, answer) == canonical(ex.parts, want)
            output = "right" if right else "wrong"
        except AnswerError as e:
            right, output = False, f"not an answer: {e}"
        grades.append(Grade(student, name, right, output))
    return grades


def _results(tests: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "score": sum(t["score"] for t in tests),
        "max_score": sum(t["max_score"] for t in tests),
        "tests": tests,
    }


def score_table(grades: list[Grade], exercises: list[str]) -> list[str]:
    """One line per student: the score, then 1, 0 or - (not handed in) per exercise."""
    students = sorted({g.student for g in grades})
    got = {(g.student, g.exercise): g for g in grades}
    width = max([7, *map(len, students)])
    lines = [f"{'STUDENT':<{width}}  SCORE  " + "  ".join(exercises)]
    for s in students:
        marks = []
        for name in exercises:
            g = got.get((s, name))
            mark = "-" if g is None else "1" if g.right else "0"
            marks.append(f"{mark:^{len(name)}}")
        score = sum(1 for name in exercises if (g := got.get((s, name))) and g.right)
        lines.append(f"{s:<{width}}  {score:>2}/{len(exercises):<2}  " + "  ".join(marks))
    return lines


def write_results(grades: list[Grade], exercises: list[str], out: Path) -> None:
    """``out/STUDENT.json`` for each student and ``out/results.json`` for all: Gradescope's
    autograder results format (score, max_score, tests of name, score, max_score, output)."""
    out.mkdir(parents=True, exist_ok=True)
    got = {(g.student, g.exercise): g for g in grades}
    everyone: list[dict[str, Any]] = []
    for student in sorted({g.student for g in grades}):
        tests = []
        for name in exercises:
            g = got.get((student, name))
            tests.append(
                {
                    "name": name,
                    "score": 1 if g is not None and g.right else 0,
                    "max_score": 1,
                    "output": "not handed in" if g is None else g.output,
                }
            )
        with atomic_output(out / f"{student}.json") as f:
            f.write((json.dumps(_results(tests), indent=1) + "\n").encode())
        everyone += [{**t, "name": f"{student}/{t['name']}"} for t in tests]
    with atomic_output(out / "results.json") as f:
        f.write((json.dumps(_results(everyone), indent=1) + "\n").encode())
