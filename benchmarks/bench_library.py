"""vmintro's reader side by side with volatility3 and drgn, on 4 GiB HIGHMEM images.

    python benchmarks/bench_library.py [--workdir DIR] [--image BASE] [--bulk-image BASE]

Two images of one machine (4 GiB, CONFIG_HIGHMEM, 2-level paging):

* ``areas``: a seeded mix of 15,000 one-page vmallocs and vfrees, leaving more
  than 10,000 live areas (one page each, plus its guard page) in the 88 MiB of
  VMALLOC space;
* ``bulk``: VMALLOC space filled with 2 MiB areas, ~22,000 mapped pages.

Generating ``areas`` takes the simulator a couple of minutes; ``--workdir``
keeps both images for the next run (the scenarios are seeded, so the files are
the same every time), ``--image``/``--bulk-image`` use images made elsewhere.

Measured, each library in its own fresh process, timed inside that process
with ``time.perf_counter``:

1. Single-address translation of a vmalloc address (one address in every
   mapped page of every ``areas`` area): ``Program.translate``; volatility3's
   ``Intel`` layer ``translate`` over a physical layer made of the core's
   PT_LOAD segments; drgn's ``Program.read(addr, 1)``, since drgn 0.3.0 has no
   translation API for i386 (``follow_phys`` raises NotImplementedError there)
   and reads vmalloc addresses through libkdumpfile's own page-table walk.
   "cold" is the first pass in a fresh process, "warm" the best of ``--repeat``
   passes after it; the targets apply to both.
2. Bulk translation of all pages of all areas: ``translate_many`` over the
   page array, and ``vmalloc_area_pfns(prog)`` from the vmlist walk on.
3. Walking every vm area with typed objects, reading addr, size and flags:
   ``for_each_vm_area`` against drgn's ``while node: ...; node = node.next``.
   vmintro's member access, scalar reads and list walk run in C where
   ``vmintro/_speedups.c`` was built (the target applies to that); the same
   walk on a ``Program(..., accelerated=False)`` shows the Python forms.
4. Resident memory of the vmintro process after all of the above
   (``VmRSS`` and the peak ``VmHWM`` of ``/proc/self/status``).
5. One small physical read from the core: ``CoreFile.read_phys(paddr, 4)`` at
   a stored frame in the middle of the ``areas`` core, per call (best of
   ``--repeat`` runs of 20,000 calls).

The three libraries must agree: the physical addresses (volatility3), the
bytes read (drgn) and the area lists are compared before anything is printed.
drgn runs in a child process because libkdumpfile can crash on some cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stale import current, record

HERE = Path(__file__).resolve()
RAM = 4 << 30
PAGE = 4096
IN_PAGE = 0x123  # the offset translated inside each page: not only page starts

# scenario name -> TOML; both are seeded, so an image made once can be reused
SCENARIOS = {
    "areas": (
        "# >10,000 live one-page vmalloc areas on a 4 GiB HIGHMEM machine\n"
        "[[step]]\nop = 'random'\ncount = 15000\nmin_size = '4K'\nmax_size = '4K'\n"
        "free_ratio = 0.15\n"
    ),
    "bulk": (
        "# VMALLOC space filled with 2 MiB areas (allocations that do not fit fail)\n"
        "[[step]]\nop = 'random'\ncount = 64\nmin_size = '2M'\nmax_size = '2M'\n"
        "free_ratio = 0.0\n"
    ),
}
MIN_AREAS = 10_000

# (what, target ratio or bound) of every PASS/FAIL line
TARGET_VOLATILITY = 5.0
TARGET_DRGN = 1.5
TARGET_BULK = 20e6
TARGET_RSS_MIB = 100.0
TARGET_READ_PHYS_US = 1.5
READ_PHYS_CALLS = 20_000


# -- images ----------------------------------------------------------------------------


def ensure_image(workdir: Path, name: str, page_cache: float | None = None) -> Path:
    """``workdir/name`` generated from :data:`SCENARIOS` unless it is already there;
    with ``page_cache`` (``generate --page-cache``) ``workdir/name-pcN``: 0 leaves free
    memory as boot left it, so the core has a few ``PT_LOAD`` segments, not thousands."""
    base = workdir / (name if page_cache is None else f"{name}-pc{page_cache:g}")
    if current(base, ".vmlinux"):
        print(f"  reusing {base}.vmcore", flush=True)
        return base
    from vmintro.generate import generate
    from vmintro.scenario.loader import parse_scenario

    scen = parse_scenario(SCENARIOS[name], f"{name}.toml")
    print(f"  generating {base}.vmcore (4 GiB, HIGHMEM) ...", end=" ", flush=True)
    start = time.perf_counter()
    machine: dict[str, object] = {"ram": RAM, "highmem": True}
    if page_cache is not None:
        machine["page_cache"] = page_cache
    generate(base, scen, machine)
    record(base)
    print(f"{time.perf_counter() - start:.0f} s", flush=True)
    return base


def page_addresses(base: Path) -> tuple[np.ndarray, int]:
    """One address inside every mapped page of every vmlist area, and the area count."""
    import vmintro
    from vmintro.helpers import for_each_vm_area

    prog = vmintro.open(f"{base}.vmcore")
    pages = [
        np.arange(a.addr.value_(), a.addr.value_() + a.size.value_() - PAGE, PAGE)
        for a in for_each_vm_area(prog)
    ]
    allpages = np.concatenate(pages)
    mapped = allpages[prog.translate_many(allpages) >= 0]
    return mapped + IN_PAGE, len(pages)


# -- timing helpers (run inside the workers) ------------------------------------------------


def passes(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(first pass, best of ``repeat`` further passes), in seconds."""
    start = time.perf_counter()
    fn()
    cold = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return cold, best


def each(fn: Callable[[Any], Any], items: list[Any]) -> Callable[[], None]:
    """One pass of ``fn`` over ``items``: a plain loop, nothing added per call."""

    def one_pass() -> None:
        for item in items:
            fn(item)

    return one_pass


def status_kib(field: str) -> int:
    """A ``kB`` line of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def digest(values: list[int] | list[bytes]) -> str:
    h = hashlib.sha1()
    for v in values:
        h.update(v if isinstance(v, bytes) else v.to_bytes(8, "little", signed=True))
    return h.hexdigest()


# -- workers: one library per process ------------------------------------------------------


def worker_vmintro(args: argparse.Namespace) -> dict[str, Any]:
    import vmintro
    from vmintro.helpers import for_each_vm_area, vmalloc_area_pfns
    from vmintro.program import Program

    out: dict[str, Any] = {}
    addrs_np = np.load(args.addrs)
    addrs = addrs_np.tolist()
    start = time.perf_counter()
    prog = vmintro.open(f"{args.image}.vmcore")
    out["open_s"] = time.perf_counter() - start
    out["rss_open_kib"] = status_kib("VmRSS")

    translate = prog.translate
    out["single_cold"], out["single_warm"] = passes(each(translate, addrs), args.repeat)
    out["single_n"] = len(addrs)
    # The same on the Python forms alone, as an install without a C compiler runs it
    # (in a program of its own, so its first pass walks again; the file's pages are
    # already resident, though).
    pure = Program(prog.backend, accelerated=False)
    out["single_py_cold"], out["single_py_warm"] = passes(each(pure.translate, addrs), args.repeat)

    def walk(p: Any = prog) -> int:
        n = 0
        for area in for_each_vm_area(p):
            area.addr.value_()
            area.size.value_()
            area.flags.value_()
            n += 1
        return n

    out["speedups"] = prog._speedups is not None
    out["walk_cold"], out["walk_warm"] = passes(walk, args.repeat)
    out["walk_n"] = walk()
    out["walk_py_cold"], out["walk_py_warm"] = passes(lambda: walk(pure), args.repeat)

    for name, image, addr_file in (
        ("areas", args.image, args.addrs),
        ("bulk", args.bulk_image, args.bulk_addrs),
    ):
        p = prog if name == "areas" else vmintro.open(f"{image}.vmcore")
        pages = np.load(addr_file) & ~(PAGE - 1)
        many = p.translate_many
        _cold, best = passes(lambda p=pages, m=many: m(p), args.repeat)
        out[f"bulk_{name}_pages"] = int(pages.size)
        out[f"bulk_{name}_tm"] = best
        _cold, best = passes(lambda p=p: vmalloc_area_pfns(p), args.repeat)
        out[f"bulk_{name}_pfns"] = best
        assert int((vmalloc_area_pfns(p) >= 0).sum()) == pages.size
    out["rss_kib"] = status_kib("VmRSS")
    out["hwm_kib"] = status_kib("VmHWM")
    out["rss_file_kib"] = status_kib("RssFile")

    # What the other libraries are checked against; reading a byte of every page
    # maps each page of the core into this process, so it comes after the RSS.
    out["phys"] = digest([translate(va) for va in addrs])
    out["bytes"] = digest([prog.read(va, 1) for va in addrs])
    out["areas"] = digest(
        [v for a in for_each_vm_area(prog) for v in (a.value_(), a.addr.value_(), a.size.value_())]
    )
    out["rss_read_kib"] = status_kib("VmRSS")
    out["rss_read_file_kib"] = status_kib("RssFile")

    core = prog.backend.core
    paddr = core.segments[len(core.segments) // 2][0] + 16
    runs = timeit.repeat(
        lambda: core.read_phys(paddr, 4), number=READ_PHYS_CALLS, repeat=max(1, args.repeat)
    )
    out["read_phys_s"] = min(runs) / READ_PHYS_CALLS
    return out


def drgn_vmlist_walk(prog: Any) -> int:
    """drgn's walk of ``vmlist`` reading each area's addr, size and flags: the areas."""
    n = 0
    node = prog["vmlist"]
    while node:
        node.addr.value_()
        node.size.value_()
        node.flags.value_()
        node = node.next
        n += 1
    return n


def worker_drgn(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["DRGN_USE_LIBKDUMPFILE_FOR_ELF"] = "1"  # before drgn is imported
    import drgn

    out: dict[str, Any] = {"version": drgn.__version__}
    addrs = np.load(args.addrs).tolist()
    start = time.perf_counter()
    prog = drgn.Program()
    prog.set_core_dump(f"{args.image}.vmcore")
    prog.main_module("kernel", create=True).try_file(f"{args.image}.vmlinux", force=True)
    out["open_s"] = time.perf_counter() - start
    try:
        from drgn.helpers.linux.mm import follow_phys

        follow_phys(prog["init_mm"].address_of_(), addrs[0])
        out["follow_phys"] = "available"
    except (NotImplementedError, ValueError, LookupError) as e:
        out["follow_phys"] = f"{type(e).__name__}: {e}"
    read = prog.read

    def single() -> None:
        for va in addrs:
            read(va, 1)

    out["single_cold"], out["single_warm"] = passes(single, args.repeat)
    out["single_n"] = len(addrs)
    out["bytes"] = digest([read(va, 1) for va in addrs])

    def walk() -> int:
        return drgn_vmlist_walk(prog)

    out["walk_cold"], out["walk_warm"] = passes(walk, args.repeat)
    out["walk_n"] = walk()
    areas = []
    node = prog["vmlist"]
    while node:
        areas += [node.value_(), node.addr.value_(), node.size.value_()]
        node = node.next
    out["areas"] = digest(areas)
    return out


def worker_volatility(args: argparse.Namespace) -> dict[str, Any]:
    from vmintro.interop.volatility import volatility_layer

    out: dict[str, Any] = {}
    addrs = np.load(args.addrs).tolist()
    start = time.perf_counter()
    layer, _, _ = volatility_layer(f"{args.image}.vmcore", args.pgd, False)
    out["open_s"] = time.perf_counter() - start
    translate = layer.translate
    out["single_cold"], out["single_warm"] = passes(each(translate, addrs), args.repeat)
    out["single_n"] = len(addrs)
    out["phys"] = digest([translate(va)[0] for va in addrs])
    walk_only = layer._translate  # the page-table walk alone, without mapping()
    out["walk_only_cold"], out["walk_only_warm"] = passes(each(walk_only, addrs), args.repeat)
    return out


WORKERS = {"vmintro": worker_vmintro, "drgn": worker_drgn, "volatility": worker_volatility}


def run_worker(kind: str, extra: list[str]) -> dict[str, Any]:
    """One worker in a fresh interpreter; its JSON, or why there is none."""
    proc = subprocess.run(
        [sys.executable, str(HERE), "--worker", kind, *extra],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        why = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        return {"error": f"{kind} worker failed ({why}): {last}"}
    return json.loads(proc.stdout)


# -- report ----------------------------------------------------------------------------------


def ns(seconds: float, n: int) -> str:
    return f"{seconds / n * 1e9:8.0f} ns"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(r: dict[str, dict[str, Any]], n_areas: int, images: dict[str, Path]) -> int:
    vmi, vol, dr = r["vmintro"], r["volatility"], r["drgn"]
    failures = 0
    rows: list[tuple[str, str, str, str]] = []

    def row(what: str, value: str, target: str = "", result: str = "") -> None:
        rows.append((what, value, target, result))

    def check(what: str, value: str, target: str, ok: bool) -> None:
        nonlocal failures
        failures += not ok
        row(what, value, target, verdict(ok))

    n = vmi["single_n"]
    row(f"1. translate one vmalloc address ({n:,} pages of {n_areas:,} areas)", "cold / warm")
    forms = "C forms" if vmi["speedups"] else "C forms NOT BUILT: Python"
    row(
        f"   vmintro  Program.translate ({forms})",
        f"{ns(vmi['single_cold'], n)} / {ns(vmi['single_warm'], n)}",
    )
    row(
        "   vmintro  Program.translate (Python forms, accelerated=False)",
        f"{ns(vmi['single_py_cold'], n)} / {ns(vmi['single_py_warm'], n)}",
    )
    if "error" not in vol:
        row(
            "   volatility3 Intel.translate",
            f"{ns(vol['single_cold'], n)} / {ns(vol['single_warm'], n)}",
        )
        row(
            "   volatility3 Intel._translate (walk only)",
            f"{ns(vol['walk_only_cold'], n)} / {ns(vol['walk_only_warm'], n)}",
        )
        ratio = vol["single_warm"] / vmi["single_warm"]
        check("   vmintro vs volatility3 translate (warm)", f"{ratio:6.1f}x", ">= 5x", ratio >= 5)
        ratio = vol["single_cold"] / vmi["single_cold"]
        check("   vmintro vs volatility3 translate (cold)", f"{ratio:6.1f}x", ">= 5x", ratio >= 5)
        ratio = vol["walk_only_warm"] / vmi["single_warm"]
        row("   vmintro vs volatility3 _translate (warm)", f"{ratio:6.1f}x")
    else:
        check("   volatility3", vol["error"], ">= 5x", False)
    if "error" not in dr:
        row(
            "   drgn Program.read(addr, 1)",
            f"{ns(dr['single_cold'], n)} / {ns(dr['single_warm'], n)}",
        )
        ratio = dr["single_warm"] / vmi["single_warm"]
        check("   vmintro vs drgn (warm)", f"{ratio:6.1f}x", ">= 1.5x", ratio >= 1.5)
        ratio = dr["single_cold"] / vmi["single_cold"]
        check("   vmintro vs drgn (cold, first pass)", f"{ratio:6.1f}x", ">= 1.5x", ratio >= 1.5)
    else:
        check("   drgn", dr["error"], ">= 1.5x", False)

    row("2. bulk translation, all pages of all areas", "pages/s")
    for name in ("areas", "bulk"):
        pages = vmi[f"bulk_{name}_pages"]
        rate = pages / vmi[f"bulk_{name}_tm"]
        check(
            f"   translate_many, '{name}' image ({pages:,} pages)",
            f"{rate / 1e6:6.1f} M",
            ">= 20 M",
            rate >= TARGET_BULK,
        )
        rate = pages / vmi[f"bulk_{name}_pfns"]
        row(f"   vmalloc_area_pfns(prog), vmlist walk included, '{name}'", f"{rate / 1e6:6.1f} M")

    walked = vmi["walk_n"]
    row(f"3. walk {walked:,} vm areas reading addr/size/flags", "cold / warm")
    row(
        f"   vmintro  for_each_vm_area ({forms})",
        f"{vmi['walk_cold'] * 1e3:6.1f} ms / {vmi['walk_warm'] * 1e3:6.1f} ms",
    )
    row(
        "   vmintro  for_each_vm_area (Python forms, accelerated=False)",
        f"{vmi['walk_py_cold'] * 1e3:6.1f} ms / {vmi['walk_py_warm'] * 1e3:6.1f} ms",
    )
    if "error" not in dr:
        row(
            "   drgn     while node: ... node = node.next",
            f"{dr['walk_cold'] * 1e3:6.1f} ms / {dr['walk_warm'] * 1e3:6.1f} ms",
        )
        ratio = dr["walk_warm"] / vmi["walk_warm"]
        check("   vmintro vs drgn (warm)", f"{ratio:6.2f}x", "> 1x", ratio > 1)
        ratio = dr["walk_cold"] / vmi["walk_cold"]
        check("   vmintro vs drgn (cold, first pass)", f"{ratio:6.2f}x", "> 1x", ratio > 1)
    else:
        check("   drgn", dr["error"], "> 1x", False)

    rss = vmi["rss_kib"] / 1024
    row("4. vmintro resident memory, 4 GiB image", "")
    row("   VmRSS after opening", f"{vmi['rss_open_kib'] / 1024:6.1f} MiB")
    check("   VmRSS after all of the above", f"{rss:6.1f} MiB", "< 100 MiB", rss < TARGET_RSS_MIB)
    row("     of which core pages mapped (RssFile)", f"{vmi['rss_file_kib'] / 1024:6.1f} MiB")
    row("   VmHWM (peak)", f"{vmi['hwm_kib'] / 1024:6.1f} MiB")
    row(
        f"   VmRSS after also reading a byte of each of the {n:,} pages",
        f"{vmi['rss_read_kib'] / 1024:6.1f} MiB",
    )
    row("     of which core pages mapped (RssFile)", f"{vmi['rss_read_file_kib'] / 1024:6.1f} MiB")

    per_read = vmi["read_phys_s"] * 1e6
    row("5. one small physical read from the core", "per call")
    check(
        "   CoreFile.read_phys(paddr, 4)",
        f"{per_read * 1e3:6.0f} ns",
        f"<= {TARGET_READ_PHYS_US} us",
        per_read <= TARGET_READ_PHYS_US,
    )

    width = max(len(w) for w, *_ in rows)
    print()
    print(f"images: {images['areas']}.vmcore ({n_areas:,} areas), {images['bulk']}.vmcore")
    print(
        f"python {sys.version.split()[0]}, drgn {dr.get('version', '?')}, "
        f"drgn follow_phys on i386: {dr.get('follow_phys', '?')}"
    )
    print()
    print(f"{'':{width}}  {'measured':>21}  {'target':>10}  result")
    for what, value, target, result in rows:
        print(f"{what:{width}}  {value:>21}  {target:>10}  {result}")
    print()
    print("FAIL: " + str(failures) if failures else "all targets met")
    return failures


def consistency(r: dict[str, dict[str, Any]]) -> None:
    """The libraries must agree before their speeds mean anything."""
    vmi, vol, dr = r["vmintro"], r["volatility"], r["drgn"]
    if "error" not in vol and vol["phys"] != vmi["phys"]:
        raise SystemExit("volatility3 and vmintro translate differently")
    if "error" not in dr:
        if dr["bytes"] != vmi["bytes"]:
            raise SystemExit("drgn and vmintro read different bytes")
        if (dr["areas"], dr["walk_n"]) != (vmi["areas"], vmi["walk_n"]):
            raise SystemExit("drgn and vmintro walk different vmlists")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="keep (and reuse) the images here")
    ap.add_argument("--image", type=Path, help="the >=10,000-area image (base path)")
    ap.add_argument("--bulk-image", type=Path, help="the image of large areas (base path)")
    ap.add_argument("--repeat", type=int, default=7, help="timed passes after the first")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--addrs", help=argparse.SUPPRESS)
    ap.add_argument("--bulk-addrs", help=argparse.SUPPRESS)
    ap.add_argument("--pgd", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        json.dump(WORKERS[args.worker](args), sys.stdout)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print("images:", flush=True)
        images = {
            "areas": args.image or ensure_image(workdir, "areas"),
            "bulk": args.bulk_image or ensure_image(workdir, "bulk"),
        }
        addrs, n_areas = page_addresses(images["areas"])
        bulk_addrs, _ = page_addresses(images["bulk"])
        if n_areas < MIN_AREAS:
            raise SystemExit(f"{images['areas']}: {n_areas} areas, fewer than {MIN_AREAS}")
        addr_file, bulk_file = Path(tmp) / "addrs.npy", Path(tmp) / "bulk.npy"
        np.save(addr_file, addrs)
        np.save(bulk_file, bulk_addrs)
        import vmintro

        pgd = vmintro.open(f"{images['areas']}.vmcore").swapper_pg_dir
        common = [
            "--image", str(images["areas"]), "--bulk-image", str(images["bulk"]),
            "--addrs", str(addr_file), "--bulk-addrs", str(bulk_file),
            "--pgd", str(pgd), "--repeat", str(args.repeat),
        ]  # fmt: skip
        results = {}
        for kind in ("vmintro", "volatility", "drgn"):
            print(f"running {kind} ...", flush=True)
            results[kind] = run_worker(kind, common)
        if "error" in results["vmintro"]:
            raise SystemExit(results["vmintro"]["error"])
        consistency(results)
        failures = report(results, n_areas, images)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
