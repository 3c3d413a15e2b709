"""What an exercise costs: one guess at a practice answer (scrypt at the shipped cost),
and building a class's variants with ``vmintro exercise make``.

    python3 benchmarks/bench_exercises.py [--students N] [--jobs J]

Prints the seconds of one guess (best and worst of five), then the wall time of
N students x 10 exercises and what 200 students would take at that rate.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import tempfile
import time
from pathlib import Path

from vmintro.exercises.catalog import EXERCISES
from vmintro.exercises.variants import make
from vmintro.exercises.verify import SCRYPT

TEN = [e for e in EXERCISES if e.shipped][:10]


def guess_seconds() -> list[float]:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        hashlib.scrypt(
            b"why-oops\0c009e2a0;0x94,0x86", salt=secrets.token_bytes(16), maxmem=256 << 20,
            dklen=32, **SCRYPT,
        )  # fmt: skip
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    times = guess_seconds()
    print(f"one guess (scrypt n={SCRYPT['n']} r={SCRYPT['r']} p={SCRYPT['p']}): "
          f"best {min(times):.3f} s, worst {max(times):.3f} s")  # fmt: skip
    students = [f"s{i:03d}" for i in range(args.students)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        failures = make(students, secrets.token_bytes(32), Path(tmp), TEN, args.jobs)
        took = time.perf_counter() - start
    assert not failures, failures
    n = len(students) * len(TEN)
    print(f"make: {n} variants in {took:.1f} s with {args.jobs} jobs ({took / n:.3f} s each); "
          f"200 x 10 at this rate: {took / n * 2000 / 60:.1f} min")  # fmt: skip


if __name__ == "__main__":
    main()
