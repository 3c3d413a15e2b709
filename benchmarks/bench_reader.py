"""Where a reader waits: vmintro's helpers, its pure-Python form and the REPL's start,
each beside its peer (drgn 0.3.0 through libkdumpfile) measured in the same run.

    python3 benchmarks/bench_reader.py [--workdir DIR] [--areas-image BASE]
        [--repl-image BASE] [--repeat N] [--rounds R]

Printed, as ratios (peer time / vmintro time: above 1 is faster than drgn), since
the machine may be shared; its load average is printed before and after:

1. Single-address helpers on a 1 GiB HIGHMEM image (a seeded random step of
   vmalloc/vfree calls, generated into ``--workdir`` once): ``vmalloc_to_pfn``,
   ``vmalloc_to_page``, ``prog.follow_pte`` and ``follow_pte(prog, swapper_pg_dir,
   addr)`` at one address in every mapped page of every vm area, ``virt_to_page``
   and ``page_to_pfn`` at the ``struct page`` of each, against drgn's
   ``prog.read_u32`` of the same addresses; on the C forms and on the Python forms
   (``VMINTRO_PURE_PYTHON=1``). Target >= 3x.
2. Walking every vm area of ``bench_library.py``'s ``areas`` image (>10,000
   areas, 4 GiB HIGHMEM) reading addr, size and flags: ``for_each_vm_area``
   against drgn's ``while node: ...; node = node.next``. Target >= 1x on the
   Python forms.
3. The REPL's first prompt on the 4 GiB image with a timeline
   (``bench_timeline.py``'s image), through a pseudo-terminal, to the prompt drawn
   (the median of ``--prompts`` starts, 10). Target < 0.3 s idle. Beside it, as its
   peer, a bare prompt-toolkit prompt started in turns with it: the floor of any
   prompt-toolkit REPL on the machine, so the difference is vmintro's own.

Both on two kinds of core of the same machines, since drgn's reads through
libkdumpfile slow down with the core's ``PT_LOAD`` segments and vmintro's do not:

- ``few``: generated with ``page_cache = 0`` (``generate --page-cache 0``): free
  memory as boot left it, a few dozen segments. The targets count here.
- ``fragmented``: the default page cache (0.3 of RAM) scattered the frames, and
  the core holds thousands of segments; drgn reads about twenty times slower
  there, which flatters vmintro: printed, not counted.

Each form runs in a fresh process per round, drgn beside it in the same process:
every measurement times a vmintro pass and a drgn pass in turns, ``--repeat``
times, and keeps the best of each, so load that comes and goes weighs on both
alike. Over the ``--rounds`` rounds the median of each side's time is taken, and
their ratio printed with the range of the rounds' own ratios. vmintro and drgn
must read the same values and walk the same list.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stale import current, record

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

HELPERS_SCENARIO = (
    "# a 1 GiB HIGHMEM machine with a few thousand vm areas of 4-64 KiB\n"
    "[[step]]\nop = 'random'\ncount = 3000\nmin_size = '4K'\nmax_size = '64K'\n"
    "free_ratio = 0.3\n"
)
HELPERS = (
    "vmalloc_to_pfn",
    "vmalloc_to_page",
    "prog.follow_pte",
    "follow_pte(prog, pgd, addr)",
    "virt_to_page",
    "page_to_pfn",
)
TARGET_HELPERS = 3.0
TARGET_WALK = 1.0
TARGET_PROMPT_S = 0.3
# kind of core -> (generate's page_cache, how the table names it); the targets count on
# the first
KINDS = {
    "few": (0.0, "page cache 0"),
    "fragmented": (None, "page cache 0.3"),
}
TARGET_KIND = "few"


def alternating(
    pairs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]], repeat: int
) -> dict[str, Any]:
    """``name: drgn's time / vmintro's`` for each ``name: (vmintro pass, drgn pass)``,
    the best pass of each of ``repeat`` taken in turns (after a warming pass of
    each), so that load which comes and goes weighs on both alike; and
    ``name_s: [vmintro's, drgn's]``, those best passes in seconds."""
    ratios: dict[str, Any] = {}
    for name, (ours, theirs) in pairs.items():
        ours()
        theirs()
        best = [float("inf"), float("inf")]
        for _ in range(repeat):
            for i, fn in enumerate((ours, theirs)):
                start = time.perf_counter()
                fn()
                best[i] = min(best[i], time.perf_counter() - start)
        ratios[name] = best[1] / best[0]
        ratios[f"{name}_s"] = best
    return ratios


# -- the worker: vmintro (on the forms the environment says) and drgn in one process ----------


def open_drgn(base: str) -> Any:
    import drgn

    prog = drgn.Program()
    prog.set_core_dump(f"{base}.vmcore")
    prog.main_module("kernel", create=True).try_file(f"{base}.vmlinux", force=True)
    return prog


def worker(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["DRGN_USE_LIBKDUMPFILE_FOR_ELF"] = "1"  # before drgn is imported
    import drgn
    import numpy as np
    from bench_library import drgn_vmlist_walk

    import vmintro
    from vmintro.helpers import (
        follow_pte,
        for_each_vm_area,
        page_to_pfn,
        virt_to_page,
        vmalloc_to_page,
        vmalloc_to_pfn,
    )

    prog = vmintro.open(f"{args.image}.vmcore")
    peer = open_drgn(args.image)
    addrs = np.load(args.addrs).tolist()
    pages = [vmalloc_to_page(prog, a) for a in addrs]
    lows = [int(p) for p in pages]
    follow, read_u32 = prog.follow_pte, peer.read_u32
    values = [sum(r(a) for a in addrs) + sum(r(a) for a in lows) for r in (prog.read_u32, read_u32)]
    if values[0] != values[1]:
        raise SystemExit("drgn and vmintro read different values")

    def pfn() -> None:
        for a in addrs:
            vmalloc_to_pfn(prog, a)

    def page() -> None:
        for a in addrs:
            vmalloc_to_page(prog, a)

    def walk() -> None:
        for a in addrs:
            follow(a)

    swapper = prog.symbol("swapper_pg_dir").address  # the helper takes a pgd_t *

    def walk_helper() -> None:
        for a in addrs:
            follow_pte(prog, swapper, a)

    def virt() -> None:
        for a in lows:
            virt_to_page(prog, a)

    def to_pfn() -> None:
        for p in pages:
            page_to_pfn(p)

    def drgn_vmalloc() -> None:
        for a in addrs:
            read_u32(a)

    def drgn_lowmem() -> None:
        for a in lows:
            read_u32(a)

    areas_prog = vmintro.open(f"{args.areas_image}.vmcore")
    areas_peer = open_drgn(args.areas_image)

    def areas() -> int:
        count = 0
        for area in for_each_vm_area(areas_prog):
            area.addr.value_()
            area.size.value_()
            area.flags.value_()
            count += 1
        return count

    walked = areas()
    if walked != drgn_vmlist_walk(areas_peer):
        raise SystemExit("drgn and vmintro walk different vmlists")
    pairs = {
        "vmalloc_to_pfn": (pfn, drgn_vmalloc),
        "vmalloc_to_page": (page, drgn_vmalloc),
        "prog.follow_pte": (walk, drgn_vmalloc),
        "follow_pte(prog, pgd, addr)": (walk_helper, drgn_vmalloc),
        "virt_to_page": (virt, drgn_lowmem),
        "page_to_pfn": (to_pfn, drgn_lowmem),
        "walk": (areas, lambda: drgn_vmlist_walk(areas_peer)),
    }
    out: dict[str, Any] = alternating(pairs, args.repeat)
    out.update(
        speedups=prog._speedups is not None, n=len(addrs), walk_n=walked, version=drgn.__version__
    )
    return out


def run_worker(extra: list[str], pure: bool) -> dict[str, Any]:
    """The worker in a fresh interpreter, on the C forms or the Python forms; its JSON."""
    env = dict(os.environ)
    env.pop("VMINTRO_PURE_PYTHON", None)
    if pure:
        env["VMINTRO_PURE_PYTHON"] = "1"
    proc = subprocess.run(
        [sys.executable, str(HERE), "--worker", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        raise SystemExit(f"worker failed (exit {proc.returncode}): {last}")
    return json.loads(proc.stdout)


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each row's median vmintro time and median drgn time over the rounds, their
    ratio, and ``name_range``: the lowest and highest of the rounds' own ratios (the
    other fields from the first round)."""
    out = dict(rounds[0])
    for key, value in rounds[0].items():
        if isinstance(value, float):
            times = [statistics.median(r[f"{key}_s"][i] for r in rounds) for i in (0, 1)]
            out[f"{key}_s"] = times
            out[key] = times[1] / times[0]
            ratios = [r[key] for r in rounds]
            out[f"{key}_range"] = [min(ratios), max(ratios)]
    return out


# -- images -----------------------------------------------------------------------------------


def helpers_image(workdir: Path, page_cache: float | None = None) -> Path:
    """The 1 GiB image of :data:`HELPERS_SCENARIO` in ``workdir`` (made once), with
    ``page_cache`` (generate's) where it is given."""
    name = "helpers-1g" if page_cache is None else f"helpers-1g-pc{page_cache:g}"
    base = workdir / name
    if not current(base):
        from vmintro.generate import generate
        from vmintro.scenario.loader import parse_scenario

        print(f"generating {base}.vmcore (1 GiB, HIGHMEM) ...", flush=True)
        scen = parse_scenario(HELPERS_SCENARIO, "helpers.toml")
        machine: dict[str, Any] = {"ram": 1 << 30, "highmem": True}
        if page_cache is not None:
            machine["page_cache"] = page_cache
        generate(base, scen, machine, timeline=False)
        record(base)
    return base


def segments(base: str | Path) -> int:
    """How many ``PT_LOAD`` segments the core ``base.vmcore`` has."""
    import vmintro

    return len(vmintro.open(f"{base}.vmcore").backend.core.segments)


def addresses(base: Path, tmp: Path) -> tuple[Path, Path]:
    """Files of one address in every mapped page of every vm area, and of the
    ``struct page`` of each (lowmem addresses)."""
    import numpy as np

    import vmintro
    from vmintro.helpers import for_each_vm_area, vmalloc_to_page

    prog = vmintro.open(f"{base}.vmcore")
    pages = np.concatenate(
        [
            np.arange(a.addr.value_(), a.addr.value_() + a.size.value_() - 4096, 4096)
            for a in for_each_vm_area(prog)
        ]
    )
    addrs = pages[prog.translate_many(pages) >= 0] + 0x123
    lows = np.array([int(vmalloc_to_page(prog, int(a))) for a in addrs], dtype=np.int64)
    np.save(tmp / "addrs.npy", addrs)
    np.save(tmp / "lows.npy", lows)
    return tmp / "addrs.npy", tmp / "lows.npy"


# -- report ------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="keep (and reuse) the generated images here")
    ap.add_argument(
        "--areas-image", help="bench_library.py's areas image (base path; the fragmented core)"
    )
    ap.add_argument("--repl-image", default="/tmp/big-timeline")
    ap.add_argument("--repeat", type=int, default=5, help="timed passes of each in a process")
    ap.add_argument("--rounds", type=int, default=5, help="fresh processes of each form")
    ap.add_argument("--prompts", type=int, default=10, help="REPL starts timed (median)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--image", help=argparse.SUPPRESS)
    ap.add_argument("--addrs", help=argparse.SUPPRESS)
    ap.add_argument("--lows", help=argparse.SUPPRESS)
    return ap


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement: per kind of core (:data:`KINDS`), ``c`` and ``py`` (the
    medians of the rounds of each form: a ratio, ``[vmintro's, drgn's]`` seconds and
    the range of the rounds' ratios per row) and the images' segments; ``prompt``
    (seconds); the images read."""
    from bench_library import ensure_image

    kinds: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        common: dict[str, list[str]] = {}
        for kind, (page_cache, _label) in KINDS.items():
            image = helpers_image(workdir, page_cache)
            areas = args.areas_image if kind == "fragmented" else None
            areas = areas or str(ensure_image(workdir, "areas", page_cache))
            where = Path(tmp) / kind
            where.mkdir()
            addr_file, low_file = addresses(image, where)
            common[kind] = [
                "--image", str(image), "--addrs", str(addr_file), "--lows", str(low_file),
                "--areas-image", areas, "--repeat", str(args.repeat),
            ]  # fmt: skip
            kinds[kind] = {
                "images": {"helpers": str(image), "walk": areas},
                "segments": {"helpers": segments(image), "walk": segments(areas)},
            }
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in range(args.rounds):  # the kinds and forms in turns, so load weighs on all
            print(f"round {r + 1} of {args.rounds} ...", flush=True)
            for kind in KINDS:
                for form in ("c", "py"):
                    runs.setdefault((kind, form), []).append(
                        run_worker(common[kind], pure=form == "py")
                    )
        for (kind, form), results in runs.items():
            kinds[kind][form] = median_of(results)
    for kind in KINDS:
        if not kinds[kind]["c"]["speedups"] or kinds[kind]["py"]["speedups"]:
            raise SystemExit("the C forms are not built (python3 setup.py build_ext --inplace)")

    from bench_repl_startup import time_starts
    from bench_timeline import ensure_image as ensure_timeline_image

    ensure_timeline_image(args.repl_image)
    starts = time_starts(args.repl_image, args.prompts)
    return {
        "kinds": kinds,
        "prompt": starts.median,
        "bare_prompt": starts.bare_median,
        "repl": args.repl_image,
    }


def prompt_row(m: dict[str, Any]) -> tuple[str, str, str, str, str, bool]:
    """The first prompt's row of a table, a bare prompt-toolkit prompt as its peer."""
    prompt, bare = m["prompt"], m["bare_prompt"]
    return (
        "REPL first prompt, 4 GiB + timeline",
        "C",
        f"{prompt:.3f} s",
        f"{bare:.3f} s (bare prompt-toolkit), +{(prompt - bare) * 1000:.0f} ms",
        f"< {TARGET_PROMPT_S:g} s",
        prompt < TARGET_PROMPT_S,
    )


def reading_rows(m: dict[str, Any]) -> list[tuple[str, str, str, str, str, bool | None]]:
    """The helper and walk rows of :func:`measure` for a table: (what, form, vmintro,
    peer, target, passed or None where the row has no target), both kinds of core."""
    rows: list[tuple[str, str, str, str, str, bool | None]] = []
    for kind, (_page_cache, label) in KINDS.items():
        counted = kind == TARGET_KIND
        k = m["kinds"][kind]
        segs = k["segments"]
        for name in HELPERS:
            for form in ("c", "py"):
                result = k[form]
                ours, theirs = result[f"{name}_s"]
                n = result["n"]
                low, high = result[f"{name}_range"]
                rows.append((
                    f"{name} vs drgn read_u32, {segs['helpers']:,}-segment core ({label})",
                    "C" if form == "c" else "Python",
                    f"{ours / n * 1e9:.0f} ns",
                    f"{theirs / n * 1e9:.0f} ns  {result[name]:.2f}x ({low:.2f}-{high:.2f})",
                    f">= {TARGET_HELPERS:g}x" if counted and form == "c" else "",
                    result[name] >= TARGET_HELPERS if counted and form == "c" else None,
                ))  # fmt: skip
        for form in ("c", "py"):
            result = k[form]
            ours, theirs = result["walk_s"]
            low, high = result["walk_range"]
            rows.append((
                f"walk {result['walk_n']:,} vm areas' addr/size/flags vs drgn, "
                f"{segs['walk']:,}-segment core ({label})",
                "C" if form == "c" else "Python",
                f"{ours * 1e3:.1f} ms",
                f"{theirs * 1e3:.1f} ms  {result['walk']:.2f}x ({low:.2f}-{high:.2f})",
                f">= {TARGET_WALK:g}x" if counted else "",
                result["walk"] >= TARGET_WALK if counted else None,
            ))  # fmt: skip
    return rows


def print_table(
    headers: tuple[str, ...], rows: list[tuple[str, ...]], markdown: bool = False
) -> None:
    """``rows`` under ``headers`` in aligned columns, then in Markdown if asked."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    print()
    for r in [headers, *rows]:
        print("  ".join(f"{cell:{w}}" for cell, w in zip(r, widths, strict=True)).rstrip())
    if markdown:
        print()
        for i, r in enumerate([headers, *rows]):
            print("| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |")
            if i == 0:
                print("|" + "---|" * len(headers))


def main() -> int:
    ap = parser()
    ap.add_argument("--markdown", action="store_true", help="the table in Markdown too")
    args = ap.parse_args()
    if args.worker:
        json.dump(worker(args), sys.stdout)
        return 0

    load_before = os.getloadavg()
    m = measure(args)
    load_after = os.getloadavg()
    rows = reading_rows(m)
    rows.append(prompt_row(m))
    failures = sum(passed is False for *_, passed in rows)

    few = m["kinds"][TARGET_KIND]
    print()
    print(f"python {sys.version.split()[0]}, drgn {few['c']['version']}, {os.cpu_count()} CPUs, "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")  # fmt: skip
    for kind, k in m["kinds"].items():
        print(f"{kind}: helpers {k['images']['helpers']}.vmcore, walk {k['images']['walk']}.vmcore")
    print(f"REPL: {m['repl']}")
    headers = ("measurement", "form", "vmintro", "drgn (same run)", "target", "result")
    table = [(*r[:5], "" if r[5] is None else ("PASS" if r[5] else "FAIL")) for r in rows]
    print_table(headers, table, args.markdown)
    print()
    print(f"FAIL: {failures}" if failures else "all targets met")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
