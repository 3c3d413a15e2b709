"""Seeded mutations of every bundled image through every entry point.

The short run is part of the default suite: seed ``SHORT_SEED``, the first
``SHORT_COUNT`` indexes. The long one (``-m fuzz_long``) runs new indexes of a seed
until ``VMINTRO_FUZZ_SECONDS`` (default 300) have passed; ``.ci/run`` runs it after the
main suite. A failure prints the seed, the index, what was changed, the symptom and
the two commands that reproduce it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from oracles import need_oracle

from .bases import IMAGES
from .fuzz import fuzz
from .harness import Failure
from .mutate import KINDS

SHORT_SEED = 1
SHORT_COUNT = 12
# Mutation kinds the short run leaves out while the holes they find are open (the long
# run keeps them all); each line names the hole.
SHORT_EXCLUDED: dict[str, str] = {}

ENTRY_POINTS = (
    "-c",
    "--json -c",
    "check",
    "check --json -j 2",
    "map -o",
    "map --area -o",
    "map --area",
    "diff IMAGE_B",
    "library",
    "gdb vm",
)


def _optional_gdb(request: pytest.FixtureRequest) -> tuple[str, Path] | None:
    """gdb with the extension when available; else None (its test skips or fails alone)."""
    try:
        return request.getfixturevalue("gdb_loader")
    except pytest.skip.Exception:
        return None


def _report(failures: list[Failure], seed: int, ran: int) -> str:
    head = f"seed {seed}: {ran} images, {len(failures)} failures\n\n"
    return head + "\n\n".join(str(f) for f in failures)


@pytest.fixture(scope="module")
def short_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[Failure], int, bool]:
    """The short run's failures, how many images it ran, and whether gdb was among them."""
    gdb = _optional_gdb(request)
    kinds = set(KINDS) - set(SHORT_EXCLUDED)
    failures, ran = fuzz(
        SHORT_SEED,
        tmp_path_factory.mktemp("fuzz"),
        count=SHORT_COUNT,
        kinds=kinds,
        gdb=gdb,
        gdb_share=0.25,
        check_batch=IMAGES / "demo",
        round_size=SHORT_COUNT,
    )
    return failures, ran, gdb is not None


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_short_fuzz(short_run: tuple[list[Failure], int, bool], entry: str) -> None:
    failures, ran, with_gdb = short_run
    if entry == "gdb vm":
        need_oracle("gdb with vmintro's extension", with_gdb)
    assert ran >= SHORT_COUNT // 2, "the excluded kinds left too few images"
    mine = [f for f in failures if f.entry.split(" (")[0] == entry]
    if mine:
        pytest.fail(_report(mine, SHORT_SEED, ran), pytrace=False)


@pytest.mark.fuzz_long
def test_long_fuzz(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Every kind, new indexes until the budget is spent (VMINTRO_FUZZ_SECONDS, and at
    most VMINTRO_FUZZ_COUNT images when given); the seed is the day's unless
    VMINTRO_FUZZ_SEED gives one."""
    seconds = float(os.environ.get("VMINTRO_FUZZ_SECONDS", "300"))
    count = int(os.environ["VMINTRO_FUZZ_COUNT"]) if "VMINTRO_FUZZ_COUNT" in os.environ else None
    seed = int(os.environ.get("VMINTRO_FUZZ_SEED", time.strftime("%Y%m%d")))
    failures, ran = fuzz(
        seed,
        tmp_path,
        count=count,
        seconds=seconds,
        gdb=_optional_gdb(request),
        gdb_share=0.1,
        check_batch=IMAGES / "demo",
    )
    print(f"seed {seed}: {ran} images in {seconds:.0f} s")
    if failures:
        pytest.fail(_report(failures, seed, ran), pytrace=False)
