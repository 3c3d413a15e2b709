"""Building an exercise directory: image, README, ``exercise.json`` and (practice only)
the slow hash of the answer.

python -m vmintro.exercises.build [DIR]    (default: the checkout's images/exercises)

A variant is an exercise drawn from a 64-bit seed: the practice variant's seed
derives from the exercise's name alone (so it is the same everywhere), a student's
from the teacher's key (:mod:`vmintro.exercises.variants`).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from vmintro.errors import EXIT_OK, EXIT_USAGE
from vmintro.exercises.catalog import EXERCISES, LEVELS, Exercise, Hint
from vmintro.exercises.location import CHECKOUT_DIR, EXERCISE_FILE
from vmintro.exercises.verify import ANSWER_FILE, FORMS, answer_record
from vmintro.files import atomic_output
from vmintro.generate import generate
from vmintro.image.writer.install import ImageWriteError, install_image
from vmintro.scenario.loader import parse_scenario

__all__ = [
    "EXERCISE_FILE",
    "Variant",
    "build_all",
    "build_exercise",
    "main",
    "practice_seed",
    "realise",
    "variant_seed",
]

_PRACTICE_KEY = b"vmintro practice variant"


def variant_seed(key: bytes, student: str, exercise: str) -> int:
    """The seed of ``student``'s variant of ``exercise``: HMAC-SHA256 of both under ``key``."""
    mac = hmac.new(key, f"{student}\0{exercise}".encode(), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big")


def practice_seed(exercise: str) -> int:
    """The practice variant's seed: the same for everyone (its answer is only hashed)."""
    return variant_seed(_PRACTICE_KEY, "", exercise)


@dataclass
class Variant:
    """One variant, generated: its question, its answer and its hints."""

    exercise: Exercise
    seed: int
    question: str
    answer: list[Any]
    hints: list[Hint]


def _copy_of(source: Path) -> Callable[[BinaryIO], None]:
    def copy(f: BinaryIO) -> None:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, f)

    return copy


def _run(ex: Exercise, text: str, machine: dict[str, Any], out: Path) -> dict[str, Path]:
    scen = parse_scenario(text, f"{ex.name}.toml")
    scen.name = ex.name
    return generate(out, scen, machine, timeline=ex.timeline)


def realise(ex: Exercise, seed: int, image: Path | None) -> Variant:
    """Generate ``ex``'s variant ``seed``: its image at ``image`` (NAME.vmcore and
    .vmlinux, without the truth, which holds the answer, and without a timeline unless
    the exercise is about it), or none."""
    params = ex.params(random.Random(seed))
    machine = {**ex.machine(params), "seed": seed}
    text = ex.scenario(params)
    with tempfile.TemporaryDirectory() as tmp:
        made = _run(ex, text, machine, Path(tmp) / ex.name)
        truth = json.loads(made["truth"].read_text())
        probe = None
        if ex.probe is not None:
            probed = _run(ex, text + ex.probe(params), machine, Path(tmp) / "probe")
            probe = json.loads(probed["truth"].read_text())
        if image is not None:
            files = {kind: _copy_of(made[kind]) for kind in ("vmlinux", "vmcore")}
            timeline = made.get("timeline")
            # the same core, so the timeline's record of its SHA-256 holds as written
            keep = None if timeline is None else (lambda _digest: timeline.read_bytes())
            install_image(image, files, keep)
    return Variant(
        ex,
        seed,
        ex.question(params, truth),
        ex.answer(params, truth, probe),
        ex.hints(params, truth),
    )


def _answer_lines(ex: Exercise) -> str:
    return "\n".join(f"{i}. {p.label}: {FORMS[p.form]}" for i, p in enumerate(ex.parts, 1))


def readme(variant: Variant, graded: str | None = None) -> str:
    """The README of a variant's directory; ``graded`` names the student of a graded one."""
    ex = variant.exercise
    allowed = ", ".join(f"`{c}`" for c in ex.commands)
    plugins = f"; plugins: {', '.join(f'`{p}`' for p in ex.plugins)}" if ex.plugins else ""
    where = ex.name if graded is None else "DIR"
    if graded is None:
        check = (
            f"Check your answer (parts in this order, separated by spaces):\n\n"
            f"    vmintro exercise verify {ex.name} PART...\n"
        )
    else:
        check = (
            f"This is {graded}'s own variant: hand in your answer (parts in this order, "
            "separated by spaces) as your teacher asks; it is graded, not checked here.\n"
        )
    return f"""# Exercise: {ex.title}

Level {ex.level} ({LEVELS[ex.level]}) — {ex.topic}

{variant.question}

Answer with:

{_answer_lines(ex)}

Open the image (from any directory):

    vmintro exercise open {where}

Commands available in this exercise: {allowed}{plugins} (and `help`). Python lines
are not. Hints, one more each time:

    vmintro exercise hint {where} 1

{check}"""


def _metadata(variant: Variant, student: str | None) -> dict[str, Any]:
    ex = variant.exercise
    return {
        "name": ex.name,
        "title": ex.title,
        "level": ex.level,
        "topic": ex.topic,
        "question": variant.question,
        "parts": [asdict(p) for p in ex.parts],
        "commands": list(ex.commands),
        "plugins": list(ex.plugins),
        "hints": [{"text": h.text, "commands": list(h.commands)} for h in variant.hints],
        "student": student,
    }


def _write(path: Path, text: str) -> None:
    with atomic_output(path) as f:
        f.write(text.encode())


def build_exercise(
    ex: Exercise, root: Path, seed: int | None = None, student: str | None = None
) -> Variant:
    """Write ``root/NAME/``: the practice variant (the slow hash of its answer beside it;
    an existing salt is kept, so a rebuild gives the same files), or with ``student``
    that student's graded variant ``seed`` (no answer of any kind)."""
    out = root / ex.name
    out.mkdir(parents=True, exist_ok=True)
    variant = realise(ex, practice_seed(ex.name) if seed is None else seed, out / ex.name)
    _write(out / "README.md", readme(variant, student))
    _write(out / EXERCISE_FILE, json.dumps(_metadata(variant, student), indent=1) + "\n")
    if student is None:
        record_path = out / ANSWER_FILE
        salt = None
        if record_path.exists():
            salt = json.loads(record_path.read_text()).get("salt")
        salt = salt or secrets.token_hex(16)
        record = answer_record(ex.name, ex.parts, variant.answer, salt)
        _write(record_path, json.dumps(record, indent=1) + "\n")
    return variant


def build_all(root: Path, every: bool = False) -> list[Path]:
    """Build the practice exercises into ``root``: the shipped ones, or with ``every`` all."""
    done = []
    for ex in EXERCISES:
        if ex.shipped or every:
            build_exercise(ex, root)
            done.append(root / ex.name)
    return done


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"vmintro: {message}\n")  # one line, exit 2, as the vmintro command


def main(argv: Sequence[str] | None = None) -> int:
    """Build the practice exercises into DIR and print each directory; 2 when DIR cannot
    be written."""
    parser = _Parser(
        prog="python -m vmintro.exercises.build",
        description="build the practice exercise directories (image, README, exercise.json, "
        "salted answer); an existing answer's salt is kept, so a rebuild gives the same files",
    )
    parser.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=CHECKOUT_DIR,
        metavar="DIR",
        help=f"where to build them (default: {CHECKOUT_DIR})",
    )
    parser.add_argument(
        "--all", action="store_true", help="also those built on first use (large machines)"
    )
    args = parser.parse_args(argv)
    try:
        for path in build_all(args.dir, args.all):
            print(path)
    except OSError as e:
        sys.stderr.write(f"vmintro: {e.filename or args.dir}: {e.strerror}\n")
        return EXIT_USAGE
    except ImageWriteError as e:
        sys.stderr.write(f"vmintro: {e}\n")
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
