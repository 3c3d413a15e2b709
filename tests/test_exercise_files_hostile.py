"""An exercise directory is untrusted input: a tampered ``answer.json``, ``exercise.json``
or ``README.md`` is refused in one line naming the file (exit status EXIT_USAGE), never
with a traceback, a hang or a read of the whole of a huge file; its text reaches the
terminal escaped; a typed answer is read only as ASCII numbers of a sane length."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vmintro.cli import main
from vmintro.errors import EXIT_FAILED, EXIT_USAGE
from vmintro.exercises.location import CHECKOUT_DIR
from vmintro.exercises.verify import AnswerError, Part, canonical

NAME = "why-oops"
SHIPPED = CHECKOUT_DIR / NAME
# a well-formed answer (the exercise's answer is ``HEX HEX-LIST``), wrong for every variant
WRONG = ["c0000000", "1", "2"]


@pytest.fixture
def exdir(tmp_path: Path) -> Path:
    """A copy of the practice exercise's small files (the verify, show and hint actions
    read no image)."""
    out = tmp_path / NAME
    out.mkdir()
    for name in ("exercise.json", "answer.json", "README.md"):
        shutil.copyfile(SHIPPED / name, out / name)
    return out


def _record() -> dict[str, Any]:
    record: dict[str, Any] = json.loads((SHIPPED / "answer.json").read_text())
    return record


def _meta() -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((SHIPPED / "exercise.json").read_text())
    return meta


def _one_line_about(err: str, path: Path) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"vmintro: {path}: "), err
    assert "Traceback" not in err


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], path: Path) -> str:
    """Run ``vmintro ARGV``: refused (EXIT_USAGE) in one line about ``path``; that line."""
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    _one_line_about(captured.err, path)
    return captured.err


def _rewritten(
    original: Callable[[], dict[str, Any]], drop: str | None = None, **changes: Any
) -> Callable[[Path], None]:
    """A tamperer writing ``original()`` with ``changes`` made and the key ``drop`` gone."""

    def edit(path: Path) -> None:
        data = original()
        data.update(changes)
        data.pop(drop or "", None)
        path.write_text(json.dumps(data))

    return edit


def _edited(**changes: Any) -> Callable[[Path], None]:
    return _rewritten(_record, **changes)


def _without(key: str) -> Callable[[Path], None]:
    return _rewritten(_record, drop=key)


def _text(raw: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(raw)


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _sparse(path: Path) -> None:
    with path.open("wb") as f:
        f.truncate(1 << 30)


def _dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


ANSWER_TAMPERED = {
    "n 2**40": _edited(n=1 << 40),
    "n 0": _edited(n=0),
    "n 3": _edited(n=3),
    "n true": _edited(n=True),
    "n -65536": _edited(n=-65536),
    "n 2**64": _edited(n=1 << 64),
    "n 2**17": _edited(n=1 << 17),
    "n list": _edited(n=[1]),
    "n null": _edited(n=None),
    "n string": _edited(n="65536"),
    "n float": _edited(n=65536.0),
    "n 5000 digits": _text(b'{"n": ' + b"9" * 5000 + b"}"),
    "n NaN": _text(json.dumps(_record()).replace("65536", "NaN").encode()),
    "r 2**30": _edited(r=1 << 30),
    "r 0": _edited(r=0),
    "p 2**30": _edited(p=1 << 30),
    "p 0": _edited(p=0),
    "p 2": _edited(p=2),
    "p true": _edited(p=True),
    "kdf": _edited(kdf="pbkdf2"),
    "no kdf": _without("kdf"),
    "no salt": _without("salt"),
    "salt zz": _edited(salt="zz"),
    "salt number": _edited(salt=5),
    "salt short": _edited(salt="00"),
    "salt upper": _edited(salt=_record()["salt"].upper()),
    "hash number": _edited(hash=5),
    "hash null": _edited(hash=None),
    "hash short": _edited(hash="ab"),
    "forms other": _edited(forms=["hex", "dec-list"]),
    "forms short": _edited(forms=["hex"]),
    "forms not list": _edited(forms="hex"),
    "unknown key": _edited(extra=1),
    "empty object": _text(b"{}"),
    "list": _text(b"[1,2,3]"),
    "deep": _text(b"[" * 100000),
    "deep object": _text(b'{"a":' * 50000),
    "empty": _text(b""),
    "escape bytes": _text(b'{"kdf": "\x1b[2J"}'),
    "not utf-8": _text(b'{"kdf": "\xff\xfe"}'),
    "not json": _text(b"scrypt"),
    "directory": _directory,
    "sparse 1 GiB": _sparse,
    "dev zero": _dev_zero,
    "fifo": _fifo,
}


@pytest.mark.parametrize("tamper", ANSWER_TAMPERED.values(), ids=ANSWER_TAMPERED.keys())
def test_tampered_answer_file_is_refused_in_one_line(
    exdir: Path, tamper: Callable[[Path], None], capsys: pytest.CaptureFixture[str]
) -> None:
    answer = exdir / "answer.json"
    tamper(answer)
    err = _refused(capsys, ["exercise", "verify", str(exdir), *WRONG], answer)
    assert "\x1b" not in err


def test_untampered_copy_still_verifies(exdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The checks refuse nothing answer_record writes: a wrong answer is wrong (exit 1)."""
    assert main(["exercise", "verify", str(exdir), *WRONG]) == EXIT_FAILED
    assert capsys.readouterr().out == "wrong\n"


# ------------------------------------------------------------------ exercise.json


def _meta_edited(**changes: Any) -> Callable[[Path], None]:
    return _rewritten(_meta, **changes)


_PART = {"label": "pfns", "form": "hex-list", "space": 2}
META_TAMPERED = {
    "deep": _text(b"[" * 100000),
    "deep in hints": _text(
        json.dumps(_meta()).replace('"hints": [', '"hints": ' + "[" * 50000).encode()
    ),
    "two lists": _meta_edited(parts=[_PART, _PART]),
    "list first": _meta_edited(parts=[_PART, {"label": "a", "form": "hex", "space": 2}]),
    "no parts": _meta_edited(parts=[]),
    "part not object": _meta_edited(parts=["hex"]),
    "unknown form": _meta_edited(parts=[{"label": "a", "form": "octal", "space": 2}]),
    "label number": _meta_edited(parts=[{"label": 5, "form": "hex", "space": 2}]),
    "space string": _meta_edited(parts=[{"label": "a", "form": "hex", "space": "2"}]),
    "space true": _meta_edited(parts=[{"label": "a", "form": "hex", "space": True}]),
    "student number": _meta_edited(student=5),
    "sparse 1 GiB": _sparse,
    "fifo": _fifo,
    "dev zero": _dev_zero,
}


@pytest.mark.parametrize("tamper", META_TAMPERED.values(), ids=META_TAMPERED.keys())
@pytest.mark.parametrize("action", [["verify", *WRONG], ["hint"], ["open", "-c", "help"]])
def test_tampered_exercise_file_is_refused_in_one_line(
    exdir: Path,
    tamper: Callable[[Path], None],
    action: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    where = exdir / "exercise.json"
    tamper(where)
    _refused(capsys, ["exercise", action[0], str(exdir), *action[1:]], where)


def test_graded_variant_without_student_names_the_file(
    exdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No answer.json and no student: neither a practice exercise nor a graded variant."""
    (exdir / "answer.json").unlink()
    _rewritten(_meta, drop="student")(exdir / "exercise.json")
    assert main(["exercise", "verify", str(exdir), *WRONG]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(exdir) in err
    assert "None" not in err


def test_practice_exercise_without_answer_file_names_it(
    exdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (exdir / "answer.json").unlink()
    assert _meta()["student"] is None
    err = _refused(capsys, ["exercise", "verify", str(exdir), *WRONG], exdir / "answer.json")
    assert "None" not in err


def test_graded_variant_says_whose_it_is(exdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (exdir / "answer.json").unlink()
    _meta_edited(student="ada")(exdir / "exercise.json")
    assert main(["exercise", "verify", str(exdir), *WRONG]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "ada's graded variant" in err and len(err.splitlines()) == 1


# ------------------------------------------------------------------ README.md and escaping


@pytest.mark.parametrize("tamper", [_fifo, _sparse, _dev_zero, _directory])
def test_tampered_readme_is_refused_in_one_line(
    exdir: Path, tamper: Callable[[Path], None], capsys: pytest.CaptureFixture[str]
) -> None:
    readme = exdir / "README.md"
    tamper(readme)
    _refused(capsys, ["exercise", "show", str(exdir)], readme)


def test_readme_is_shown_escaped_with_its_layout(
    exdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (exdir / "README.md").write_bytes(b"# Title\n\n\tcode\x1b]0;owned\x07 \xff\r\nend\n")
    assert main(["exercise", "show", str(exdir)]) == 0
    out = capsys.readouterr().out
    assert out == "# Title\n\n\tcode\\x1b]0;owned\\x07 \\xff\nend\n"


def test_shipped_readme_is_shown_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exercise", "show", str(SHIPPED)]) == 0
    assert capsys.readouterr().out == (SHIPPED / "README.md").read_text()


def test_hints_are_shown_escaped(exdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hints = [{"text": "look\x1b[2J here\nnow", "commands": ["vmlist\x1b]0;x\x07"]}]
    _meta_edited(hints=hints)(exdir / "exercise.json")
    assert main(["exercise", "hint", str(exdir)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert out == "1. look\\x1b[2J here\\x0anow\n     vmintro> vmlist\\x1b]0;x\\x07\n"


def test_question_is_shown_escaped(
    exdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``open`` prints the question before the banner when standard input is a terminal."""
    import sys

    import vmintro.cli.session

    _meta_edited(question="Which area?\x1b[2J\x9b31m")(exdir / "exercise.json")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(vmintro.cli.session, "cmd_session", lambda args: 0)
    assert main(["exercise", "open", str(exdir)]) == 0
    assert capsys.readouterr().out == "Which area?\\x1b[2J\\xc2\\x9b31m\n\n"


# ------------------------------------------------------------------ typed answers

PARTS = (Part("addr", "hex", 2), Part("count", "dec", 2))


@pytest.mark.parametrize(
    "typed",
    [
        "-1 2",
        "1 -2",
        "+1 2",
        "c0 ٣",  # ARABIC-INDIC DIGIT THREE
        "c0 ３",  # FULLWIDTH DIGIT THREE
        "１ 3",
        "0x 3",
    ],
)
def test_only_ascii_unsigned_numbers_are_answers(typed: str) -> None:
    with pytest.raises(AnswerError, match="is not a"):
        canonical(PARTS, typed)


def test_a_long_part_is_refused_shortly() -> None:
    long = "9" * 5000
    with pytest.raises(AnswerError) as e:
        canonical(PARTS, f"c0 {long}")
    message = str(e.value)
    assert len(message) < 120 and "digits" not in message and "int" not in message
    assert "9" * 40 in message and "9" * 41 not in message


def test_ordinary_answers_still_read() -> None:
    assert canonical(PARTS, "0xC0_00 1_0") == "0xc000;0xa"
    assert canonical(PARTS, "c0 0x10") == "0xc0;0x10"


def test_long_part_through_the_command(exdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exercise", "verify", str(exdir), "c0", "1" * 5000]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err) < 200 and "Traceback" not in err


def test_key_check_waits_on_no_fifo(
    exdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``open --key`` compares the variant's core with the one the key makes: a FIFO in
    its place is no such core, and is never waited on."""
    os.mkfifo(exdir / f"{NAME}.vmcore")
    key = tmp_path / "course.key"
    key.write_text("k" * 32)
    assert main(["exercise", "open", str(exdir), "--key", str(key), "-c", "help"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "does not make this variant" in err and len(err.splitlines()) == 1
