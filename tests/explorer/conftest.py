"""Fixtures of the explorer's tests."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from explorer_support import DEMO, HtmlRun, demo_truth


@pytest.fixture(scope="session")
def truth() -> dict[str, Any]:
    return demo_truth()


@pytest.fixture(scope="session")
def demo_html(built_once: Callable[[str, Callable[[Path], HtmlRun]], HtmlRun]) -> HtmlRun:
    """``vmintro html images/demo -o DIR/explorer.html`` over an older file of that name,
    run once per test run (``built_once``) in a test process (the ``main`` the console
    script calls): the page holds the walk of every page of every area and takes seconds
    to write, so the test of the command and the browser's test of the file it wrote
    share the one run. Nothing else is written in DIR, and no test changes the file."""
    from vmintro.cli import main

    def build(out: Path) -> HtmlRun:
        page = out / "explorer.html"
        page.write_text("an older file")
        stdout, stderr = io.StringIO(), io.StringIO()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            status = main(["html", str(DEMO), "-o", str(page)])
        return HtmlRun(status, stdout.getvalue(), stderr.getvalue(), page)

    return built_once("explorer-html", build)


@pytest.fixture(scope="session")
def timeline_image(demo_on: Callable[..., Path]) -> Path:
    """The demo scenario generated with its timeline (NAME.timeline beside the core):
    the session's one generation of it (``demo_on``)."""
    base = demo_on("demo")
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
