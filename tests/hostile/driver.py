"""Run many entry-point jobs in one process, each between markers: ``driver.py JOBS.json``.

``driver.py --library IMAGE`` runs the library job alone.

A job is ``{"id": ..., "kind": "cli", "argv": [...]}`` (what ``vmintro ARGV`` does,
through :func:`vmintro.cli.main`) or ``{"id": ..., "kind": "library", "image": ...}``
(what a script using the library does). Before a job the driver writes
``@@hostile-begin ID@@`` to both streams, after it ``@@hostile-end ID STATUS@@``.

The driver catches nothing a user's process would not: an exception escaping a job
ends the process with its traceback, and the parent blames the job whose begin has
no end (then starts a new driver on the jobs after it). The library job catches
:class:`~vmintro.errors.VmintroError` only: that is the library's documented way of
refusing an image.
"""

from __future__ import annotations

import gc
import json
import sys
from typing import Any


def mark(*words: object) -> None:
    text = "\n@@hostile-" + " ".join(str(w) for w in words) + "@@\n"
    for stream in (sys.stdout, sys.stderr):
        stream.write(text)
        stream.flush()


def run_cli(job: dict[str, Any]) -> int:
    from vmintro.cli import main

    try:
        return main(job["argv"])
    except SystemExit as e:  # argparse's usage errors: what the process would exit with
        return e.code if isinstance(e.code, int) else 1


def run_library(job: dict[str, Any]) -> int:
    """vmintro.open, every area and the page behind its first address, then check."""
    import vmintro
    from vmintro.check import check_program
    from vmintro.errors import VmintroError
    from vmintro.helpers import for_each_vm_area, vmalloc_to_page

    try:
        prog = vmintro.open(job["image"])
    except VmintroError as e:
        print(f"open: {e}")
        return 2
    status = 0
    try:
        areas = list(for_each_vm_area(prog))
    except VmintroError as e:
        print(f"for_each_vm_area: {e}")
        areas, status = [], 1
    for area in areas:
        try:
            addr = area.addr.value_()
            page = vmalloc_to_page(prog, addr)  # None: NULL, nothing mapped there
            print(f"{addr:#x} {'NULL' if page is None else f'{page.value_():#x}'}")
        except VmintroError as e:
            print(f"vmalloc_to_page: {e}")
            status = 1
    try:
        findings = check_program(prog)
    except VmintroError as e:
        print(f"check_program: {e}")
        return 1
    for f in findings:
        print(f)
    return status


RUNNERS = {"cli": run_cli, "library": run_library}


def main() -> None:
    if sys.argv[1] == "--library":  # one library job, to reproduce a failure
        sys.exit(run_library({"image": sys.argv[2]}))
    with open(sys.argv[1], encoding="utf-8") as f:
        jobs = json.load(f)
    for job in jobs:
        mark("begin", job["id"])
        status = RUNNERS[job["kind"]](job)
        mark("end", job["id"], status)
        gc.collect()  # what one image left behind is not charged to the next


if __name__ == "__main__":
    main()
