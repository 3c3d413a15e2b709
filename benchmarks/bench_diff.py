"""Time ``diff`` on the 4 GiB HIGHMEM image with 10,000 vmalloc/vfree calls.

python benchmarks/bench_diff.py [--ram 4G] [--steps 10000] [--dir DIR]

Two measurements, each from freshly opened programs (nothing cached between runs):
the first and last moments of the image's timeline (``diff 0`` in a session:
loading the timeline, making moment 0 and the diff), and two images of the same
machine, the second stopped after half the calls (``diff IMAGE_B``). With
``--dir`` the images are kept there and reused by the next run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from stale import current, record

import vmintro
from vmintro.arch.x86 import parse_size
from vmintro.generate import generate
from vmintro.scenario.loader import parse_scenario
from vmintro.timeline.diff import diff


def _image(directory: Path, name: str, ram: str, steps: int) -> Path:
    base = directory / name
    if not current(base, ".timeline"):
        scen = parse_scenario(
            f"[[step]]\nop = 'random'\ncount = {steps}\nmin_size = '4K'\n"
            "max_size = '64K'\nfree_ratio = 0.45\n",
            "bench.toml",
        )
        generate(base, scen, {"ram": parse_size(ram), "highmem": True})
        record(base)
    return base


def _moments(image: Path) -> tuple[float, float, float, float]:
    """(load the timeline, make moment 0, diff, total) in seconds."""
    t0 = time.perf_counter()
    prog = vmintro.open(image)
    assert prog.timeline is not None
    t1 = time.perf_counter()
    first = prog.at(0)
    t2 = time.perf_counter()
    diff(first, prog)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, t3 - t0


def _images(a: Path, b: Path) -> float:
    t0 = time.perf_counter()
    diff(vmintro.open(a), vmintro.open(b))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ram", default="4G")
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", help="keep the images here, and reuse them")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(args.dir or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        full = _image(directory, f"full{args.steps}", args.ram, args.steps)
        half = _image(directory, f"half{args.steps // 2}", args.ram, args.steps // 2)
        d = diff(vmintro.open(full).at(0), vmintro.open(full))
        print(f"{args.ram} HIGHMEM, {args.steps} calls: moment 0 to the last:")
        print("  " + d.text(summary=True).replace("\n", "\n  "))
        runs = [_moments(full) for _ in range(args.runs)]
        for label, i in (("load timeline", 0), ("at(0)", 1), ("diff", 2), ("total", 3)):
            times = [r[i] for r in runs]
            print(f"  {label:<14} first {times[0]:.3f} s, best {min(times):.3f} s")
        times = [_images(half, full) for _ in range(args.runs)]
        print(f"two images ({args.steps // 2} and {args.steps} calls):")
        print(f"  diff           first {times[0]:.3f} s, best {min(times):.3f} s (target < 2 s)")


if __name__ == "__main__":
    main()
