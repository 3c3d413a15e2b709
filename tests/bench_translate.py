"""Translation speed: ``python tests/bench_translate.py [IMAGE]``.

Scalar: ``Program.translate`` over 200k vmalloc addresses cycling through a
4 MiB area (the table cache's case). Batch: ``Program.translate_many`` over
10M addresses (best of 3), both nearby (vmalloc) and uniformly random over 4 GiB. With an
IMAGE the same runs use its vmlist areas through the image backend.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_kernel import FakeKernel  # noqa: E402

import vmintro  # noqa: E402
from vmintro.program import Program  # noqa: E402


def measure(label: str, prog: Program, vaddrs: list[int]) -> None:
    scalar = [vaddrs[i % len(vaddrs)] for i in range(200_000)]
    translate = prog.translate
    start = time.perf_counter()
    for va in scalar:
        translate(va)
    rate = len(scalar) / (time.perf_counter() - start)
    batch = np.resize(np.array(vaddrs, dtype=np.int64), 10_000_000)
    rnd = np.random.default_rng(1).integers(0, 1 << 32, 10_000_000, dtype=np.int64)
    rates = []
    for arr in (batch, rnd):
        best = float("inf")
        for _ in range(3):  # the first run also pays for the OS mapping fresh memory
            start = time.perf_counter()
            prog.translate_many(arr)
            best = min(best, time.perf_counter() - start)
        rates.append(len(arr) / best)
    print(
        f"{label:12} translate {rate / 1e3:7.0f}k/s   translate_many nearby "
        f"{rates[0] / 1e6:6.1f}M/s   random {rates[1] / 1e6:6.1f}M/s"
    )


def main() -> None:
    for mode, ram in (("pse", 128 << 20), ("4k", 128 << 20), ("pae", 5 << 30)):
        k = FakeKernel(mode, ram)
        for i in range(1024):
            k.map_page(k.vmalloc_start + i * 4096, (0x1000 + i) << 12)
        measure(mode, k.program(), [k.vmalloc_start + i * 4096 + 8 for i in range(1024)])
    for image in sys.argv[1:]:
        prog = vmintro.open(image)
        vaddrs = []
        area = prog["vmlist"]
        while area:
            start, size = area.addr.value_(), area.size.value_()
            vaddrs += range(start, start + size - 4096, 4096)
            area = area.next
        measure(Path(image).name, prog, vaddrs)


if __name__ == "__main__":
    main()
