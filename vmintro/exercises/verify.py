"""Answers compared without being shipped: a salted SHA-256 of the normalised answer."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

__all__ = ["AnswerError", "answer_record", "normalise", "verify_answer"]

ANSWER_FILE = "answer.json"


class AnswerError(ValueError):
    """An answer that cannot be read as the exercise's kind of answer."""


def _int(text: str) -> int:
    t = text.strip().lower().replace("_", "")
    try:
        return int(t, 16) if t.startswith("0x") else int(t, 10)
    except ValueError:
        raise AnswerError(f"'{text.strip()}' is not a number") from None


def normalise(kind: str, answer: Any) -> str:
    """The canonical text of an answer: numbers in hex, words lower-case, lists comma-joined."""
    if kind in ("int", "addr"):
        value = answer if isinstance(answer, int) else _int(str(answer))
        return f"{value:#x}"
    if kind == "int-list":
        items = answer if isinstance(answer, list) else re.split(r"[\s,]+", str(answer).strip())
        return ",".join(normalise("int", i) for i in items if str(i) != "")
    if kind == "word":
        return str(answer).strip().lower()
    raise ValueError(f"unknown answer kind {kind}")


def _digest(salt: str, canonical: str) -> str:
    return hashlib.sha256(f"{salt}:{canonical}".encode()).hexdigest()


def answer_record(kind: str, answer: Any, salt: str) -> dict[str, str]:
    return {"kind": kind, "salt": salt, "sha256": _digest(salt, normalise(kind, answer))}


def verify_answer(exercise_dir: Path, answer: str) -> bool:
    """Whether ``answer`` is right for the exercise in ``exercise_dir``."""
    record = json.loads((exercise_dir / ANSWER_FILE).read_text())
    canonical = normalise(record["kind"], answer)
    return hmac.compare_digest(_digest(record["salt"], canonical), record["sha256"])
