"""Time from ``vmintro repl IMAGE`` to the first prompt, through a real pseudo-terminal.

    python benchmarks/bench_repl_startup.py [IMAGE] [--runs N]

IMAGE defaults to /tmp/big, generated first when missing (a 4 GiB HIGHMEM image,
as ``vmintro generate --ram 4G --highmem -o /tmp/big`` writes it). The target
is under 0.5 s; each run starts a fresh process, and the best and median
times are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pexpect


def ensure_image(image: str) -> None:
    if Path(f"{image}.vmcore").exists():
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


def command() -> tuple[str, list[str]]:
    """The installed ``vmintro`` script when there is one, else ``python -m vmintro.cli``."""
    script = shutil.which("vmintro")
    if script:
        return script, []
    return sys.executable, ["-m", "vmintro.cli"]


def time_to_prompt(image: str) -> float:
    program, args = command()
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", VMINTRO_HISTORY=os.devnull)
    start = time.perf_counter()
    child = pexpect.spawn(
        program, [*args, "repl", image], env=env, encoding="utf-8", dimensions=(40, 120), timeout=30
    )
    child.expect_exact("vmintro>")
    elapsed = time.perf_counter() - start
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default="/tmp/big")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    ensure_image(args.image)
    time_to_prompt(args.image)  # warm the page cache, as a second start would find it
    times = [time_to_prompt(args.image) for _ in range(args.runs)]
    program, extra = command()
    print(
        f"{' '.join([program, *extra])} repl {args.image}: first prompt after "
        f"best {min(times):.3f} s, median {statistics.median(times):.3f} s "
        f"({args.runs} runs; target < 0.5 s)"
    )


if __name__ == "__main__":
    main()
