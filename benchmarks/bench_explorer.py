"""The explorer's first paint in Debian's headless Chromium, served and from a file.

python benchmarks/bench_explorer.py [IMAGE ...] [--runs N]

For each image (the demo by default): the time ``vmintro serve`` spends reading the
image before it prints its URL, then, over N page loads, the time from navigation
start to the first contentful paint and to every view drawn (the page's
``vmintro-ready`` mark), for the served page and for the file ``vmintro html``
writes (also: how long writing it takes and its size). Best and median of N. On
an image with a timeline, also the time of one step back with the slider's
button, from the click to every view drawn, over --steps steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "explorer"))
sys.path.insert(0, str(ROOT / "tests"))

import vmintro  # noqa: E402
from vmintro.explorer.document import file_document  # noqa: E402
from vmintro.explorer.page import self_contained  # noqa: E402
from vmintro.explorer.server import make_server  # noqa: E402

TIMES = """
const nav = performance.getEntriesByType('navigation')[0];
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
const ready = performance.getEntriesByName('vmintro-ready')[0];
return [fcp ? fcp.startTime : null, ready ? ready.startTime : null];
"""

MOMENT = "return document.body.dataset.moment"


def load(driver: Any, url: str, runs: int) -> tuple[list[float], list[float]]:
    from explorer_browser import wait_for

    paints, readies = [], []
    for _ in range(runs):
        driver.get("about:blank")
        driver.get(url)
        # both marks: the paint entry may be recorded a frame after the views are drawn
        paint, ready = wait_for(
            lambda: (times := driver.execute_script(TIMES)) and None not in times and times,
            url,
            120,
        )
        paints.append(paint)
        readies.append(ready)
    return paints, readies


def steps(driver: Any, count: int) -> list[float]:
    """Click "one entry back" ``count`` times from the last entry: each move's time from
    the click to every view drawn (the page's own measure, ``data-step-ms``)."""
    from explorer_browser import wait_for

    times = []
    for _ in range(count):
        now = int(driver.execute_script(MOMENT))
        if now == 0:
            break
        driver.find_element("id", "tl-back").click()
        wait_for(lambda n=now: driver.execute_script(MOMENT) == str(n - 1), "a step", 120)
        times.append(float(driver.execute_script("return document.body.dataset.stepMs")))
    return times


def line(what: str, values: list[float]) -> str:
    return f"  {what:42} best {min(values):7.0f} ms  median {statistics.median(values):7.0f} ms"


def main() -> None:
    from explorer_browser import start, stop

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("images", nargs="*", default=[str(ROOT / "images" / "demo")])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="timeline steps to time")
    args = ap.parse_args()
    driver, profile = start()
    try:
        for image in args.images:
            t = time.perf_counter()
            prog = vmintro.open(image)
            server = make_server(prog, Path(image).name)
            server.explorer.document()
            read = time.perf_counter() - t
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            host, port = server.server_address[:2]
            print(f"{image}: {prog.ram_size >> 20} MiB, "
                  f"{len(server.explorer.document()['snapshot']['areas'])} vm areas")  # fmt: skip
            print(f"  serve: image read before the URL is printed {read * 1000:7.0f} ms")
            paints, readies = load(driver, f"http://{host}:{port}/", args.runs)
            print(line("served: first contentful paint", paints))
            print(line("served: every view drawn", readies))
            if server.explorer.timeline is not None:
                moved = steps(driver, args.steps)
                print(line(f"served: one step back ({len(moved)} steps)", moved))
                print(f"  {'':42} worst {max(moved):7.0f} ms")
            server.shutdown()
            server.server_close()
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "explorer.html"
                t = time.perf_counter()
                out.write_text(self_contained(file_document(vmintro.open(image), "bench")))
                wrote = time.perf_counter() - t
                print(
                    f"  html: written in {wrote * 1000:.0f} ms, {out.stat().st_size / 1e6:.1f} MB"
                )
                paints, readies = load(driver, out.as_uri(), args.runs)
                print(line("file: first contentful paint", paints))
                print(line("file: every view drawn", readies))
                if server.explorer.timeline is not None:
                    moved = steps(driver, args.steps)
                    print(line(f"file: one step back ({len(moved)} steps)", moved))
                    print(f"  {'':42} worst {max(moved):7.0f} ms")
    finally:
        stop(driver, profile)


if __name__ == "__main__":
    main()
