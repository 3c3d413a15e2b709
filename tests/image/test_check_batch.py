"""``vmintro check`` over many images: one bad image never costs the others their result.

Before, one image whose note made the reader recurse too deeply aborted the
whole batch with a traceback, losing every other image's result.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from hostile_files import DEMO, copy_demo, run_vmintro, set_vmintro_note

import vmintro
from vmintro import checkrun


@pytest.fixture
def nested(tmp_path: Path) -> Path:
    base = copy_demo(tmp_path, "nested")
    set_vmintro_note(Path(f"{base}.vmcore"), b"[" * 5000 + b"]" * 5000)
    return base


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_bad_image_keeps_the_good_ones_results(nested: Path, jobs: str) -> None:
    proc = run_vmintro("check", "-j", jobs, str(DEMO), str(nested), str(DEMO))
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode == 2
    assert proc.stdout.splitlines() == [
        f"{DEMO}: clean",
        f"{nested}: error: nested.vmcore: VMINTRO note: JSON nested more than 2 deep",
        f"{DEMO}: clean",
    ]


def test_json_batch_names_the_bad_image(nested: Path) -> None:
    proc = run_vmintro("check", "--json", "-j", "2", str(nested), str(DEMO))
    assert proc.returncode == 2
    images = json.loads(proc.stdout)["images"]
    assert [(r["image"], r["error"] is None) for r in images] == [
        (str(nested), False),
        (str(DEMO), True),
    ]


def _dies_for_bad(path: str, vmlinux: str | None = None) -> dict:
    """An image whose check kills its process, as the kernel's OOM killer would."""
    if "bad" in path:
        os._exit(137)
    return _real_check_one(path, vmlinux)


_real_check_one = checkrun._check_one


def test_any_exception_is_that_images_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import vmintro.check

    real = vmintro.check.check_program

    def fails_for_bad(prog: vmintro.Program) -> list:
        if prog.backend.vmcore_path.name == "bad.vmcore":
            raise RuntimeError("boom\nhere")
        return real(prog)

    monkeypatch.setattr(vmintro.check, "check_program", fails_for_bad)
    bad = copy_demo(tmp_path, "bad")
    out = io.StringIO()
    assert checkrun.check_images([str(bad), str(DEMO)], out) == 2
    assert out.getvalue().splitlines() == [
        f"{bad}: error: {bad}: internal error: RuntimeError: boom here",
        f"{DEMO}: clean",
    ]


def test_a_dead_worker_costs_only_its_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkrun, "_check_one", _dies_for_bad)
    out = io.StringIO()
    status = checkrun.check_images([str(DEMO), "bad", str(DEMO), str(DEMO)], out, jobs=2)
    assert status == 2
    assert out.getvalue().splitlines() == [
        f"{DEMO}: clean",
        "bad: error: bad: the process checking it died",
        f"{DEMO}: clean",
        f"{DEMO}: clean",
    ]
