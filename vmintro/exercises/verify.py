"""Answers: read as vmintro prints numbers, compared without being shipped.

An answer has one or more parts, each in one *form*:

- ``hex``: an address, a pfn, a physical address — bare hex as every command prints
  them (``c009c240``, ``3e0``), or with ``0x``;
- ``dec``: a count or a size in bytes — decimal, or hex with ``0x``;
- ``word``: a name, compared case-insensitively;
- ``hex-list`` / ``dec-list``: several of those, in order, as pasted from a printed
  column (separated by spaces, newlines or commas). Only the last part may be a list.

Parts are given in order, separated by spaces (or commas, or newlines). A number is
ASCII digits (``_`` between them allowed) with no sign, and no part is longer than
:data:`PART_MAX` characters.

A practice exercise ships only a slow salted hash of the canonical answer:
scrypt (RFC 7914, from the standard library's :mod:`hashlib`) with the cost in
:data:`SCRYPT`, about 0.25 s and 64 MiB per guess on a 2-core machine, so a guessing
loop over an exercise's answer space (stated in the catalog) costs more than a day
of one core. ``answer.json`` is untrusted like the rest of an exercise's directory:
it is read only when it is what :func:`answer_record` writes, that cost included.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmintro.exercises.keys import SALT_BYTES
from vmintro.untrusted_json import load_json_file

__all__ = [
    "ANSWER_FILE",
    "ANSWER_MAX",
    "DAY",
    "FORMS",
    "HASH_BYTES",
    "PART_MAX",
    "SALT_BYTES",
    "SCRYPT",
    "SECONDS_PER_GUESS",
    "AnswerError",
    "AnswerFileError",
    "Part",
    "answer_parts",
    "answer_record",
    "canonical",
    "parse_answer",
    "read_answer_record",
    "verify_answer",
]

ANSWER_FILE = "answer.json"
# answer_record's JSON is about 250 bytes; a larger file is no answer file
ANSWER_MAX = 4096
_ANSWER_DEPTH = 2  # an object of values and the list of forms
HASH_BYTES = 32

# scrypt's cost: N (CPU and memory), r (block size), p (parallelism). 128 * r * N bytes
# of memory per guess: 64 MiB, which also keeps a GPU from running many at once.
SCRYPT = {"n": 1 << 16, "r": 8, "p": 1}
_MAXMEM = 256 << 20
# A lower bound of one guess's time on one core, the one the catalog's spaces are
# checked against: measured 0.25-0.30 s on the 2-core reference machine
# (python3 -m vmintro.exercises.cost), 0.1 s leaves room for a faster one.
SECONDS_PER_GUESS = 0.1
# what guessing through an answer's space must outlast, at that rate on one core
DAY = 24 * 3600

FORMS = {
    "hex": "bare hex as vmintro prints it (0x allowed)",
    "dec": "decimal (or 0x-hex)",
    "word": "a word",
    "hex-list": "hex numbers in order, separated by spaces, newlines or commas",
    "dec-list": "decimal numbers in order, separated by spaces, newlines or commas",
}


# characters of one part of an answer: more than any address, pfn, count or name
PART_MAX = 64
_ECHO = 40  # characters of a refused part said back


class AnswerError(ValueError):
    """An answer that cannot be read as the exercise's kind of answer."""


class AnswerFileError(ValueError):
    """An ``answer.json`` that cannot be used: one line naming it and what is wrong."""


@dataclass(frozen=True)
class Part:
    """One part of an answer: what it is (``label``), how it is written (``form``) and
    how many values it could a priori take (``space``: a guesser's search space)."""

    label: str
    form: str
    space: int

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"unknown answer form {self.form}")

    @property
    def is_list(self) -> bool:
        return self.form.endswith("-list")


def _echo(text: str) -> str:
    """``text`` as an error says it back: its first :data:`_ECHO` characters."""
    t = text.strip()
    return t if len(t) <= _ECHO else f"{t[:_ECHO]}..."


def _number(text: str, form: str) -> int:
    # ASCII only: int() also reads a sign, spaces and the digits of every script
    t = text.strip().lower().replace("_", "")
    hexform = form.startswith("hex")
    if t.isascii():
        if re.fullmatch(r"0x[0-9a-f]+", t):
            return int(t[2:], 16)
        if re.fullmatch(r"[0-9a-f]+" if hexform else r"[0-9]+", t):
            return int(t, 16 if hexform else 10)
    want = "a hex number" if hexform else "a decimal number"
    raise AnswerError(f"'{_echo(text)}' is not {want}")


def _value(text: str, form: str) -> str:
    if len(text.strip()) > PART_MAX:
        raise AnswerError(
            f"'{_echo(text)}' is longer than any part of an answer ({PART_MAX} characters at most)"
        )
    if form == "word":
        return text.strip().lower()
    return f"{_number(text, form):#x}"


def _check_parts(parts: Sequence[Part]) -> None:
    """:raises ValueError: for no parts, or a list part that is not the last."""
    if not parts:
        raise ValueError("an answer has at least one part")
    if any(p.is_list for p in parts[:-1]):
        raise ValueError("only the last part of an answer may be a list")


def answer_parts(records: Any) -> tuple[Part, ...]:
    """The parts of an answer from ``exercise.json``'s ``parts`` (a list of objects with
    ``label``, ``form`` and ``space``), checked as :func:`parse_answer` needs them.

    :raises ValueError: saying, in one line, what is wrong.
    """
    if not isinstance(records, list):
        raise ValueError("'parts' must be a list")
    parts = []
    for i, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise ValueError(f"part {i} must be an object")
        label, form, space = (record.get(k) for k in ("label", "form", "space"))
        if not isinstance(label, str) or not label or len(label) > PART_MAX:
            raise ValueError(f"part {i}'s label must be a word")
        if not isinstance(form, str) or form not in FORMS:
            raise ValueError(f"part {i}'s form must be one of {', '.join(FORMS)}")
        if type(space) is not int or space < 1:
            raise ValueError(f"part {i}'s space must be a whole number of values")
        parts.append(Part(label, form, space))
    _check_parts(parts)
    return tuple(parts)


def parse_answer(parts: Sequence[Part], answer: str | Sequence[Any]) -> list[str]:
    """The canonical text of each part of ``answer`` (typed text, or values from the truth).

    :raises AnswerError: for a part that is not in its form, or too few or many parts.
    """
    if isinstance(answer, str):
        words = [w for w in re.split(r"[\s,]+", answer.strip()) if w]
    else:  # values from the truth: one per part, a list for a list part
        words = []
        for part, value in zip(parts, answer, strict=True):
            items = value if part.is_list else [value]
            words += [f"{v:#x}" if isinstance(v, int) else str(v) for v in items]
    _check_parts(parts)
    scalars = [p for p in parts if not p.is_list]
    listed = len(parts) - len(scalars)
    if (listed and len(words) <= len(scalars)) or (not listed and len(words) != len(parts)):
        want = " ".join(p.label.upper().replace(" ", "_") for p in parts)
        raise AnswerError(f"expected {want} ({len(words)} words given)")
    out = [_value(w, p.form) for p, w in zip(scalars, words, strict=False)]
    if listed:
        form = parts[-1].form.removesuffix("-list")
        out.append(",".join(_value(w, form) for w in words[len(scalars) :]))
    return out


def canonical(parts: Sequence[Part], answer: str | Sequence[Any]) -> str:
    """One text for the whole answer: its parts' canonical texts, ``;`` between them."""
    return ";".join(parse_answer(parts, answer))


def _scrypt(name: str, text: str, salt: str, cost: dict[str, int]) -> str:
    return hashlib.scrypt(
        f"{name}\0{text}".encode(),
        salt=bytes.fromhex(salt),
        n=cost["n"],
        r=cost["r"],
        p=cost["p"],
        maxmem=_MAXMEM,
        dklen=HASH_BYTES,
    ).hex()


def _is_hex(text: object, size: int) -> bool:
    """Whether ``text`` is ``size`` bytes in lowercase hex, as answer.json holds a salt
    and a hash."""
    return isinstance(text, str) and re.fullmatch(f"[0-9a-f]{{{2 * size}}}", text) is not None


def answer_record(
    name: str, parts: Sequence[Part], answer: Sequence[Any], salt: str
) -> dict[str, Any]:
    """What ``answer.json`` holds: the forms, the cost, the salt (:data:`SALT_BYTES`
    bytes in hex) and the scrypt hash."""
    if not _is_hex(salt, SALT_BYTES):
        raise ValueError(f"a salt is {SALT_BYTES} bytes in lowercase hex")
    return {
        "forms": [p.form for p in parts],
        "kdf": "scrypt",
        **SCRYPT,
        "salt": salt,
        "hash": _scrypt(name, canonical(parts, answer), salt, SCRYPT),
    }


def _record_problem(record: Any, parts: Sequence[Part]) -> str | None:
    """What keeps ``record`` from being what :func:`answer_record` writes for ``parts``."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    unknown = sorted(set(record) - {"forms", "kdf", *SCRYPT, "salt", "hash"})
    if unknown:
        return f"unknown key '{_echo(unknown[0])}'"
    if record.get("kdf") != "scrypt":
        return "'kdf' must be \"scrypt\""
    for key, cost in SCRYPT.items():
        # exactly the shipped cost: another one is a slower guess, or a cheaper hash
        if type(record.get(key)) is not int or record[key] != cost:
            return f"'{key}' must be {cost}, the cost of every answer's hash"
    for key, size in (("salt", SALT_BYTES), ("hash", HASH_BYTES)):
        if not _is_hex(record.get(key), size):
            return f"'{key}' must be {2 * size} lowercase hex digits"
    if "forms" in record and record["forms"] != [p.form for p in parts]:
        return "its 'forms' are not those of the exercise's answer"
    return None


def read_answer_record(path: Path, parts: Sequence[Part]) -> dict[str, Any]:
    """The ``answer.json`` at ``path`` of an exercise whose answer has ``parts``: read
    only when it is what :func:`answer_record` writes (at most :data:`ANSWER_MAX`
    bytes; a FIFO, a directory or a device is refused before it is read).

    :raises AnswerFileError: naming ``path`` and what is wrong, in one line.
    """
    try:
        record = load_json_file(path, ANSWER_MAX, _ANSWER_DEPTH)
    except OSError as e:
        raise AnswerFileError(f"{path}: {e.strerror or e}") from None
    except ValueError as e:
        raise AnswerFileError(f"{path}: {e}") from None
    problem = _record_problem(record, parts)
    if problem is not None:
        raise AnswerFileError(f"{path}: not an answer file: {problem}")
    checked: dict[str, Any] = record
    return checked


def verify_answer(exercise_dir: Path, parts: Sequence[Part], answer: str) -> bool:
    """Whether ``answer`` is right for the practice exercise in ``exercise_dir``.

    :raises AnswerFileError: for an ``answer.json`` that is not one.
    :raises AnswerError: for an answer not in the exercise's forms.
    """
    record = read_answer_record(exercise_dir / ANSWER_FILE, parts)
    text = canonical(parts, answer)
    digest = _scrypt(exercise_dir.name, text, record["salt"], SCRYPT)
    return hmac.compare_digest(digest, record["hash"])
