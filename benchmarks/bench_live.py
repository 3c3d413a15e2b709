"""The live kernel on a 4 GiB HIGHMEM image: resuming it, and ``sim vmalloc 64K``.

    python benchmarks/bench_live.py [IMAGE] [--calls N]

IMAGE defaults to /tmp/big-timeline (generated first when missing, as
``benchmarks/bench_timeline.py`` makes it: 4 GiB, HIGHMEM, a 10,000-call
random step). Printed, each timed with ``time.perf_counter`` in this process:

1. Resuming the image (``vmintro.sim.resume.resume``: open, ``vmintro check``'s
   findings, RAM from the core, subsystems attached, truth read), best of 3;
   target < 2 s.
2. ``sim vmalloc 64K`` typed into a session (the command runner, as ``-c``
   runs it): the first call, which resumes the kernel, then each of ``--calls``
   more (median and worst); target < 50 ms after the first.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default="/tmp/big-timeline")
    ap.add_argument("--calls", type=int, default=20, help="sim calls after the first")
    args = ap.parse_args()
    from bench_timeline import ensure_image

    ensure_image(args.image)

    import vmintro
    from vmintro.cmdline.runner import Runner
    from vmintro.sim.resume import resume

    times = []
    for _ in range(3):
        t = time.perf_counter()
        resume(args.image)
        times.append(time.perf_counter() - t)
    print(f"resume {args.image}: best {min(times):.3f} s of 3 (target < 2 s)")

    out, err = io.StringIO(), io.StringIO()
    runner = Runner(vmintro.open(args.image), out=out, err=err)
    t = time.perf_counter()
    runner.run_line("sim vmalloc 64K")
    first = time.perf_counter() - t
    calls = []
    for _ in range(args.calls):
        t = time.perf_counter()
        runner.run_line("sim vmalloc 64K")
        calls.append(time.perf_counter() - t)
    if err.getvalue():
        raise SystemExit(f"sim failed: {err.getvalue().strip()}")
    print(f"sim vmalloc 64K: first {first * 1000:.0f} ms (resumes the kernel)")
    print(
        f"sim vmalloc 64K: next {args.calls}: median {statistics.median(calls) * 1000:.1f} ms, "
        f"worst {max(calls) * 1000:.1f} ms (target < 50 ms)"
    )
    print(out.getvalue().splitlines()[-2])


if __name__ == "__main__":
    main()
