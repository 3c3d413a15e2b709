"""Machines with an exercise's fault, generated as any image, for tests of what the
commands do on a corrupt kernel (``map`` on a looping ``vmlist``, ``check`` on a page
nobody holds).

An exercise's own image keeps the exercise's rules wherever it is opened (``check``,
``map`` and every command it does not allow are refused), so these tests cannot use
the shipped ones: each machine here runs the exercise's scenario, drawn from a fixed
seed, and is written without the exercise's mark. Generated once per test run, on
first use, into a temporary directory removed at exit.
"""

from __future__ import annotations

import atexit
import functools
import random
import shutil
import tempfile
from pathlib import Path

from vmintro.exercises.catalog import by_name
from vmintro.generate import generate
from vmintro.scenario.loader import parse_scenario

__all__ = ["exercise_machine"]


@functools.cache
def exercise_machine(name: str, seed: int = 1) -> Path:
    """The image (its path without a suffix) of exercise ``name``'s scenario drawn from
    ``seed``, its note naming no exercise."""
    ex = by_name(name)
    params = ex.params(random.Random(seed))
    scen = parse_scenario(ex.scenario(params), f"{name}.toml")
    scen.name = name
    out = Path(tempfile.mkdtemp(prefix=f"vmintro-{name}-"))
    atexit.register(shutil.rmtree, out, True)
    generate(out / name, scen, {**ex.machine(params), "seed": seed}, timeline=False)
    return out / name
