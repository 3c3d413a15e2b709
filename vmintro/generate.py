"""The generator: scenario -> simulator -> image files."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from vmintro._version import __version__
from vmintro.image.format.timeline import timeline_encoder
from vmintro.image.writer.install import check_output, write_image
from vmintro.image.writer.snapshot import snapshot
from vmintro.scenario.loader import Scenario, ScenarioError, load_scenario
from vmintro.scenario.runner import (
    anon_of,
    machine_config,
    page_cache_of,
    run_scenario,
    run_truth,
)

__all__ = ["DEFAULT_SCENARIO", "generate"]

DEFAULT_SCENARIO = "demo"


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off: a run makes millions of objects, which live
    until it ends and hold no cycles to find, and each collection would walk all of
    them again (a cost growing with the run). What cycles there are (an exception's
    traceback) are collected once it is back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@_collector_paused()
def generate(
    out: str | os.PathLike[str],
    scenario: str | Scenario = DEFAULT_SCENARIO,
    overrides: dict[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    warn: Callable[[str], None] | None = None,
    timeline: bool = True,
    exercise: str | None = None,
) -> dict[str, Path]:
    """Run ``scenario`` on a fresh machine and write ``out``.vmcore/.vmlinux/.truth.json
    and, with ``timeline``, ``out``.timeline: every entry point the run called and
    every write to RAM it made (:mod:`vmintro.image.format.timeline`).

    ``overrides`` (``ram``, ``highmem``, ``pae``, ``pse``, ``seed``, ``page_cache``,
    ``anon``) win over the scenario's ``[machine]`` table. The same arguments give
    byte-identical files, and an image already at ``out`` is replaced as a whole set.
    ``warn`` hears, in one line, of a run that stopped early (a step the kernel
    would never return from, allowed by ``allow_bug = true``).
    ``exercise`` makes the image that exercise's: its note names it and leaves the
    seed out (the seed gives the variant, and so its answer, without solving it).
    """
    check_output(out)  # a bad name is refused before the machine boots
    scen = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    overrides = dict(overrides or {})
    cfg, seed = machine_config(scen, overrides)
    for key in ("page_cache", "anon"):  # the command line wins here too
        if overrides.get(key) is not None:
            scen = replace(scen, machine={**scen.machine, key: overrides[key]})

    def step_progress(done: int, total: int) -> None:
        if progress:
            progress("running scenario", done, total)

    if progress:
        progress("booting", 0, 1)
    result = run_scenario(scen, cfg, seed, step_progress, record=timeline)
    generator = {
        "version": __version__,
        "scenario": scen.name,
        "seed": seed,
        "ram": cfg.ram,
        "highmem": cfg.highmem,
        "pae": cfg.pae,
        "pse": cfg.pse,
        "page_cache": page_cache_of(scen),
        "anon": anon_of(scen, cfg),
    }
    if exercise is not None:
        del generator["seed"]
        generator["exercise"] = exercise
    spec = snapshot(result.kernel, generator, run_truth(result))
    if progress:
        progress("writing image", 0, 1)
    recorder = result.recorder
    # the timeline compresses while the core is written; its header takes the core's digest
    try:
        encode = None if recorder is None else timeline_encoder(recorder.timeline(bytes(32)))
    except ValueError as e:  # an entry no kernel call makes: the simulator's fault, not the user's
        raise ScenarioError(
            f"{scen.name}: the run's timeline cannot be recorded ({e}); "
            "--no-timeline writes the image without it"
        ) from None
    paths = write_image(spec, out, encode)
    if progress:
        progress("writing image", 1, 1)
    if result.stopped and warn:  # after the progress line, which it would break
        warn(f"{result.stopped}; the image shows that moment")
    return paths
