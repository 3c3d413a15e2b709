"""Building an exercise directory: image, README, ``exercise.json`` and (practice only)
the slow hash of the answer.

python -m vmintro.exercises.build [--key FILE] [--all] [DIR]
    (default DIR: the checkout's images/exercises)

A variant is an exercise drawn from a 64-bit seed, HMAC(key, student, exercise)
(:mod:`vmintro.exercises.keys`): the practice variant's under a practice key, a
student's under the teacher's. The shipped practice images come from a key kept
outside the repository: with it (``--key``) they rebuild byte for byte; without it
the build refuses to overwrite them, and builds new variants from a fresh random
key (not kept) into any other directory. ``SHA256SUMS`` beside the exercises
records each file's SHA-256 (a test checks the shipped ones against it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from vmintro.errors import EXIT_OK, EXIT_USAGE
from vmintro.escape import escape_text
from vmintro.exercises.catalog import EXERCISES, LEVELS, Exercise, Hint, NotThisDraw
from vmintro.exercises.keys import KeyFileError, fresh_key, read_key, salt_of, variant_seed
from vmintro.exercises.leaks import printed_by
from vmintro.exercises.location import CHECKOUT_DIR, EXERCISE_FILE
from vmintro.exercises.verify import (
    ANSWER_FILE,
    FORMS,
    AnswerFileError,
    answer_record,
    read_answer_record,
)
from vmintro.files import atomic_output, open_regular
from vmintro.generate import generate
from vmintro.image.writer.install import ImageWriteError, install_image
from vmintro.scenario.loader import SCENARIO_SUFFIX, parse_scenario

__all__ = [
    "DRAWS",
    "EXERCISE_FILE",
    "MANIFEST",
    "Variant",
    "build_all",
    "build_exercise",
    "main",
    "manifest",
    "realise",
]

MANIFEST = "SHA256SUMS"
# a variant whose answer a guesser could run through in a day, or that an allowed
# command prints, is drawn again from the same generator; this many draws and none
# kept is a bug of the exercise
DRAWS = 16


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
    scen = parse_scenario(text, f"{ex.name}{SCENARIO_SUFFIX}")
    scen.name = ex.name
    return generate(out, scen, machine, timeline=ex.timeline, exercise=ex.name)


def _reboot(seed: int, n: int) -> int:
    """The machine seed of a variant's ``n``-th boot after its first (``seed``'s)."""
    digest = hashlib.sha256(f"{seed}\0boot {n}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def realise(ex: Exercise, seed: int, image: Path | None) -> Variant:
    """Generate ``ex``'s variant ``seed``: its image at ``image`` (NAME.vmcore and
    .vmlinux, without the truth, which holds the answer, and without a timeline unless
    the exercise is about it), or none.

    The parameters are drawn from a generator seeded with ``seed``; a draw is
    rejected and the next of the same generator taken, so the same seed always gives
    the same variant, when its machine does not pose the question
    (:class:`~vmintro.exercises.catalog.NotThisDraw`: the next draw also boots the
    machine another way), when a guesser could run through its answer in a day
    (:meth:`Exercise.fair`: frames side by side, one frame where the question expects
    several), or when its image prints a hidden part of the answer to a command the
    exercise allows (:func:`~vmintro.exercises.leaks.printed_by`: a decimal count that
    reads as the hidden pfn, say; the next draw also boots the machine another way).
    """
    rng = random.Random(seed)
    boot = seed  # the machine's own seed: how its boot spread the page cache
    with tempfile.TemporaryDirectory() as tmp:
        for draw in range(DRAWS):
            params = ex.params(rng)
            machine = {**ex.machine(params), "seed": boot}
            text = ex.scenario(params)
            out = Path(tmp) / str(draw)
            out.mkdir()
            made = _run(ex, text, machine, out / ex.name)
            truth = json.loads(made["truth"].read_text())
            probe = None
            if ex.probe is not None:
                probed = _run(ex, text + ex.probe(params), machine, out / "probe")
                probe = json.loads(probed["truth"].read_text())
            try:
                answer = ex.answer(params, truth, probe)
            except NotThisDraw:
                # the boot decides most of what is free (a free block of order 9 stays
                # whatever the scenario does): the next draw boots the machine anew
                boot = _reboot(seed, draw + 1)
                continue
            if not ex.fair(answer):
                continue
            hints = ex.hints(params, truth)
            if printed_by(ex, answer, made["vmcore"], hints) is None:
                break
            # what is printed may come from the boot (a frame it left free), which the
            # next draw's parameters would not change: boot the machine anew too
            boot = _reboot(seed, draw + 1)
        else:
            raise ValueError(
                f"{ex.name}: no draw of {DRAWS} leaves a day of guessing with nothing "
                "its commands print"
            )
        if image is not None:
            files = {kind: _copy_of(made[kind]) for kind in ("vmlinux", "vmcore")}
            timeline = made.get("timeline")
            # the same core, so the timeline's record of its SHA-256 holds as written
            keep = None if timeline is None else (lambda _digest: timeline.read_bytes())
            install_image(image, files, keep)
    return Variant(ex, seed, ex.question(params, truth), answer, hints)


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


def build_exercise(ex: Exercise, root: Path, key: bytes, student: str | None = None) -> Variant:
    """Write ``root/NAME/``: the practice variant of ``key`` and the slow hash of its
    answer (salted from the key, so the same key gives the same files), or with
    ``student`` that student's graded variant (no answer of any kind)."""
    out = root / ex.name
    out.mkdir(parents=True, exist_ok=True)
    variant = realise(ex, variant_seed(key, student or "", ex.name), out / ex.name)
    _write(out / "README.md", readme(variant, student))
    _write(out / EXERCISE_FILE, json.dumps(_metadata(variant, student), indent=1) + "\n")
    if student is None:
        record = answer_record(ex.name, ex.parts, variant.answer, salt_of(key, ex.name))
        _write(out / ANSWER_FILE, json.dumps(record, indent=1) + "\n")
    return variant


def manifest(root: Path) -> str:
    """``sha256sum``'s lines for every file of the catalog's exercise directories under
    ``root`` (what a build writes there; other files are not the build's to vouch for),
    each read in pieces."""
    lines = []
    names = {ex.name for ex in EXERCISES}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        if name.split("/", 1)[0] in names and "/" in name:
            digest = hashlib.sha256()
            with open_regular(path) as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            lines.append(f"{digest.hexdigest()}  {name}\n")
    return "".join(lines)


def _built_with_another_key(root: Path, key: bytes) -> str | None:
    """The first exercise under ``root`` whose ``answer.json`` was salted from another
    key than ``key`` (the salt comes from the key): a build over it would replace a set
    of exercises with another one's."""
    for ex in EXERCISES:
        record = root / ex.name / ANSWER_FILE
        if not record.is_file():
            continue
        try:
            written = read_answer_record(record, ex.parts)
        except AnswerFileError:
            return ex.name  # not an answer a build wrote: not to be replaced either
        if written["salt"] != salt_of(key, ex.name):
            return ex.name
    return None


def build_all(root: Path, key: bytes, every: bool = False) -> list[Path]:
    """Build the practice exercises of ``key`` into ``root`` (the shipped ones, or with
    ``every`` all) and write ``root``'s manifest."""
    done = []
    for ex in EXERCISES:
        if ex.shipped or every:
            build_exercise(ex, root, key)
            done.append(root / ex.name)
    _write(root / MANIFEST, manifest(root))
    return done


def _error(message: str) -> None:
    """One line on standard error, escaped (it names files and arguments as typed)."""
    sys.stderr.write(f"vmintro: {escape_text(message)}\n")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        _error(message)  # one line, exit 2, as the vmintro command
        self.exit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the practice exercises into DIR and print each directory; 2 when DIR
    cannot be written, or holds exercises of a key not given."""
    parser = _Parser(
        prog="python -m vmintro.exercises.build",
        description="build the practice exercise directories (image, README, exercise.json, "
        "the slow hash of the answer) and their SHA256SUMS; the same key rebuilds the same "
        "files, without one new variants come from a fresh random key that is not kept",
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
        "--key", type=Path, metavar="FILE", help="the practice key (the shipped images' is not "
        "in the repository)",
    )  # fmt: skip
    parser.add_argument(
        "--all", action="store_true", help="also those built on first use (large machines)"
    )
    args = parser.parse_args(argv)
    try:
        if args.key is not None:
            key = read_key(args.key)
            other = _built_with_another_key(args.dir, key)
            if other is not None:
                _error(
                    f"{args.dir}: its exercises come from another key ({other}/{ANSWER_FILE} "
                    "is not salted from this one); give the key they were built with, or "
                    "build into another directory"
                )
                return EXIT_USAGE
        elif (args.dir / MANIFEST).exists() or args.dir.resolve() == CHECKOUT_DIR.resolve():
            _error(
                f"{args.dir}: its exercises come from a practice key that is not in "
                "the repository; rebuild them with --key FILE, or build new variants into "
                "another directory"
            )
            return EXIT_USAGE
        else:
            key = fresh_key()  # new variants nobody can rebuild: the key is not kept
        for path in build_all(args.dir, key, args.all):
            print(path)
    except KeyFileError as e:
        _error(str(e))
        return EXIT_USAGE
    except OSError as e:
        _error(f"{e.filename or args.dir}: {e.strerror}")
        return EXIT_USAGE
    except ImageWriteError as e:
        _error(str(e))
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
