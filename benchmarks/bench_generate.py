"""Generate a 4 GiB HIGHMEM image with 10,000 vmalloc/vfree steps; print time and sizes.

python benchmarks/bench_generate.py [--ram 4G] [--steps 10000] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from vmintro.arch.x86 import parse_size
from vmintro.generate import generate
from vmintro.scenario.loader import parse_scenario


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ram", default="4G")
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--out", help="directory to keep the image in (default: a temporary one)")
    args = ap.parse_args()
    scen = parse_scenario(
        f"[[step]]\nop = 'random'\ncount = {args.steps}\nmin_size = '4K'\n"
        "max_size = '64K'\nfree_ratio = 0.45\n",
        "bench.toml",
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        paths = generate(out / "bench", scen, {"ram": parse_size(args.ram), "highmem": True})
        elapsed = time.perf_counter() - t0
        print(
            f"generate --ram {args.ram} --highmem, {args.steps} vmalloc/vfree steps: "
            f"{elapsed:.2f} s (target < 10 s)"
        )
        for p in paths.values():
            print(f"  {p.name:<24} {os.path.getsize(p):>12,} bytes")


if __name__ == "__main__":
    main()
