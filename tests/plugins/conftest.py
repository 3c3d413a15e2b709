"""Fixtures of the plugin tests: the shipped plugins loaded, the demo image and a
1 GiB HIGHMEM image (a real HighMem zone) with their ground truth.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pluginkit import DEMO, DEMO_MODULE_SIZES, HIGHMEM_MODULE_SIZES, HIGHMEM_SCENARIO, Image

from vmintro.commands.discovery import Plugin, load_plugins, unload_plugins
from vmintro.generate import generate


@pytest.fixture(scope="module", autouse=True)
def shipped_plugins() -> Iterator[list[Plugin]]:
    """The plugins of plugins/ (and of any entry point), unloaded after each module
    so that the tests elsewhere see only what they load."""
    unload_plugins()
    errors = io.StringIO()
    plugins = load_plugins(err=errors)
    assert errors.getvalue() == ""
    yield plugins
    unload_plugins()


@pytest.fixture(scope="session")
def highmem_path(built_once: Callable[[str, Callable[[Path], Path]], Path]) -> Path:
    """The 1 GiB HIGHMEM image, generated once per test run (``built_once``)."""

    def build(out: Path) -> Path:
        scenario = out / "scenario.toml"
        scenario.write_text(HIGHMEM_SCENARIO)
        generate(out / "highmem", str(scenario), {"ram": 1 << 30, "highmem": True, "seed": 11})
        return out / "highmem"

    return built_once("plugins-highmem", build)


@pytest.fixture(scope="session")
def demo() -> Image:
    return Image(DEMO, DEMO_MODULE_SIZES)


@pytest.fixture(scope="session")
def highmem(highmem_path: Path) -> Image:
    return Image(highmem_path, HIGHMEM_MODULE_SIZES)


@pytest.fixture(params=["demo", "highmem"])
def image(request: pytest.FixtureRequest) -> Image:
    """Each test that takes ``image`` runs on both images."""
    return request.getfixturevalue(request.param)
