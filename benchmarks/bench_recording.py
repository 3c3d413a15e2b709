"""What recording a timeline costs: the 4 GiB HIGHMEM image with 10,000 vmalloc/vfree
calls generated with and without its timeline; prints both times, the overhead and the
timeline's size (targets: under 30 % and under 60 MiB).

python benchmarks/bench_recording.py [--ram 4G] [--steps 10000] [--rounds 1]

Each round generates both ways, alternating which goes first, so a machine shared
with other work weighs on both alike; the best time of each is reported, as CPU
time of this process (which other work on the machine hardly changes) and wall time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from vmintro.arch.x86 import parse_size
from vmintro.generate import generate
from vmintro.image.format.timeline import decode_timeline
from vmintro.scenario.loader import parse_scenario


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ram", default="4G")
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    scen = parse_scenario(
        f"[[step]]\nop = 'random'\ncount = {args.steps}\nmin_size = '4K'\n"
        "max_size = '64K'\nfree_ratio = 0.45\n",
        "bench.toml",
    )
    machine = {"ram": parse_size(args.ram), "highmem": True}
    best = {True: float("inf"), False: float("inf")}
    wall = dict(best)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for recorded in (True, False) if r % 2 == 0 else (False, True):
                t0, w0 = time.process_time(), time.perf_counter()
                generate(Path(tmp) / f"bench{int(recorded)}", scen, machine, timeline=recorded)
                best[recorded] = min(best[recorded], time.process_time() - t0)
                wall[recorded] = min(wall[recorded], time.perf_counter() - w0)
        timeline = Path(tmp) / "bench1.timeline"
        size = os.path.getsize(timeline)
        t0 = time.perf_counter()
        t = decode_timeline(timeline.read_bytes())
        decode = time.perf_counter() - t0
    overhead = 100 * (best[True] / best[False] - 1)
    print(f"generate --ram {args.ram} --highmem, a random step of {args.steps} calls:")
    print(f"  without a timeline {best[False]:8.2f} s CPU ({wall[False]:.2f} s wall)")
    print(
        f"  with a timeline    {best[True]:8.2f} s CPU ({wall[True]:.2f} s wall), "
        f"+{overhead:.0f} % CPU (target < 30 %)"
    )
    print(
        f"  timeline {size / 2**20:.1f} MiB (target < 60 MiB): {len(t.entries):,} entries, "
        f"{len(t.writes):,} writes, {len(t.paths)} call paths, "
        f"{len(t.data) / 2**20:.1f} MiB of old/new bytes inflated; decoded in {decode:.2f} s"
    )


if __name__ == "__main__":
    main()
