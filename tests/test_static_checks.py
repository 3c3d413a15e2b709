"""The static checks CI holds the code to: mypy (configured in pyproject.toml) and ruff.

Each runs as a user would run it from the checkout, and a failure shows its output.
mypy and ruff are test dependencies, so neither is ever skipped. mypy keeps its cache
in the checkout's ``.mypy_cache`` (git ignores it): about 8 s on 2 cores without it,
under 1 s with it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# everything ruff looks at: the package, the shipped plugins, the tests, the benchmarks
RUFF_PATHS = ["vmintro", "plugins", "tests", "benchmarks"]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_mypy_is_clean() -> None:
    proc = _run("mypy")  # the files and options are pyproject.toml's [tool.mypy]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Success"), proc.stdout


def test_ruff_check_is_clean() -> None:
    proc = _run("ruff", "check", *RUFF_PATHS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_is_clean() -> None:
    proc = _run("ruff", "format", "--check", *RUFF_PATHS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_sees_a_misspelled_name_of_the_lazy_packages(tmp_path: Path) -> None:
    """``vmintro``, ``vmintro.commands`` and ``vmintro.helpers`` import a name's module
    when the name is first wanted; the type checker still knows their names."""
    script = tmp_path / "typos.py"
    script.write_text(
        "import vmintro.commands\n"
        "from vmintro import Programm\n"
        "from vmintro.commands import commandd\n"
        "from vmintro.helpers import for_each_zonee, for_each_zone\n"
        "vmintro.commands.Tablee\n"
        "zones: int = for_each_zone\n"
    )
    proc = _run("mypy", "--follow-imports=silent", str(script))
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["2", "3", "4", "5", "6"], proc.stdout
