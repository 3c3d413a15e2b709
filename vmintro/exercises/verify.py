"""Answers: read as vmintro prints numbers, compared without being shipped.

An answer has one or more parts, each in one *form*:

- ``hex``: an address, a pfn, a physical address — bare hex as every command prints
  them (``c009c240``, ``3e0``), or with ``0x``;
- ``dec``: a count or a size in bytes — decimal, or hex with ``0x``;
- ``word``: a name, compared case-insensitively;
- ``hex-list`` / ``dec-list``: several of those, in order, as pasted from a printed
  column (separated by spaces, newlines or commas). Only the last part may be a list.

Parts are given in order, separated by spaces (or commas, or newlines).

A practice exercise ships only a slow salted hash of the canonical answer:
scrypt (RFC 7914, from the standard library's :mod:`hashlib`) with the cost in
:data:`SCRYPT`, about 0.25 s and 64 MiB per guess on a 2-core machine, so a guessing
loop over an exercise's answer space (stated in the catalog) costs more than a day
of one core.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ANSWER_FILE",
    "DAY",
    "FORMS",
    "SCRYPT",
    "SECONDS_PER_GUESS",
    "AnswerError",
    "Part",
    "answer_record",
    "canonical",
    "parse_answer",
    "verify_answer",
]

ANSWER_FILE = "answer.json"

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


class AnswerError(ValueError):
    """An answer that cannot be read as the exercise's kind of answer."""


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


def _number(text: str, form: str) -> int:
    t = text.strip().lower().replace("_", "")
    try:
        if t.startswith("0x"):
            return int(t[2:], 16)
        return int(t, 16 if form.startswith("hex") else 10)
    except ValueError:
        want = "a hex number" if form.startswith("hex") else "a decimal number"
        raise AnswerError(f"'{text.strip()}' is not {want}") from None


def _value(text: str, form: str) -> str:
    if form == "word":
        return text.strip().lower()
    return f"{_number(text, form):#x}"


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
    scalars = [p for p in parts if not p.is_list]
    listed = len(parts) - len(scalars)
    if listed > 1 or (listed and not parts[-1].is_list):
        raise ValueError("only the last part of an answer may be a list")
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
        dklen=32,
    ).hex()


def answer_record(
    name: str, parts: Sequence[Part], answer: Sequence[Any], salt: str
) -> dict[str, Any]:
    """What ``answer.json`` holds: the forms, the cost, the salt and the scrypt hash."""
    return {
        "forms": [p.form for p in parts],
        "kdf": "scrypt",
        **SCRYPT,
        "salt": salt,
        "hash": _scrypt(name, canonical(parts, answer), salt, SCRYPT),
    }


def verify_answer(exercise_dir: Path, parts: Sequence[Part], answer: str) -> bool:
    """Whether ``answer`` is right for the practice exercise in ``exercise_dir``.

    :raises AnswerError: for an answer not in the exercise's forms.
    """
    record = json.loads((exercise_dir / ANSWER_FILE).read_text())
    text = canonical(parts, answer)
    cost = {k: int(record[k]) for k in ("n", "r", "p")}
    digest = _scrypt(exercise_dir.name, text, record["salt"], cost)
    return hmac.compare_digest(digest, record["hash"])
