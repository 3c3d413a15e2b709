"""``vmintro check``: run the checker over many images, in parallel processes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TextIO

from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from vmintro.escape import escape_text

__all__ = ["CLEAN", "check_images"]

# What an image without findings gets, here and from the REPL's check.
CLEAN = "clean"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _failure(path: str, error: str) -> dict[str, Any]:
    return {"image": path, "error": _one_line(error), "findings": []}


def _check_one(path: str, vmlinux: str | None = None) -> dict[str, Any]:
    """Findings of one image (with ``vmlinux``, when given, as its kernel), or why it
    could not be read: plain data, to cross processes.

    Whatever goes wrong with this image ends here, as its own error line: one
    bad image never costs the others of a batch their result.
    """
    import vmintro
    from vmintro.check import check_program
    from vmintro.errors import VmintroError
    from vmintro.exercises.policy import NOT_AVAILABLE, image_policy

    try:
        prog = vmintro.open(path, vmlinux)
        policy = image_policy(prog)  # an exercise's image: check would name its answer
        if policy is not None:
            return _failure(path, f"{path}: exercise {policy.exercise}: check: {NOT_AVAILABLE}")
        findings = [f.as_dict() for f in check_program(prog)]
    except VmintroError as e:
        return _failure(path, str(e))
    except OSError as e:
        return _failure(path, f"{path}: {e.strerror or e}")
    except Exception as e:  # noqa: BLE001 - any failure of this image is its result alone
        return _failure(path, f"{path}: internal error: {type(e).__name__}: {e}")
    return {"image": path, "error": None, "findings": findings}


def _check_alone(path: str, vmlinux: str | None) -> dict[str, Any]:
    """``path`` checked in a process of its own, after a process of the pool died."""
    with ProcessPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(_check_one, path, vmlinux).result()
        except BrokenProcessPool:
            return _failure(path, f"{path}: the process checking it died")


def _check_parallel(paths: Sequence[str], jobs: int, vmlinux: str | None) -> list[dict[str, Any]]:
    """Every image checked in a pool of ``jobs`` processes, results in the order given.

    A process that dies (killed, out of memory, a crash in a C library) takes
    every image still queued with it; those are checked again one by one, so
    only the image that kills its process is reported as failed.
    """
    results: list[dict[str, Any] | None] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_check_one, p, vmlinux) for p in paths]
        for path, future in zip(paths, futures, strict=True):
            try:
                results.append(future.result())
            except BrokenProcessPool:
                results.append(None)
            except Exception as e:  # noqa: BLE001 - a result that cannot come back
                results.append(_failure(path, f"{path}: internal error: {e}"))
    return [
        r if r is not None else _check_alone(p, vmlinux)
        for p, r in zip(paths, results, strict=True)
    ]


def check_images(
    paths: Sequence[str],
    out: TextIO,
    as_json: bool = False,
    jobs: int = 1,
    vmlinux: str | None = None,
) -> int:
    """Check every image, each with ``vmlinux`` as its kernel when given (else the
    ``NAME.vmlinux`` beside it): 0 when all are clean, 1 on findings, 2 when one is
    unreadable.
    """
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(paths)))
    if jobs == 1:
        results = [_check_one(p, vmlinux) for p in paths]
    else:
        results = _check_parallel(paths, jobs, vmlinux)
    if as_json:  # one line, as every --json of vmintro prints
        from vmintro.commands.render import json_line

        out.write(json_line({"images": results}) + "\n")
    else:
        for r in results:
            prefix = f"{r['image']}: " if len(paths) > 1 else ""
            # Messages quote names from the image: escaped before they reach a terminal.
            if r["error"]:
                out.write(f"{prefix}error: {escape_text(r['error'])}\n")
            for f in r["findings"]:
                out.write(f"{prefix}{f['kind']}: {escape_text(f['message'])}\n")
            if not r["error"] and not r["findings"]:
                out.write(f"{prefix}{CLEAN}\n")
    if any(r["error"] for r in results):
        return EXIT_USAGE
    # a state 2.4.20 leaves itself (a stale page-directory copy) is reported, not failed
    failed = any(not f.get("legal") for r in results for f in r["findings"])
    return EXIT_FAILED if failed else EXIT_OK
