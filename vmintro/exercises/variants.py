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
import io
import json
import os
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
from vmintro.files import atomic_output, not_regular, read_regular

__all__ = [
    "CSV_MAX",
    "MAX_ROWS",
    "Grade",
    "RosterError",
    "check_output_dir",
    "grade",
    "make",
    "read_key",
    "read_roster",
    "read_submissions",
    "write_results",
]

# a class is far fewer; a file of more is not a roster or a class's submissions
MAX_ROWS = 100_000
CSV_MAX = 64 << 20  # bytes: read whole, so bounded (100,000 rows of long frame lists)
# the class's own file among the students' STUDENT.json: no student may be named so
_CLASS_RESULTS = "results"
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
    """The rows of a CSV file, keyed by column names lower-cased: a FIFO or a device is
    refused before it is read, a file of more than :data:`CSV_MAX` bytes or
    :data:`MAX_ROWS` rows, a name given to two columns or a quote left open in one line;
    a byte-order mark (a spreadsheet's "CSV UTF-8") is no part of the first name."""
    try:
        text = read_regular(path, CSV_MAX).decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        names = [(n or "").strip().lower() for n in reader.fieldnames or ()]
        twice = sorted({n for n in names if n and names.count(n) > 1})
        if twice:
            raise RosterError(f"{path}: two columns are named '{twice[0][:40]}'")
        rows: list[dict[str, str]] = []
        for r in reader:
            if len(rows) == MAX_ROWS:
                raise RosterError(f"{path}: more than {MAX_ROWS} rows")
            rows.append({(k or "").strip().lower(): (v or "") for k, v in r.items()})
        return rows
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
    if student.lower() == _CLASS_RESULTS:
        raise RosterError(
            f"{path}:{line}: student '{student}': {_CLASS_RESULTS}.json is the class's results"
        )
    return student


def read_roster(path: Path) -> list[str]:
    """The students of a CSV roster with a ``student`` column (an id, an e-mail); two
    ids that differ only in case are one student (a directory on a case-insensitive
    file system, an e-mail address)."""
    rows = _rows(path)
    if rows and "student" not in rows[0]:
        raise RosterError(f"{path}: no 'student' column (the first line names the columns)")
    students: list[str] = []
    first: dict[str, int] = {}  # each student, lower-cased: its line
    for line, row in enumerate(rows, 2):
        student = _student(path, line, row["student"])
        if student.lower() in first:
            raise RosterError(
                f"{path}:{line}: student '{student}' is listed twice "
                f"(line {first[student.lower()]})"
            )
        first[student.lower()] = line
        students.append(student)
    if not students:
        raise RosterError(f"{path}: no students")
    return students


def read_submissions(path: Path) -> tuple[list[tuple[str, Exercise, str]], list[str]]:
    """(student, exercise, answer) of each row of a CSV with columns student, exercise,
    answer (an answer may hold newlines, quoted as CSV quotes them), and one line for
    each row that cannot be graded (a student id that names no directory, an exercise
    nobody knows): those rows are left out, the others graded.

    :raises RosterError: the file itself cannot be used.
    """
    rows = _rows(path)
    if not rows:
        raise RosterError(f"{path}: no submissions (the first line names the columns)")
    if not {"student", "exercise", "answer"} <= set(rows[0]):
        raise RosterError(f"{path}: the columns must be student, exercise, answer")
    out, problems = [], []
    spelt: dict[str, tuple[str, int]] = {}  # each id lower-cased: as first written, its line
    for line, row in enumerate(rows, 2):
        try:
            student = _student(path, line, row["student"])
            ex = by_name(row["exercise"].strip())
        except RosterError as e:
            problems.append(str(e))
            continue
        except LookupError as e:
            problems.append(f"{path}:{line}: {e}")
            continue
        first, at = spelt.setdefault(student.lower(), (student, line))
        if first != student:  # one student twice, or two the roster would not take
            problems.append(
                f"{path}:{line}: student '{student}' differs from '{first}' (line {at}) only "
                "in case: ids are matched exactly, as the roster has them"
            )
            continue
        out.append((student, ex, row["answer"]))
    return out, problems


def _map(func: Callable[[T], R], items: Iterable[T], jobs: int) -> list[R]:
    """``func`` of each item, in order, in ``jobs`` processes (no more than there are
    items or cores: ``-j 2000`` forks no 2000 processes)."""
    items = list(items)
    jobs = min(jobs, len(items), os.cpu_count() or 1)
    if jobs <= 1:
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
    """One submission's result: ``output`` is ``right``, ``wrong``, ``not an answer:
    ...``, or, with ``graded`` false, why its variant could not be built again."""

    student: str
    exercise: str
    right: bool
    output: str
    graded: bool = True


def _expected(task: tuple[bytes, str, str]) -> list[Any] | str:
    """The answer of a student's variant, built again; or why it cannot be, in one line
    (one variant's failure costs no other its grade)."""
    key, student, name = task
    ex = by_name(name)
    try:
        return realise(ex, variant_seed(key, student, name), None).answer
    except Exception as e:  # noqa: BLE001 - as make's, one variant's failure is its own
        return " ".join(str(e).split())


def grade(submissions: list[tuple[str, Exercise, str]], key: bytes, jobs: int = 1) -> list[Grade]:
    """Each submission judged against its own student's variant (the last one handed
    in for a student and exercise counts)."""
    last = {(s, ex.name): (ex, answer) for s, ex, answer in submissions}
    pairs = sorted(last)
    expected = _map(_expected, [(key, s, name) for s, name in pairs], jobs)
    grades = []
    for (student, name), want in zip(pairs, expected, strict=True):
        ex, answer = last[(student, name)]
        if isinstance(want, str):
            grades.append(Grade(student, name, False, f"not graded: {want}", graded=False))
            continue
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
    """One line per student: the score, then 1, 0, - (not handed in) or ? (not graded:
    its variant could not be built again) per exercise."""
    students = sorted({g.student for g in grades})
    got = {(g.student, g.exercise): g for g in grades}
    width = max([7, *map(len, students)])
    lines = [f"{'STUDENT':<{width}}  SCORE  " + "  ".join(exercises)]
    for s in students:
        marks = []
        for name in exercises:
            g = got.get((s, name))
            mark = "-" if g is None else "?" if not g.graded else "1" if g.right else "0"
            marks.append(f"{mark:^{len(name)}}")
        score = sum(1 for name in exercises if (g := got.get((s, name))) and g.right)
        lines.append(f"{s:<{width}}  {score:>2}/{len(exercises):<2}  " + "  ".join(marks))
    return lines


def check_output_dir(out: Path) -> None:
    """Refuse, before any work, a ``-o DIR`` that cannot take the files: something
    else than a directory there, or a directory (or its parent, to make it in) that
    cannot be written.

    :raises RosterError: one line naming ``out``.
    """
    try:
        kind = not_regular(out)
        there = out.exists()
        if there and kind != "a directory":
            raise RosterError(f"{out}: is {kind or 'a file'}, not a directory")
        where = out if there else out.parent
        if not where.is_dir():
            raise RosterError(f"{out}: there is no directory {str(where)!r} to make it in")
    except OSError as e:  # a directory on the way that cannot be searched
        raise RosterError(f"{out}: {e.strerror}") from None
    if not os.access(where, os.W_OK | os.X_OK):
        raise RosterError(f"{out}: {where} cannot be written")


def write_results(grades: list[Grade], exercises: list[str], out: Path) -> None:
    """``out/STUDENT.json`` for each student and ``out/results.json`` for all: Gradescope's
    autograder results format (score, max_score, tests of name, score, max_score, output).

    Every file's place is checked before the first is written (a directory where a
    file goes is refused), and each is written whole or not at all.

    :raises RosterError: ``out`` or a file in it cannot be written, in one line.
    """
    got = {(g.student, g.exercise): g for g in grades}
    files: dict[str, dict[str, Any]] = {}
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
        files[f"{student}.json"] = _results(tests)
        everyone += [{**t, "name": f"{student}/{t['name']}"} for t in tests]
    files["results.json"] = _results(everyone)
    try:
        check_output_dir(out)
        out.mkdir(exist_ok=True)
        for name in files:
            kind = not_regular(out / name)
            if kind is not None:
                raise RosterError(f"{out / name}: is {kind}, not a file of results")
        for name, results in files.items():
            with atomic_output(out / name) as f:
                f.write((json.dumps(results, indent=1) + "\n").encode())
    except OSError as e:
        raise RosterError(f"{e.filename or out}: {e.strerror}") from None
