"""The fuzzer: mutated images through every entry point, in rounds until a budget is spent.

``python3 -m tests.hostile.fuzz --seed S --count N`` (or ``--seconds T``) runs it from
the command line and prints each failure with the command that reproduces it; the
tests in this directory run it through pytest.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Collection, Iterable
from pathlib import Path

from .harness import Case, Failure, Plan, run_all, scratch_dir
from .mutate import mutation

__all__ = ["cases_for", "fuzz"]

ROUND = 24  # images a round mutates and runs before it looks at the clock


def cases_for(
    seed: int, indexes: Iterable[int], directory: Path, kinds: Collection[str] | None = None
) -> list[Case]:
    """The mutated images of ``seed`` at ``indexes`` (of the given kinds only), written."""
    cases = []
    for index in indexes:
        m = mutation(seed, index)
        if kinds is not None and m.kind not in kinds:
            continue
        stem = m.write(directory)
        reproduce = f"python3 -m tests.hostile.reproduce {seed} {index} {directory}"
        cases.append(Case(m.label, stem, m.base.facts, reproduce))
    return cases


def fuzz(
    seed: int,
    work: Path,
    *,
    count: int | None = None,
    seconds: float | None = None,
    indexes: list[int] | None = None,
    kinds: Collection[str] | None = None,
    gdb: tuple[str, Path] | None = None,
    gdb_share: float = 0.25,
    check_batch: Path | None = None,
    round_size: int = ROUND,
) -> tuple[list[Failure], int]:
    """Run ``count`` indexes of ``seed``, or rounds until ``seconds`` have passed, or the
    given ``indexes``.

    The failures, and how many images ran. gdb runs on the first ``gdb_share`` of
    each round's images (it is the slowest entry point).
    """
    deadline = None if seconds is None else time.monotonic() + seconds
    failures: list[Failure] = []
    start, ran = 0, 0
    while True:
        if count is not None and start >= count:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        stop = start + round_size if count is None else min(start + round_size, count)
        directory = work / f"images-{start}"
        directory.mkdir(parents=True)
        chosen = range(start, stop) if indexes is None else indexes[start:stop]
        cases = cases_for(seed, chosen, directory, kinds)
        plan = Plan(
            cases,
            gdb=gdb,
            gdb_cases=round(len(cases) * gdb_share + 0.49),
            check_batch=check_batch,
        )
        found = run_all(plan, work / f"run-{start}")
        failures += found
        ran += len(cases)
        if not found:  # keep what failed, for the reproduce command; free the rest
            shutil.rmtree(directory, ignore_errors=True)
            shutil.rmtree(work / f"run-{start}", ignore_errors=True)
        start = stop
    return failures, ran


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 -m tests.hostile.fuzz")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--index", type=int, action="append", help="only these indexes")
    parser.add_argument("--kind", action="append", help="only these mutation kinds")
    parser.add_argument("--round", type=int, default=ROUND, help="indexes drawn per round")
    parser.add_argument("--gdb", help="run gdb's vm commands too, with this loader file")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    work = args.work or scratch_dir()
    gdb = ("gdb", Path(args.gdb)) if args.gdb else None
    from .bases import IMAGES

    count = args.count if args.count or args.seconds else 50
    if args.index:
        count = len(args.index)
    failures, ran = fuzz(
        args.seed,
        work,
        count=count,
        seconds=args.seconds,
        indexes=args.index,
        kinds=args.kind,
        gdb=gdb,
        check_batch=IMAGES / "demo",
        round_size=args.round,
    )
    for f in failures:
        print(f, end="\n\n")
    print(f"{ran} images, {len(failures)} failures; files in {work}")


if __name__ == "__main__":
    main()
