"""Fixtures of the explorer's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from explorer_support import demo_truth


@pytest.fixture(scope="session")
def truth() -> dict[str, Any]:
    return demo_truth()


@pytest.fixture(scope="session")
def timeline_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo scenario generated with its timeline (NAME.timeline beside the core)."""
    from vmintro.generate import generate

    base = tmp_path_factory.mktemp("timeline") / "demo"
    generate(base, "demo")
    timeline = Path(f"{base}.timeline")
    if not timeline.exists():
        # a generator that writes no timeline yet: the same run again, recorded, as
        # the generator records it, for the core just written
        from vmintro.image.format.timeline import encode_timeline
        from vmintro.scenario.loader import load_scenario
        from vmintro.scenario.runner import machine_config, run_scenario
        from vmintro.timeline.source import core_digest

        scen = load_scenario("demo")
        cfg, seed = machine_config(scen, {})
        recorder = run_scenario(scen, cfg, seed, record=True).recorder
        assert recorder is not None
        digest = core_digest(Path(f"{base}.vmcore"))
        timeline.write_bytes(encode_timeline(recorder.timeline(digest)))
    return base
