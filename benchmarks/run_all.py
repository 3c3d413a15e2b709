"""Every measurement of where users wait, beside its target and its peer, in one run.

    python3 benchmarks/run_all.py [--workdir DIR] [--quick] [--markdown] [--rounds R]

One table, each row measured in this run (the machine's load average printed
before and after, since the machine may be shared):

- generation: a 4 GiB HIGHMEM image with a ``random`` step of 10,000 and of
  100,000 vmalloc/vfree calls (``bench_generate.py``, stopped at
  ``--generation-limit`` seconds: the row then says "more than"), and
  ``vmintro exercise make`` for two students, projected to 200 students x 10
  exercises (``bench_exercises.py``);
- reading (``bench_reader.py``): the single-address helpers against drgn's
  ``read_u32`` of the same addresses and the vmlist walk against drgn's, on the C
  forms and on the Python forms, each pair timed in turns in one process, the
  median of ``--rounds`` fresh processes, on a core of few ``PT_LOAD`` segments
  (where the targets count) and on a fragmented one (printed: drgn is slowed
  there); the REPL's first prompt on the 4 GiB image with a timeline, beside a bare
  prompt-toolkit prompt started in turns with it;
- the first ``goto`` in a fresh ``vmintro -c`` on that image, beside the same
  process running ``help goto`` (what starting vmintro costs).

``--quick`` leaves out the 100,000-call generation. Exit status 1 when a target
is missed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_reader  # noqa: E402  (beside this file)


def timed_run(argv: list[str], limit: float) -> tuple[float | None, str]:
    """(seconds, output) of a benchmark script run to its end, or (None, output so far)
    when it outlives ``limit``."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, timeout=limit, cwd=HERE.parent
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout if isinstance(e.stdout, str) else (e.stdout or b"").decode()
        return None, out
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        raise SystemExit(f"{' '.join(argv)} failed (exit {proc.returncode}): {last}")
    return time.perf_counter() - start, proc.stdout


def generation(steps: int, limit: float) -> tuple[float | None, str]:
    """Seconds ``bench_generate.py`` reports for ``steps`` calls (None past ``limit``)."""
    took, out = timed_run([str(HERE / "bench_generate.py"), "--steps", str(steps)], limit)
    if took is None:
        return None, f"> {limit:.0f} s"
    found = re.search(r": ([0-9.]+) s", out)
    if found is None:
        raise SystemExit(f"bench_generate.py printed no time: {out.strip()}")
    seconds = float(found.group(1))
    return seconds, f"{seconds:.1f} s"


def exercises(limit: float) -> tuple[float | None, str]:
    """Minutes 200 students x 10 exercises take at the rate of two students."""
    took, out = timed_run([str(HERE / "bench_exercises.py"), "--students", "2"], limit)
    found = re.search(r"200 x 10 at this rate: ([0-9.]+) min", out)
    if took is None or found is None:
        return None, f"> {limit:.0f} s for 20"
    minutes = float(found.group(1))
    return minutes, f"{minutes:.1f} min"


def first_goto(image: str, runs: int = 3) -> tuple[float, float]:
    """Best wall seconds of a fresh ``vmintro -c 'goto 5000'`` and of ``-c 'help goto'``."""
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(HERE.parent))

    def once(line: str) -> float:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "vmintro.cli", "-c", line, image],
            capture_output=True,
            check=True,
            env=env,
            cwd=HERE.parent,
        )
        return time.perf_counter() - start

    once("help goto")  # the page cache warm
    goto = min(once("goto 5000") for _ in range(runs))
    start = min(once("help goto") for _ in range(runs))
    return goto, start


def main() -> int:
    ap = bench_reader.parser()
    ap.description = __doc__.splitlines()[0]
    ap.add_argument("--quick", action="store_true", help="leave out the 100,000-call generation")
    ap.add_argument("--generation-limit", type=float, default=180.0, help="seconds per run")
    ap.add_argument("--markdown", action="store_true", help="the table in Markdown too")
    args = ap.parse_args()
    load_before = os.getloadavg()
    rows: list[tuple[str, str, str, str, str, str]] = []  # what, form, ours, peer, target, result
    failures = 0

    def row(what: str, form: str, ours: str, peer: str, target: str, ok: bool | None) -> None:
        nonlocal failures
        failures += ok is False
        result = "" if ok is None else ("PASS" if ok else "FAIL")
        rows.append((what, form, ours, peer, target, result))

    print("generation, 10,000 calls ...", flush=True)
    seconds, text = generation(10_000, args.generation_limit)
    row(
        "generate 4 GiB HIGHMEM, 10,000 calls",
        "C",
        text,
        "",
        "< 5 s",
        seconds is not None and seconds < 5,
    )
    if not args.quick:
        print("generation, 100,000 calls ...", flush=True)
        seconds, text = generation(100_000, args.generation_limit)
        ok = seconds is not None and seconds < 60
        row("generate 4 GiB HIGHMEM, 100,000 calls", "C", text, "", "< 60 s", ok)
    print("exercise builds ...", flush=True)
    minutes, text = exercises(args.generation_limit)
    ok = minutes is not None and minutes < 10
    row("exercise make, 200 students x 10 (from 2)", "C", text, "", "< 10 min", ok)

    m = bench_reader.measure(args)
    for what, form, ours, peer, goal, passed in bench_reader.reading_rows(m):
        # the helpers' target is the C forms' (reading_rows leaves the others without)
        row(what, form, ours, peer, goal, passed)
    row(*bench_reader.prompt_row(m))
    goto, start = first_goto(m["repl"])
    row(
        "vmintro -c 'goto 5000', 4 GiB + timeline",
        "C",
        f"{goto:.3f} s",
        f"{start:.3f} s (help goto)",
        "",
        None,
    )
    load_after = os.getloadavg()

    print()
    drgn = m["kinds"][bench_reader.TARGET_KIND]["c"]["version"]
    print(f"python {sys.version.split()[0]}, drgn {drgn}, {os.cpu_count()} CPUs, "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")  # fmt: skip
    headers = ("measurement", "form", "vmintro", "peer (same run)", "target", "result")
    bench_reader.print_table(headers, rows, args.markdown)
    print()
    print(f"FAIL: {failures}" if failures else "all targets met")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
