"""Time from starting ``vmintro IMAGE`` to its first prompt being drawn, through a real
pseudo-terminal, as a user sees it.

    python benchmarks/bench_repl_startup.py [IMAGE...] [--runs N] [--repl] [--vmintro SCRIPT]

IMAGE defaults to /tmp/big (a 4 GiB HIGHMEM image, as ``vmintro generate --ram 4G
--highmem -o /tmp/big`` writes it, generated first when missing) and the bundled
images/demo. Each run starts a fresh process of the ``vmintro`` script installed beside
the Python that runs this file (``.venv/bin/python3 benchmarks/...`` times the venv's;
``--vmintro SCRIPT`` another) and stops the clock when the prompt ``vmintro>`` reaches
the terminal (prompt-toolkit writes it once the screen is drawn); one run first warms
the page cache and writes the modules' bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped
for the runs), as a second start finds them. The median and best of ``--runs`` runs are
printed per image, with the machine's load average before and after (others may share
the machine). ``--repl`` types ``vmintro repl IMAGE`` instead, which starts the same
session. The target is under 0.3 s on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect
from stale import current, record

TARGET_S = 0.3
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = ("/tmp/big", str(ROOT / "images" / "demo"))


def ensure_image(image: str) -> None:
    """``image`` made by this code unless it is the checkout's own (the bundled demo)."""
    if ROOT in Path(image).resolve().parents and Path(f"{image}.vmcore").exists():
        return
    if current(image):
        return
    print(f"generating {image} (4 GiB, HIGHMEM) ...", flush=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "vmintro.cli",
            "generate",
            "--ram",
            "4G",
            "--highmem",
            "-q",
            "-o",
            image,
        ],
        check=True,
    )
    record(image)


def command(script: str | None = None) -> tuple[str, list[str]]:
    """The ``vmintro`` script installed with the Python that runs this benchmark (a
    venv's, as the README installs it), else ``python -m vmintro.cli``.

    Not the first ``vmintro`` on ``PATH``: that may be a wrapper whose own start is
    not vmintro's (pyenv's shims are bash scripts that take about 0.1 s to find the
    interpreter). ``python3 -m venv .venv`` puts the script beside the interpreter.
    ``script`` names another (``--vmintro``).
    """
    if script is not None:
        return script, []
    beside = Path(sys.executable).parent / "vmintro"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside), []
    return sys.executable, ["-m", "vmintro.cli"]


# The floor any prompt-toolkit REPL starts from: Python, prompt-toolkit's import, a
# PromptSession and its first drawing, with nothing of vmintro's.
BARE_PROMPT = "from prompt_toolkit import PromptSession; PromptSession().prompt('vmintro> ')"


def interpreter_of(program: str) -> str:
    """The Python that runs ``program`` (its ``#!`` line), else this one."""
    try:
        with open(program, "rb") as f:
            first = f.readline(4096)
    except OSError:
        return sys.executable
    words = first[2:].decode(errors="replace").split() if first.startswith(b"#!") else []
    if words and Path(words[0]).name == "env" and len(words) > 1:  # #!/usr/bin/env python3
        return shutil.which(words[1]) or sys.executable
    if words and "python" in Path(words[0]).name:
        return words[0]
    return sys.executable


def _time_spawn(program: str, words: list[str]) -> float:
    """Wall seconds from starting ``program WORDS`` to ``vmintro>`` on its terminal."""
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", VMINTRO_HISTORY=os.devnull)
    # A second start finds the bytecode the first wrote: without this, a module edited
    # since its .pyc was written is compiled again by every start, and timed.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    child = pexpect.spawn(
        program, words, env=env, encoding="utf-8", dimensions=(40, 120), timeout=30
    )
    child.expect_exact("vmintro>")
    elapsed = time.perf_counter() - start
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    return elapsed


def time_to_prompt(image: str, repl: bool = True, script: str | None = None) -> float:
    """Wall seconds from starting ``vmintro [repl] IMAGE`` to its first prompt drawn."""
    program, args = command(script)
    return _time_spawn(program, [*args, *(["repl"] if repl else []), image])


def time_bare_prompt(script: str | None = None) -> float:
    """Wall seconds to a bare prompt-toolkit prompt, in the Python that runs vmintro."""
    program, _args = command(script)
    return _time_spawn(interpreter_of(program), ["-c", BARE_PROMPT])


@dataclass(frozen=True)
class Starts:
    """Median and best seconds to the first prompt: vmintro's and a bare prompt's."""

    median: float
    best: float
    bare_median: float
    bare_best: float


def time_starts(image: str, runs: int, repl: bool = True, script: str | None = None) -> Starts:
    """``runs`` starts of vmintro and of a bare prompt-toolkit prompt, in turns (so that
    load which comes and goes weighs on both), after one of each that warms the page
    cache and writes the bytecode."""
    time_to_prompt(image, repl, script)
    time_bare_prompt(script)
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(runs):
        ours.append(time_to_prompt(image, repl, script))
        bare.append(time_bare_prompt(script))
    return Starts(statistics.median(ours), min(ours), statistics.median(bare), min(bare))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", metavar="IMAGE", default=list(DEFAULT_IMAGES))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repl", action="store_true", help="type vmintro repl IMAGE")
    parser.add_argument(
        "--vmintro", metavar="SCRIPT", help="the vmintro to time (default: beside this Python)"
    )
    args = parser.parse_args()
    for image in args.images:
        ensure_image(image)
    program, extra = command(args.vmintro)
    typed = " ".join([program, *extra, *(["repl"] if args.repl else [])])
    load_before = os.getloadavg()[0]
    for image in args.images:
        starts = time_starts(image, args.runs, args.repl, args.vmintro)
        print(
            f"{typed} {image}: first prompt drawn after median {starts.median:.3f} s, "
            f"best {starts.best:.3f} s ({args.runs} runs; target < {TARGET_S:g} s idle); "
            f"a bare prompt-toolkit prompt in turns with it: median {starts.bare_median:.3f} s, "
            f"best {starts.bare_best:.3f} s",
            flush=True,
        )
    print(f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
