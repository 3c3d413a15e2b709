"""Building the exercise directories: image, README and salted answer.

    python -m vmintro.exercises.build [DIR]
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from vmintro.exercises.catalog import EXERCISES, Exercise
from vmintro.exercises.verify import ANSWER_FILE, answer_record
from vmintro.generate import generate
from vmintro.image.elf32 import atomic_output
from vmintro.scenario.loader import parse_scenario

__all__ = ["build_all", "build_exercise"]

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
        base = Path(tmp) / ex.name
        generate(base, scen, {**DEFAULT_MACHINE, **ex.machine})
        truth = json.loads(Path(f"{base}.truth.json").read_text())
        for ext in (".vmcore", ".vmlinux"):
            with atomic_output(out / f"{ex.name}{ext}") as f, open(f"{base}{ext}", "rb") as src:
                shutil.copyfileobj(src, f)
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


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("images/exercises")
    for path in build_all(target):
        print(path)
