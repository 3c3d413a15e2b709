"""``vmintro check``: run the checker over many images, in parallel processes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TextIO

__all__ = ["CLEAN", "check_images"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_UNREADABLE = 0, 1, 2
# What an image without findings gets, here and from the REPL's check.
CLEAN = "clean"


def _check_one(path: str) -> dict[str, Any]:
    """Findings of one image, or why it could not be read: plain data, to cross processes."""
    import vmintro
    from vmintro.check import check_program
    from vmintro.errors import VmintroError

    try:
        prog = vmintro.open(path)
        findings = [f.as_dict() for f in check_program(prog)]
    except VmintroError as e:
        return {"image": path, "error": str(e), "findings": []}
    except OSError as e:
        return {"image": path, "error": f"{path}: {e.strerror}", "findings": []}
    return {"image": path, "error": None, "findings": findings}


def check_images(paths: Sequence[str], out: TextIO, as_json: bool = False, jobs: int = 1) -> int:
    """Check every image: 0 when all are clean, 1 on findings, 2 when one is unreadable."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(paths)))
    if jobs == 1:
        results = [_check_one(p) for p in paths]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_check_one, paths))
    if as_json:  # one line, as every --json of vmintro prints
        from vmintro.commands.render import json_line

        out.write(json_line({"images": results}) + "\n")
    else:
        for r in results:
            prefix = f"{r['image']}: " if len(paths) > 1 else ""
            if r["error"]:
                out.write(f"{prefix}error: {r['error']}\n")
            for f in r["findings"]:
                out.write(f"{prefix}{f['kind']}: {f['message']}\n")
            if not r["error"] and not r["findings"]:
                out.write(f"{prefix}{CLEAN}\n")
    if any(r["error"] for r in results):
        return EXIT_UNREADABLE
    return EXIT_FINDINGS if any(r["findings"] for r in results) else EXIT_CLEAN
