"""A teacher's files are untrusted too: the course key, the roster, the submissions,
the directories ``make``, ``grade`` and the practice build write into. Each bad one is
refused in one line before any work (no hang on a FIFO, nothing read without bound),
and one bad row of submissions costs only itself."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from vmintro.cli import main
from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from vmintro.exercises import build, variants
from vmintro.exercises.catalog import by_name
from vmintro.exercises.keys import MAX_KEY, KeyFileError, read_key, salt_of, variant_seed
from vmintro.exercises.variants import RosterError, read_roster, read_submissions
from vmintro.exercises.verify import answer_record

KEY = "7f3c0a9d51e24b6c8e0f1a2b3c4d5e6f"
SUBMISSIONS = "student,exercise,answer\n"


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "course.key"
    path.write_text(KEY + "\n")
    return path


def test_a_fifo_key_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "key"
    os.mkfifo(fifo)
    with pytest.raises(KeyFileError, match="is a FIFO, not a regular file"):
        read_key(fifo)  # no writer ever comes: reading it would wait for ever


def test_a_key_file_of_more_than_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"\0" * (MAX_KEY + 1))
    with pytest.raises(KeyFileError, match=f"more than {MAX_KEY} bytes"):
        read_key(path)
    path.write_bytes(b"k" * MAX_KEY)
    assert read_key(path) == b"k" * MAX_KEY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("student,student\nalice,bob\n", "two columns are named 'student'"),
        ('student\n"unterminated\n', "not a CSV file"),
        ("student\nAlice\nalice\n", r":3: student 'alice' is listed twice \(line 2\)"),
    ],
)
def test_rosters_a_spreadsheet_would_not_mean(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(RosterError, match=message):
        read_roster(path)


def test_a_roster_with_a_byte_order_mark_reads_as_one_without(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes("student\nalice\nbob\n".encode("utf-8-sig"))  # "CSV UTF-8" of a spreadsheet
    assert read_roster(path) == ["alice", "bob"]


def test_rosters_are_bounded_and_fifos_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(variants, "MAX_ROWS", 3)
    path = tmp_path / "roster.csv"
    path.write_text("student\n" + "".join(f"s{i}\n" for i in range(4)))
    with pytest.raises(RosterError, match="more than 3 rows"):
        read_roster(path)
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    with pytest.raises(RosterError, match="is a FIFO"):
        read_roster(fifo)


def test_a_bad_row_of_submissions_costs_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(SUBMISSIONS + "alice,why-oops,1 2\nbob,nosuch,1\nbad/id,why-oops,1\n")
    rows, problems = read_submissions(path)
    assert [(s, ex.name) for s, ex, _ in rows] == [("alice", "why-oops")]
    assert len(problems) == 2
    assert problems[0].startswith(f"{path}:3: ") and "nosuch" in problems[0]
    assert problems[1].startswith(f"{path}:4: student 'bad/id'")


def test_grade_grades_the_good_rows_and_says_which_it_left_out(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.csv"
    path.write_text(SUBMISSIONS + "alice,why-oops,1 2\nbob,nosuch,1\n")
    out = tmp_path / "grades"
    assert main(["exercise", "grade", "--key", str(key), str(path), "-o", str(out)]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "nosuch" in captured.err
    assert "alice" in captured.out
    results = json.loads((out / "results.json").read_text())
    assert [t["name"] for t in results["tests"]] == ["alice/why-oops"]


def test_grade_refuses_an_output_it_cannot_write_before_grading(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.grades"
    path.write_text(SUBMISSIONS + "alice,why-oops,1 2\n")
    # the default output, SUBMISSIONS.grades, is the submissions file itself here
    assert main(["exercise", "grade", "--key", str(key), str(path)]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing graded
    assert captured.err == f"vmintro: {path}: is a file, not a directory\n"
    assert path.read_text() == SUBMISSIONS + "alice,why-oops,1 2\n"


def test_grade_writes_no_result_when_one_cannot_be_written(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.csv"
    path.write_text(SUBMISSIONS + "alice,why-oops,1 2\nbob,why-oops,1 2\n")
    out = tmp_path / "grades"
    (out / "bob.json").mkdir(parents=True)
    assert main(["exercise", "grade", "--key", str(key), str(path), "-o", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == f"vmintro: {out / 'bob.json'}: is a directory, not a file of results\n"
    assert sorted(p.name for p in out.iterdir()) == ["bob.json"]  # no alice.json alone


def test_make_refuses_an_output_that_is_a_file_once(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("student\nalice\nbob\n")
    taken = tmp_path / "taken"
    taken.write_text("")
    argv = ["exercise", "make", "--roster", str(roster), "--key", str(key), "-o", str(taken)]
    assert main([*argv, "-e", "why-oops"]) == EXIT_USAGE
    assert capsys.readouterr().err == f"vmintro: {taken}: is a file, not a directory\n"


def test_no_more_worker_processes_than_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    started = []

    class Pool:
        def __init__(self, max_workers: int) -> None:
            started.append(max_workers)

        def __enter__(self) -> Pool:
            return self

        def __exit__(self, *_: object) -> None:
            pass

        def map(self, func, items, chunksize):  # type: ignore[no-untyped-def]
            return map(func, items)

    monkeypatch.setattr(variants, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert variants._map(abs, [-1, -2, -3], jobs=2000) == [1, 2, 3]
    assert started == [3]


def _answer(root: Path, name: str, key: bytes) -> None:
    (root / name).mkdir(parents=True)
    record = answer_record(name, by_name(name).parts, [0x1000, [1, 2]], salt_of(key, name))
    (root / name / "answer.json").write_text(json.dumps(record))


def test_the_practice_build_keeps_another_keys_exercises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "exercises"
    _answer(root, "why-oops", b"the key they were built with")
    key = tmp_path / "other.key"
    key.write_text(KEY)
    before = (root / "why-oops" / "answer.json").read_text()
    assert build.main(["--key", str(key), str(root)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"vmintro: {root}: its exercises come from another key")
    assert err.count("\n") == 1
    assert (root / "why-oops" / "answer.json").read_text() == before


def test_the_practice_manifest_lists_the_exercises_files_only(tmp_path: Path) -> None:
    (tmp_path / "why-oops").mkdir()
    (tmp_path / "why-oops" / "README.md").write_text("read me\n")
    (tmp_path / "notes.txt").write_text("the teacher's own file\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "big").write_text("not the build's\n")
    lines = build.manifest(tmp_path).splitlines()
    assert [line.split("  ")[1] for line in lines] == ["why-oops/README.md"]
    assert lines[0].split()[0] == hashlib.sha256(b"read me\n").hexdigest()


def test_the_build_escapes_what_it_echoes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        build.main(["--\x1b[2Jfoo"])
    assert stop.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[2Jfoo" in err


def test_a_good_key_and_roster_still_make(tmp_path: Path, key: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("student\nalice\n")
    out = tmp_path / "out"
    argv = ["exercise", "make", "--roster", str(roster), "--key", str(key), "-o", str(out)]
    assert main([*argv, "-e", "why-oops", "-j", "50"]) == EXIT_OK
    assert (out / "alice" / "why-oops" / "why-oops.vmcore").is_file()


def test_submissions_with_nothing_to_grade_are_refused(tmp_path: Path, key: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(SUBMISSIONS)
    with pytest.raises(RosterError, match="no submissions"):
        read_submissions(path)
    path.write_text(SUBMISSIONS + "bob,nosuch,1\n")  # every row left out
    out = tmp_path / "grades"
    assert main(["exercise", "grade", "--key", str(key), str(path), "-o", str(out)]) == EXIT_USAGE
    assert not out.exists()


def test_an_exercise_the_cache_cannot_take_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from vmintro.exercises.catalog import EXERCISES

    built_on_first_use = next(e.name for e in EXERCISES if not e.shipped)
    cache = tmp_path / "cache"
    cache.write_text("a file, not a directory\n")
    monkeypatch.setenv("VMINTRO_CACHE_DIR", str(cache))
    assert main(["exercise", "show", built_on_first_use]) == EXIT_USAGE
    building, refused = capsys.readouterr().err.splitlines()
    assert building.startswith(f"vmintro: building exercise {built_on_first_use} once")
    assert refused.startswith(f"vmintro: {cache}/") and refused.endswith(": Not a directory")


def test_a_variant_that_cannot_be_built_again_costs_only_its_grade(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = variants.realise

    def realise(ex, seed, image):  # type: ignore[no-untyped-def]
        if seed == variant_seed(KEY.encode(), "bob", ex.name):
            raise ValueError(f"{ex.name}: no draw of 16 leaves a day of guessing")
        return real(ex, seed, image)

    monkeypatch.setattr(variants, "realise", realise)
    path = tmp_path / "s.csv"
    path.write_text(SUBMISSIONS + "alice,why-oops,1 2\nbob,why-oops,1 2\n")
    out = tmp_path / "grades"
    argv = ["exercise", "grade", "--key", str(key), str(path), "-o", str(out), "-j", "1"]
    assert main(argv) == EXIT_FAILED
    captured = capsys.readouterr()
    assert captured.err == (
        "vmintro: bob/why-oops: not graded: why-oops: no draw of 16 leaves a day of guessing\n"
    )
    assert [line.split()[-1] for line in captured.out.splitlines()[1:3]] == ["0", "?"]
    bob = json.loads((out / "bob.json").read_text())
    assert bob["tests"][0]["output"].startswith("not graded: ")


def test_submissions_a_path_without_a_name_is_one_line(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["exercise", "grade", "--key", str(key), "."]) == EXIT_USAGE
    assert capsys.readouterr().err == "vmintro: .: is a directory, not a regular file\n"


def test_csv_files_are_read_within_a_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(variants, "CSV_MAX", 64)
    path = tmp_path / "roster.csv"
    path.write_text("student\n" + "s" * 64 + "\n")  # one line, no row limit reached
    with pytest.raises(RosterError, match="more than 64 bytes"):
        read_roster(path)


def test_submissions_ids_are_matched_exactly(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(SUBMISSIONS + "Alice,why-oops,1 2\nalice,why-oops,3 4\nresults,why-oops,1\n")
    rows, problems = read_submissions(path)
    assert [s for s, _, _ in rows] == ["Alice"]
    assert problems[0].startswith(f"{path}:3: student 'alice' differs from 'Alice' (line 2)")
    assert problems[1] == f"{path}:4: student 'results': results.json is the class's results"
