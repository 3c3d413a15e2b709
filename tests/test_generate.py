"""The generator: determinism, the bundled demo image, atomic writes, bad scenarios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vmintro.generate import generate
from vmintro.image.writer import image_paths
from vmintro.scenario.loader import ScenarioError, parse_scenario

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "images"


def _read_all(base: Path) -> dict[str, bytes]:
    return {k: p.read_bytes() for k, p in image_paths(base).items()}


def test_same_arguments_give_identical_files(tmp_path: Path) -> None:
    a = _read_all(_gen(tmp_path / "a", seed=7))
    b = _read_all(_gen(tmp_path / "b", seed=7))
    assert a == b


def test_seed_changes_the_image(tmp_path: Path) -> None:
    a = _read_all(_gen(tmp_path / "a", seed=1))
    b = _read_all(_gen(tmp_path / "b", seed=2))
    assert a["vmcore"] != b["vmcore"]


def _gen(base: Path, **overrides: int) -> Path:
    generate(base, "busy", {"ram": 32 << 20, **overrides})
    return base


def test_bundled_demo_is_reproducible(tmp_path: Path) -> None:
    """images/demo.* is exactly what 'vmintro generate -o images/demo' writes."""
    committed = _read_all(IMAGES / "demo")
    generate(tmp_path / "demo")
    assert _read_all(tmp_path / "demo") == committed


def test_demo_truth_matches_its_scenario() -> None:
    truth = json.loads((IMAGES / "demo.truth.json").read_text())
    owners = [a["owner"] for a in truth["areas"]]
    assert "module ext3" in owners and "module usbcore" not in owners
    assert any(a["flags"] == 1 for a in truth["areas"])  # the frame-buffer ioremap
    assert {f["owner"] for f in truth["freed"]} >= {"module usbcore", "scratch"}
    assert truth["config"] == {"ram": 64 << 20, "highmem": False, "pae": False, "pse": True}


def test_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vmintro.image.writer as writer

    def boom(spec, path):  # noqa: ANN001
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "write_vmcore", boom)
    with pytest.raises(RuntimeError):
        generate(tmp_path / "x", "minimal", {"ram": 16 << 20})
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "x.vmlinux"]
    assert leftovers == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[step]]\nop = 'vmalloc'\n", "bad.toml:1: step 1 (vmalloc): missing 'size'"),
        (
            "[[step]]\nop = 'vmalloc'\nsize = '4K'\n\n[[step]]\nop = 'frob'\n",
            "bad.toml:5: step 2: unknown op 'frob'",
        ),
        ("[machine]\nram = 'lots'\n", "bad.toml: [machine] ram: bad size 'lots'"),
        ("[[step]]\nop = 'vfree'\n", "give exactly one of 'label' or 'addr'"),
        ("[[step\n", "not valid TOML"),
    ],
)
def test_bad_scenarios_name_file_line_and_step(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.toml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_cli_reports_bad_scenario_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[step]]\nop = 'insmod'\nname = 'x'\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vmintro.cli",
            "generate",
            "-o",
            str(tmp_path / "o"),
            "--scenario",
            str(bad),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "bad.toml:1: step 1 (insmod): missing 'size'" in proc.stderr
    assert not list(tmp_path.glob("o.*"))


def test_cli_rejects_pae_without_highmem(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vmintro.cli",
            "generate",
            "-q",
            "-o",
            str(tmp_path / "o"),
            "--pae",
            "--no-highmem",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "PAE needs HIGHMEM" in proc.stderr


def test_kernel_bug_stops_the_run_naming_the_step(tmp_path: Path) -> None:
    scen = parse_scenario("[[step]]\nop = 'vmalloc'\nsize = 0\n", "zero.toml")
    with pytest.raises(ScenarioError) as info:
        generate(tmp_path / "z", scen, {"ram": 16 << 20})
    assert "zero.toml:1: step 1 (vmalloc): kernel BUG in __vmalloc()" in str(info.value)


def test_allowed_kernel_bug_is_recorded_and_memory_unchanged(tmp_path: Path) -> None:
    scen = parse_scenario("[[step]]\nop = 'vmalloc'\nsize = 0\nallow_bug = true\n", "zero.toml")
    generate(tmp_path / "z", scen, {"ram": 16 << 20})
    base = parse_scenario("", "empty.toml")
    generate(tmp_path / "e", base, {"ram": 16 << 20})
    assert (tmp_path / "z.vmcore").read_bytes() != b""
    truth = json.loads((tmp_path / "z.truth.json").read_text())
    assert truth["events"][0]["bug"].startswith("kernel BUG in __vmalloc()")
    assert truth["areas"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ram", "5G", "--highmem"], "vmintro: --highmem --ram (with demo: [machine]): RAM of "),
        (["--ram", "20G", "--pae"], "16G with PAE"),
    ],
)
def test_cli_names_the_options_behind_a_bad_machine(
    tmp_path: Path, args: list[str], message: str
) -> None:
    base = [sys.executable, "-m", "vmintro.cli", "generate", "-q", "-o", str(tmp_path / "o")]
    proc = subprocess.run(base + args, capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not list(tmp_path.glob("o.*"))
