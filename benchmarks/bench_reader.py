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
   (``bench_timeline.py``'s image), through a pseudo-terminal (best of
   ``--prompts``). Target < 0.3 s idle.

Each form runs in a fresh process per round, drgn beside it in the same process:
every measurement times a vmintro pass and a drgn pass in turns, ``--repeat``
times, and keeps the best of each, so load that comes and goes weighs on both
alike; the ratio of the best of each over the rounds is printed. vmintro and drgn must
read the same values and walk the same list.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def best_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each row's best vmintro time and best drgn time over the rounds, and their
    ratio (the other fields from the first round). The best of each, not the best
    ratio: on a loaded machine a round whose drgn pass was slowed would otherwise
    be taken."""
    best = dict(rounds[0])
    for key, value in rounds[0].items():
        if isinstance(value, float):
            times = [min(r[f"{key}_s"][i] for r in rounds) for i in (0, 1)]
            best[f"{key}_s"] = times
            best[key] = times[1] / times[0]
    return best


# -- images -----------------------------------------------------------------------------------


def helpers_image(workdir: Path) -> Path:
    base = workdir / "helpers-1g"
    if not Path(f"{base}.vmcore").exists():
        from vmintro.generate import generate
        from vmintro.scenario.loader import parse_scenario

        print(f"generating {base}.vmcore (1 GiB, HIGHMEM) ...", flush=True)
        scen = parse_scenario(HELPERS_SCENARIO, "helpers.toml")
        generate(base, scen, {"ram": 1 << 30, "highmem": True}, timeline=False)
    return base


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
    ap.add_argument("--areas-image", help="bench_library.py's areas image (base path)")
    ap.add_argument("--repl-image", default="/tmp/big-timeline")
    ap.add_argument("--repeat", type=int, default=5, help="timed passes of each in a process")
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes of each form")
    ap.add_argument("--prompts", type=int, default=5, help="REPL starts timed")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--image", help=argparse.SUPPRESS)
    ap.add_argument("--addrs", help=argparse.SUPPRESS)
    ap.add_argument("--lows", help=argparse.SUPPRESS)
    return ap


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement: ``c`` and ``py`` (the best of the rounds of each form: a
    ratio and ``[vmintro's, drgn's]`` seconds per row), ``prompt`` (seconds), the
    images read."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        image = helpers_image(workdir)
        if args.areas_image is None:
            from bench_library import ensure_image

            args.areas_image = str(ensure_image(workdir, "areas"))
        addr_file, low_file = addresses(image, Path(tmp))
        common = [
            "--image", str(image), "--addrs", str(addr_file), "--lows", str(low_file),
            "--areas-image", args.areas_image, "--repeat", str(args.repeat),
        ]  # fmt: skip
        runs: dict[str, list[dict[str, Any]]] = {"c": [], "py": []}
        for r in range(args.rounds):
            print(f"round {r + 1} of {args.rounds} ...", flush=True)
            runs["c"].append(run_worker(common, pure=False))
            runs["py"].append(run_worker(common, pure=True))
        c, py = best_of(runs["c"]), best_of(runs["py"])
    if not c["speedups"] or py["speedups"]:
        raise SystemExit("the C forms are not built (python3 setup.py build_ext --inplace)")

    from bench_repl_startup import time_to_prompt
    from bench_timeline import ensure_image as ensure_timeline_image

    ensure_timeline_image(args.repl_image)
    time_to_prompt(args.repl_image)  # the page cache warm, as a second start finds it
    prompt = min(time_to_prompt(args.repl_image) for _ in range(args.prompts))
    return {
        "c": c,
        "py": py,
        "prompt": prompt,
        "images": {"helpers": str(image), "walk": args.areas_image, "repl": args.repl_image},
    }


def main() -> int:
    args = parser().parse_args()
    if args.worker:
        json.dump(worker(args), sys.stdout)
        return 0

    load_before = os.getloadavg()
    m = measure(args)
    c, py, prompt = m["c"], m["py"], m["prompt"]
    load_after = os.getloadavg()

    rows: list[tuple[str, str, str, str, str]] = []
    failures = 0

    def row(what: str, form: str, ratio: float, target: float) -> None:
        nonlocal failures
        ok = ratio >= target
        failures += not ok
        rows.append((what, form, f"{ratio:.2f}x", f">= {target:g}x", "PASS" if ok else "FAIL"))

    n = c["n"]
    for name in HELPERS:
        for form, result in (("C", c), ("Python", py)):
            row(f"{name} vs drgn read_u32 ({n:,} addresses)", form, result[name], TARGET_HELPERS)
    walked = c["walk_n"]
    for form, result in (("C", c), ("Python", py)):
        row(f"walk {walked:,} vm areas' addr/size/flags vs drgn", form, result["walk"], TARGET_WALK)
    ok = prompt < TARGET_PROMPT_S
    failures += not ok
    rows.append(
        (
            "REPL first prompt, 4 GiB + timeline",
            "C",
            f"{prompt:.3f} s",
            "< 0.3 s",
            "PASS" if ok else "FAIL",
        )
    )

    print()
    print(f"python {sys.version.split()[0]}, drgn {c['version']}, {os.cpu_count()} CPUs, "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")  # fmt: skip
    images = m["images"]
    print(f"helpers: {images['helpers']}.vmcore; walk: {images['walk']}.vmcore; "
          f"REPL: {images['repl']}")  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'':{width}}  {'form':6}  {'measured':>9}  {'target':>8}  result")
    for what, form, value, target, result in rows:
        print(f"{what:{width}}  {form:6}  {value:>9}  {target:>8}  {result}")
    print()
    print(f"FAIL: {failures}" if failures else "all targets met")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
