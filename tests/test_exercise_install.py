"""An exercise's README commands, run from another directory after a non-editable install
(no images/: the exercise is built into the cache on first use)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from wheel_build import isolation_words

ROOT = Path(__file__).resolve().parent.parent

SOLVE = """
import json, re, sys
from pathlib import Path
import vmintro
from vmintro.exercises.location import exercise_dir
from vmintro.helpers import find_vm_area, vm_area_pages
d = exercise_dir("why-oops")
q = json.loads((d / "exercise.json").read_text())["question"]
area = find_vm_area(vmintro.open(d / "why-oops"), int(re.search("`([0-9a-f]+)`", q).group(1), 16))
print(f"{area.value_():x}", *(f"{p:x}" for _, p in vm_area_pages(area) if p is not None))
"""


@pytest.mark.slow
def test_readme_commands_after_a_non_editable_install(tmp_path: Path) -> None:
    source = tmp_path / "src"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in files:
        if name.startswith("images/") or not (ROOT / name).is_file():
            continue
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--no-deps", *isolation_words(python)]
    subprocess.run([*pip, str(source)], check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "VMINTRO_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)

    def run(*words: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(words), cwd=elsewhere, env=env, input=stdin, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip

    vmintro = str(venv / "bin" / "vmintro")
    readme = run(vmintro, "exercise", "show", "why-oops")
    assert readme.returncode == 0, readme.stderr
    answer = run(str(venv / "bin" / "python"), "-c", SOLVE)
    assert answer.returncode == 0, answer.stderr
    assert (
        "site-packages"
        in run(str(venv / "bin" / "python"), "-c", "import vmintro; print(vmintro.__file__)").stdout
    )
    commands = re.findall(r"^    (vmintro .*)$", readme.stdout, re.M)
    assert len(commands) == 3, commands
    for line in commands:
        words = line.replace("PART...", answer.stdout.strip()).split()
        proc = run(vmintro, *words[1:], stdin="vmlist\n")
        assert proc.returncode == 0, f"{line}: {proc.stderr}"
    assert run(vmintro, "exercise", "verify", "why-oops", "1", "2").stdout == "wrong\n"
