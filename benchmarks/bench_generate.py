"""Generation time where users wait: a 4 GiB HIGHMEM image after long vmalloc/vfree runs.

python benchmarks/bench_generate.py                    # one row: a random step of 10,000 calls
python benchmarks/bench_generate.py --steps 100000     # ... of 100,000 calls
python benchmarks/bench_generate.py --one-page 20000   # 20,000 one-page vmallocs
python benchmarks/bench_generate.py --all              # the three rows beside their targets

Each row is the whole of ``vmintro generate`` (boot, the run with its timeline, the
image written), timed as wall time and as CPU time of this process; the machine's
load average before and after is printed, for a machine shared with other work
makes the wall time longer. ``generation_rows`` gives the rows to other scripts.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vmintro.accel import simspeedups
from vmintro.arch.x86 import parse_size
from vmintro.generate import generate
from vmintro.scenario.loader import Scenario, parse_scenario

# (what, target in seconds) of each row
RANDOM_TARGETS = {10_000: 5.0, 100_000: 60.0}
ONE_PAGE_TARGET = 600.0  # "well under": the row says how far under


@dataclass
class Row:
    what: str
    wall: float
    cpu: float
    target: float

    def line(self) -> str:
        verdict = "PASS" if self.wall < self.target else "FAIL"
        return (
            f"{self.what}: {self.wall:.2f} s ({self.cpu:.2f} s CPU; "
            f"target < {self.target:g} s: {verdict})"
        )


def random_scenario(calls: int) -> Scenario:
    """One ``random`` step of ``calls`` vmalloc/vfree calls, 4 KiB to 64 KiB, 45 % frees."""
    return parse_scenario(
        f"[[step]]\nop = 'random'\ncount = {calls}\nmin_size = '4K'\n"
        "max_size = '64K'\nfree_ratio = 0.45\n",
        "bench.toml",
    )


def one_page_scenario(calls: int) -> Scenario:
    """``calls`` vmallocs of one page, none freed: each walks the whole list. One random
    step makes them (a scenario holds at most 10,000 steps; a one-page vmalloc step
    is the same call)."""
    return parse_scenario(
        f"[[step]]\nop = 'random'\ncount = {calls}\nmin_size = '4K'\nmax_size = '4K'\n"
        "free_ratio = 0\n",
        "bench.toml",
    )


def time_generation(
    scen: Scenario, ram: str = "4G", keep: str | None = None
) -> tuple[float, float]:
    """(wall, CPU) seconds of generating ``scen`` on a HIGHMEM machine of ``ram``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(keep or tmp)
        out.mkdir(parents=True, exist_ok=True)
        cpu, wall = time.process_time(), time.perf_counter()
        generate(out / "bench", scen, {"ram": parse_size(ram), "highmem": True})
        return time.perf_counter() - wall, time.process_time() - cpu


def random_row(calls: int, ram: str = "4G", keep: str | None = None) -> Row:
    wall, cpu = time_generation(random_scenario(calls), ram, keep)
    what = f"generate {ram} HIGHMEM, a random step of {calls:,} calls"
    return Row(what, wall, cpu, RANDOM_TARGETS.get(calls, 5.0 * calls / 10_000))


def one_page_row(calls: int, ram: str = "4G", keep: str | None = None) -> Row:
    wall, cpu = time_generation(one_page_scenario(calls), ram, keep)
    what = f"generate {ram} HIGHMEM, {calls:,} one-page vmallocs"
    return Row(what, wall, cpu, ONE_PAGE_TARGET)


def generation_rows(
    randoms: tuple[int, ...] = (10_000, 100_000), one_page: int | None = 20_000, ram: str = "4G"
) -> Iterator[Row]:
    """The rows, each as it is measured: a random step of each size in ``randoms``, then
    ``one_page`` one-page vmallocs."""
    for calls in randoms:
        yield random_row(calls, ram)
    if one_page:
        yield one_page_row(one_page, ram)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ram", default="4G")
    ap.add_argument("--steps", type=int, default=10_000, help="calls of the random step")
    ap.add_argument("--one-page", type=int, help="this many one-page vmallocs instead")
    ap.add_argument("--all", action="store_true", help="10,000 and 100,000 calls, 20,000 vmallocs")
    ap.add_argument("--out", help="directory to keep the image in (default: a temporary one)")
    args = ap.parse_args()
    before = load()
    if args.all:
        rows: Iterable[Row] = generation_rows(ram=args.ram)
    elif args.one_page:
        rows = [one_page_row(args.one_page, args.ram, args.out)]
    else:
        rows = [random_row(args.steps, args.ram, args.out)]
    for row in rows:
        print(row.line(), flush=True)
    form = "C walks" if simspeedups is not None else "pure Python"
    print(f"({form}; before: {before}; after: {load()})")


if __name__ == "__main__":
    main()
