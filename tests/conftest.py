"""Shared test fixtures: the oracle programs (gdb, drgn) and generated images.

How a missing oracle is handled (a skip, or in CI a failure) is in ``oracles.py``.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from oracles import import_oracle, need_oracle

from vmintro.commands.discovery import unload_plugins
from vmintro.generate import generate

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "images" / "demo"

T = TypeVar("T")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """pyproject's ``-n auto``: no workers when the run names a single test file (with
    ``--dist loadfile`` its tests would all go to one worker, and a second would only add
    its start); otherwise pytest-xdist's own count, one worker per CPU."""
    named = {Path(arg.split("::")[0]) for arg in config.args}
    if len(named) == 1 and next(iter(named)).is_file():
        return 0
    return None


@pytest.fixture(scope="module", autouse=True)
def _no_plugins_left() -> Iterator[None]:
    """What a test module runs in this process (``main``, a session, the explorer) loads
    the shipped plugins: they are forgotten after each module, so that the next module
    a worker runs, whichever it is, sees only the commands it loads."""
    yield
    unload_plugins()


@pytest.fixture(scope="session")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Callable[[Path], T]], T]:
    """``built_once(key, build)``: what ``build(DIR)`` returned, run once per test run for
    each ``key``, with ``DIR`` an empty directory of its own for what it writes.

    Under pytest-xdist each worker is a process of its own with its own session: this
    keeps the images a session builds (seconds each) to one build for all the workers.
    The first worker to ask builds while holding a lock on the key, in the run's shared
    temporary directory; the others wait for it and read what it built, and its result,
    pickled beside. Whatever is built this way is only read by the tests.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's directory, above each worker's own
    root = base / "built-once"
    root.mkdir(exist_ok=True)
    known: dict[str, Any] = {}

    def once(key: str, build: Callable[[Path], T]) -> T:
        if key not in known:
            name = re.sub(r"[^\w.=-]+", "_", key)
            with open(root / f"{name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
                result = root / f"{name}.pickle"
                if not result.exists():
                    out = root / name
                    shutil.rmtree(out, ignore_errors=True)  # what a failed build left
                    out.mkdir()
                    result.write_bytes(pickle.dumps(build(out)))
                known[key] = pickle.loads(result.read_bytes())
        return known[key]  # type: ignore[no-any-return]

    return once


@pytest.fixture(scope="session")
def gdb() -> str:
    path = shutil.which("gdb")
    need_oracle("gdb", path is not None)
    assert path is not None
    return path


@pytest.fixture(scope="session")
def gdb_loader(
    built_once: Callable[[str, Callable[[Path], tuple[str, Path]]], tuple[str, Path]], gdb: str
) -> tuple[str, Path]:
    """gdb, and the file the real ``vmintro gdb-script`` subcommand writes to load the
    extension into it: written and tried once per test run (``built_once``), for every
    test that runs gdb with vmintro inside.

    When gdb's Python is another version than this one and lacks pyelftools, construct
    or numpy, the loader can only say so (its one-line ImportError, which
    tests/test_gdb_extension.py tests): then the tests that need vmintro inside gdb are
    skipped, or fail where oracles are required.
    """

    def build(directory: Path) -> tuple[str, Path]:
        out = directory / "vmintro-gdb.py"
        made = subprocess.run(
            [sys.executable, "-m", "vmintro.cli", "gdb-script", "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        assert made.stdout.strip() == str(out.resolve())
        works = subprocess.run(
            [gdb, "-batch", "-nx", "-x", str(out), "-ex", "help vm"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        missing = re.search(r"ImportError: (vmintro needs .*)", works.stderr)
        need_oracle(
            f"gdb's Python with vmintro's dependencies ({missing and missing[1]})", not missing
        )
        assert "vmlist" in works.stdout, works.stdout + works.stderr
        return gdb, out

    return built_once("gdb-loader", build)


@pytest.fixture(scope="session")
def demo_on(built_once: Callable[[str, Callable[[Path], Path]], Path]) -> Callable[..., Path]:
    """``demo_on(name, **machine)``: the demo scenario generated on that machine (the
    overrides ``generate`` takes: ram, highmem, pae, ...) once per test run
    (``built_once``), as ``DIR/name``; a later call for the same machine, from any test
    file, gets that image. The tests only read it. A machine with PAE has HIGHMEM
    (CONFIG_HIGHMEM64G), said or not.
    """

    def demo(name: str, **machine: Any) -> Path:
        if machine.get("pae"):
            machine.setdefault("highmem", True)

        def build(out: Path) -> Path:
            generate(out / name, "demo", machine)
            return out / name

        key = "demo" + "".join(f"-{k}={v}" for k, v in sorted(machine.items()))
        return built_once(key, build)

    return demo


@pytest.fixture(scope="session")
def image_set(demo_on: Callable[..., Path]) -> dict[str, Path]:
    """The demo image plus HIGHMEM and PAE builds of the same scenario.

    The HIGHMEM machine has 1 GiB, more than the 896 MiB the kernel maps directly,
    so its HighMem zone has frames (vmalloc pages among them); the PAE one has 64 MiB.
    """
    return {
        "demo": DEMO,
        "highmem": demo_on("highmem", ram=1 << 30, highmem=True),
        "pae": demo_on("pae", pae=True),
    }


@pytest.fixture(scope="session")
def drgn_available() -> bool:
    import_oracle("drgn")
    return True


@pytest.fixture(scope="session")
def process_images(built_once: Callable[[str, Callable[[Path], Any]], Any]) -> dict[str, Any]:
    """Two 32 MiB machines with processes, 2-level and PAE (``process_images.py``):
    each a :class:`process_images.ProcessImage` holding what the simulator did, built
    once per test run (``built_once``)."""
    from process_images import build_process_image

    def build(out: Path) -> dict[str, Any]:
        return {name: build_process_image(out / name, name == "pae") for name in ("2level", "pae")}

    return built_once("processes", build)  # type: ignore[no-any-return]
