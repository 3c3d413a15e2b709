"""Without images/ beside the package, the demo is generated into the cache, same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

import vmintro.demo as demo


def test_checkout_demo_is_used() -> None:
    assert demo.default_image() == Path(demo.__file__).resolve().parent.parent / "images" / "demo"


def test_generated_into_cache_when_not_bundled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "_CHECKOUT_IMAGES", tmp_path / "nothing-here")
    monkeypatch.setenv("VMINTRO_CACHE_DIR", str(tmp_path / "cache"))
    path = demo.default_image()
    assert path.parent.parent == tmp_path / "cache"
    bundled = Path(demo.__file__).resolve().parent.parent / "images" / "demo"
    for ext in (".vmcore", ".vmlinux"):
        assert Path(f"{path}{ext}").read_bytes() == Path(f"{bundled}{ext}").read_bytes()
    stamp = Path(f"{path}.vmcore").stat().st_mtime_ns
    assert demo.default_image() == path  # second use: no regeneration
    assert Path(f"{path}.vmcore").stat().st_mtime_ns == stamp
