"""A variant per student: images and answers differ, nothing of the answer is shipped,
grading takes each student's own answer and fails it under another name."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

import vmintro
from vmintro.cli import main
from vmintro.exercises.keys import variant_seed
from vmintro.helpers import find_vm_area, vm_area_pages

KEY = "7f3c0a9d51e24b6c8e0f1a2b3c4d5e6f"


def _solve_why_oops(directory: Path) -> str:
    """The library's answer, from the student's own question and image."""
    meta = json.loads((directory / "exercise.json").read_text())
    addr = int(re.search(r"`([0-9a-f]+)`", meta["question"]).group(1), 16)
    prog = vmintro.open(directory / "why-oops")
    area = find_vm_area(prog, addr)
    pfns = [pfn for _, pfn in vm_area_pages(area) if pfn is not None]
    return " ".join([f"{area.value_():x}", *(f"{p:x}" for p in pfns)])


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("class")
    (root / "course.key").write_text(KEY + "\n")
    (root / "roster.csv").write_text("student,name\nalice@uni.edu,Alice\nbob,Bob\n")
    out = root / "out"
    argv = ["exercise", "make", "--roster", str(root / "roster.csv"), "--key"]
    assert main([*argv, str(root / "course.key"), "-o", str(out), "-e", "why-oops"]) == 0
    return root


def test_each_student_has_an_own_image_and_nothing_of_the_answer(
    made: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice, bob = made / "out" / "alice@uni.edu" / "why-oops", made / "out" / "bob" / "why-oops"
    for d in (alice, bob):
        assert sorted(p.name for p in d.iterdir()) == [
            "README.md",
            "exercise.json",
            "why-oops.vmcore",
            "why-oops.vmlinux",
        ]  # no answer.json, no truth, no timeline
    assert (alice / "why-oops.vmcore").read_bytes() != (bob / "why-oops.vmcore").read_bytes()
    assert _solve_why_oops(alice) != _solve_why_oops(bob)
    assert "vmintro exercise open DIR" in (alice / "README.md").read_text()
    assert main(["exercise", "verify", str(bob), "1"]) == 2  # graded: nothing to verify against
    assert main(["exercise", "hint", str(bob), "2"]) == 0
    assert main(["exercise", "open", str(bob), "-c", "vmlist; check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"vmintro: {bob}: bob's graded variant: hand the answer in, it is graded"
    assert err[1:] == ["check: not available in this exercise"]
    assert variant_seed(KEY.encode(), "bob", "why-oops") != variant_seed(
        KEY.encode(), "alice@uni.edu", "why-oops"
    )


def test_grading_takes_only_each_students_own_answer(
    made: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = made / "out"
    alice = _solve_why_oops(out / "alice@uni.edu" / "why-oops")
    bob = _solve_why_oops(out / "bob" / "why-oops")
    subs = made / "subs.csv"
    with open(subs, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "exercise", "answer"])
        w.writerow(["alice@uni.edu", "why-oops", alice.replace(" ", "\n")])  # a pasted column
        w.writerow(["bob", "why-oops", alice])  # alice's answer under bob's name
    argv = ["exercise", "grade", "--key", str(made / "course.key"), str(subs)]
    assert main([*argv, "-o", str(made / "grades")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[:3] == ["alice@uni.edu", "1/1", "1"]
    assert table[2].split()[:3] == ["bob", "0/1", "0"]
    results = json.loads((made / "grades" / "results.json").read_text())
    assert results["score"] == 1 and results["max_score"] == 2
    assert {t["name"]: t["output"] for t in results["tests"]} == {
        "alice@uni.edu/why-oops": "right",
        "bob/why-oops": "wrong",
    }
    mine = json.loads((made / "grades" / "bob.json").read_text())
    assert mine == {
        "score": 0,
        "max_score": 1,
        "tests": [{"name": "why-oops", "score": 0, "max_score": 1, "output": "wrong"}],
    }
    with open(subs, "a", newline="") as f:
        csv.writer(f).writerow(["bob", "why-oops", bob])  # the last one counts
    assert main([*argv, "-o", str(made / "grades")]) == 0
    assert capsys.readouterr().out.splitlines()[2].split()[:2] == ["bob", "1/1"]


def test_bad_roster_key_and_submissions_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "k"
    key.write_text("short")
    roster = tmp_path / "r.csv"
    roster.write_text("student\n../etc\n")
    argv = ["exercise", "make", "--roster", str(roster), "-o", str(tmp_path / "o"), "--key"]
    assert main([*argv, str(key)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"vmintro: {roster}:2: student '../etc' must be")
    roster.write_text("student\nann\n")
    assert main([*argv, str(key)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"vmintro: {key}: a key of 5 bytes; at least 16")
    assert not (tmp_path / "o").exists()
    subs = tmp_path / "s.csv"
    subs.write_text("student,exercise,answer\nann,no-such,1\n")
    key.write_text(KEY)
    assert main(["exercise", "grade", "--key", str(key), str(subs)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"vmintro: {subs}:2: no exercise 'no-such' (known: ")


@pytest.mark.slow
def test_every_exercise_of_a_variant_solved_and_graded_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the library's solution of each exercise of one student's variants, graded by
    # generating them again: every one right (the variants' own seeds, not the practice's),
    # and wrong under another student's name
    from tests import test_exercises as practice
    from vmintro.exercises.catalog import EXERCISES
    from vmintro.exercises.variants import grade, make
    from vmintro.exercises.verify import SECONDS_PER_GUESS

    key = KEY.encode()
    exercises = [e for e in EXERCISES if e.shipped]
    assert make(["carol"], key, tmp_path, exercises, jobs=2) == []
    monkeypatch.setattr(practice, "ROOT", tmp_path / "carol")
    answers = [("carol", e, practice.SOLVERS[e.name](practice._open(e.name))) for e in exercises]
    for _, e, answer in answers:  # her frames, too, are no runs a guesser could follow
        assert practice.effective_space(e, answer) * SECONDS_PER_GUESS > practice.DAY, e.name
    # and carol's answers handed in under dave's name: wrong, every one
    copied = [("dave", e, answer) for _, e, answer in answers]
    grades = grade(answers + copied, key, jobs=2)
    assert [(g.exercise, g.output) for g in grades if g.student == "carol" and not g.right] == []
    assert [g.exercise for g in grades if g.student == "dave" and g.right] == []
    assert len(grades) == 2 * len(exercises)


# A course key under which student s29's why-vmalloc machine, as first booted, keeps a
# free block of order 9 whatever its scenario does: the question (why a 2 MiB
# physically contiguous allocation fails) is not posed, and the build failed.
UNPOSED_KEY = b"4978003b066f0f18246fbcfc8e0c29579b6f0aa8a5bd3cf2d438bff697a9bc34"


def test_a_machine_that_does_not_pose_the_question_is_booted_again(tmp_path: Path) -> None:
    from tests import test_exercises as practice
    from vmintro.exercises.build import build_exercise
    from vmintro.exercises.catalog import by_name
    from vmintro.exercises.verify import canonical

    ex = by_name("why-vmalloc")
    variant = build_exercise(ex, tmp_path, UNPOSED_KEY, "s29")
    # the library's reading of the image: no free block of order 9 (the generator's
    # answer agrees with it)
    solved = practice.why_vmalloc(vmintro.open(tmp_path / ex.name / ex.name))
    assert int(solved.split()[0]) < 9
    assert canonical(ex.parts, solved) == canonical(ex.parts, variant.answer)
