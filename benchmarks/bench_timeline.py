"""Time travel on a 4 GiB HIGHMEM image with a 10,000-call random step: goto, history.

    python benchmarks/bench_timeline.py [IMAGE] [--gotos N]

IMAGE defaults to /tmp/big-timeline, generated first when missing (as
``benchmarks/bench_generate.py --out`` writes it: 4 GiB, HIGHMEM, one ``random``
step of 10,000 vmalloc/vfree calls). Printed: the first use of the timeline
(reading, checking it against the core, indexing its writes), ``goto`` to
random entries through the command a user types (target < 0.5 s each), and
``history`` of words written often and rarely (target < 0.2 s). The REPL's first
prompt with the timeline present is ``benchmarks/bench_repl_startup.py IMAGE``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from stale import current, record

SCENARIO = (
    "[[step]]\nop = 'random'\ncount = 10000\nmin_size = '4K'\nmax_size = '64K'\nfree_ratio = 0.45\n"
)


def ensure_image(image: str) -> None:
    if current(image, ".timeline"):
        return
    from vmintro.generate import generate
    from vmintro.scenario.loader import parse_scenario

    print(f"generating {image} (4 GiB, HIGHMEM, 10,000 calls) ...", flush=True)
    generate(image, parse_scenario(SCENARIO, "bench.toml"), {"ram": 4 << 30, "highmem": True})
    record(image)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default="/tmp/big-timeline")
    ap.add_argument("--gotos", type=int, default=20, help="random entries to go to")
    args = ap.parse_args()
    ensure_image(args.image)

    import vmintro
    from vmintro.commands import run
    from vmintro.timeline import history

    t0 = time.perf_counter()
    prog = vmintro.open(args.image)
    t1 = time.perf_counter()
    print(f"open the image: {t1 - t0:.3f} s")
    first = run(prog, "goto 0")
    t2 = time.perf_counter()
    timeline = prog.timeline
    assert timeline is not None
    last = len(timeline.entries) - 1
    print(
        f"first goto (reads and checks the timeline, {len(timeline.writes):,} writes, indexes"
        f" them): {t2 - t1:.3f} s"
    )
    session = first[0].program  # type: ignore[union-attr]
    rng = random.Random(0)
    times = []
    for n in [rng.randrange(last + 1) for _ in range(args.gotos)] + [0, last // 2, last]:
        a = time.perf_counter()
        session = run(session, f"goto {n}")[0].program  # type: ignore[union-attr]
        run(session, "vmlist")
        times.append(time.perf_counter() - a)
    print(
        f"goto N; vmlist, {len(times)} entries: median {statistics.median(times):.3f} s,"
        f" worst {max(times):.3f} s (target < 0.5 s)"
    )
    words = {
        "vmlist": prog.symbol("vmlist").address,
        "zone HighMem's free_pages": prog["contig_page_data"]
        .node_zones[2]
        .free_pages.address_of_()
        .value_(),
        "the first area's first PTE": prog.follow_pte(prog.vmalloc_start).steps[-1].entry_paddr,
    }
    for what, address in words.items():
        physical = what.endswith("PTE")
        a = time.perf_counter()
        found = history(prog, address, 4, physical=physical)
        b = time.perf_counter()
        print(f"history of {what}: {b - a:.3f} s, {len(found)} writes (target < 0.2 s)")
    repl(args.image, [last // 2, 0, rng.randrange(last + 1), last])


def repl(image: str, entries: list[int]) -> None:
    """In ``vmintro repl IMAGE`` (a real pseudo-terminal): the first prompt, the moment
    the background read of the timeline is done (the prompt shows the moment), then
    ``goto N`` to each entry, each timed to the next prompt."""
    import os
    import re
    import sys

    import pexpect

    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
    env["VMINTRO_HISTORY"] = os.devnull
    t0 = time.perf_counter()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "vmintro.cli", "repl", "-q", image],
        env=env,
        encoding="utf-8",
        dimensions=(50, 200),
        timeout=60,
    )
    child.expect(re.compile(r"\x1b\[\?2004h[^\n]*?vmintro>"))
    t1 = time.perf_counter()
    child.expect(re.compile(r" \[(\d+)/(\d+)\]>"))
    t2 = time.perf_counter()
    last = int(child.match.group(2))
    print(f"repl: first prompt {t1 - t0:.3f} s; timeline read in the background {t2 - t1:.3f} s")
    for n in entries:
        time.sleep(0.3)  # typing
        a = time.perf_counter()
        child.sendline(f"goto {n}")
        child.expect(re.compile(rf"vmintro \[{n}/{last}\]>"))
        print(f"repl: goto {n}: {time.perf_counter() - a:.3f} s to the next prompt")
    child.close(force=True)


if __name__ == "__main__":
    main()
