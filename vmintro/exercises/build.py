"""Building the exercise directories: image, README and salted answer.

python -m vmintro.exercises.build [DIR]    (default: the checkout's images/exercises)
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from vmintro.errors import EXIT_OK, EXIT_USAGE
from vmintro.exercises.catalog import EXERCISES, Exercise
from vmintro.exercises.location import CHECKOUT_DIR
from vmintro.exercises.verify import ANSWER_FILE, answer_record
from vmintro.files import atomic_output
from vmintro.generate import generate
from vmintro.image.writer.install import ImageWriteError, install_image
from vmintro.scenario.loader import parse_scenario

__all__ = ["build_all", "build_exercise", "main"]

DEFAULT_MACHINE = {"ram": 16 << 20, "seed": 2}


def _readme(ex: Exercise, question: str, directory: str) -> str:
    hints = "\n".join(f"- `{h}`" for h in ex.hints)
    return f"""# Exercise: {ex.title}

{question}

Open the image and look around:

    vmintro repl {directory}/{ex.name}

Commands that help:

{hints}

Or script it with the library (`vmintro run SCRIPT.py {directory}/{ex.name}`).

Check your answer (numbers in decimal or 0x-hex; lists comma-separated):

    vmintro exercise verify {ex.name} ANSWER
"""


def _copy_of(source: Path) -> Callable[[BinaryIO], None]:
    def copy(f: BinaryIO) -> None:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, f)

    return copy


def build_exercise(ex: Exercise, root: Path) -> Path:
    """Generate ``root/NAME/`` for one exercise; an existing salt is kept."""
    out = root / ex.name
    out.mkdir(parents=True, exist_ok=True)
    record_path = out / ANSWER_FILE
    salt = None
    if record_path.exists():
        salt = json.loads(record_path.read_text()).get("salt")
    salt = salt or secrets.token_hex(16)
    scen = parse_scenario(ex.scenario, f"{ex.name}.toml")
    scen.name = ex.name
    with tempfile.TemporaryDirectory() as tmp:
        made = generate(Path(tmp) / ex.name, scen, {**DEFAULT_MACHINE, **ex.machine})
        truth = json.loads(made["truth"].read_text())
        # The image without its truth (it holds the answer), replaced as one set.
        install_image(out / ex.name, {kind: _copy_of(made[kind]) for kind in ("vmlinux", "vmcore")})
    question = ex.question(truth)
    rel = f"images/exercises/{ex.name}"
    with atomic_output(out / "README.md") as f:
        f.write(_readme(ex, question, rel).encode())
    record = answer_record(ex.kind, ex.answer(truth), salt)
    with atomic_output(record_path) as f:
        f.write((json.dumps(record, indent=1) + "\n").encode())
    return out


def build_all(root: Path) -> list[Path]:
    return [build_exercise(ex, root) for ex in EXERCISES]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"vmintro: {message}\n")  # one line, exit 2, as the vmintro command


def main(argv: Sequence[str] | None = None) -> int:
    """Build every exercise into DIR and print each directory; 2 when DIR cannot be written."""
    parser = _Parser(
        prog="python -m vmintro.exercises.build",
        description="build the exercise directories (image, README, salted answer); "
        "an existing answer's salt is kept, so a rebuild gives the same files",
    )
    parser.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=CHECKOUT_DIR,
        metavar="DIR",
        help=f"where to build them (default: {CHECKOUT_DIR})",
    )
    args = parser.parse_args(argv)
    try:
        for path in build_all(args.dir):
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
