"""The generator: determinism, the bundled demo image, atomic writes, bad scenarios."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from generate_cli import one_line_failure, vmintro_cli

import vmintro
from vmintro.generate import generate
from vmintro.image.writer.install import image_paths
from vmintro.scenario.loader import ScenarioError, parse_scenario
from vmintro.sim.errors import BUG_SITES

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "images"


def _read_all(base: Path) -> dict[str, bytes]:
    return {k: p.read_bytes() for k, p in image_paths(base).items() if p.exists()}


def test_same_arguments_give_identical_files(tmp_path: Path) -> None:
    a = _read_all(_gen(tmp_path / "a", seed=7))
    b = _read_all(_gen(tmp_path / "b", seed=7))
    assert sorted(a) == ["timeline", "truth", "vmcore", "vmlinux"]
    assert a == b


def test_the_timeline_belongs_to_its_core_and_no_timeline_omits_it(tmp_path: Path) -> None:
    from vmintro.image.format.timeline import decode_timeline

    files = _read_all(_gen(tmp_path / "x", seed=3))
    t = decode_timeline(files["timeline"])
    assert t.core_digest == hashlib.sha256(files["vmcore"]).digest()
    assert t.ram_size == 32 << 20 and t.entries[0].write_count == 0
    assert len(t.entries) > 10 and len(t.writes) > 100
    # Replaced without one: the old timeline goes with the old set.
    proc = vmintro_cli("generate", "-q", "--no-timeline", "--scenario", "busy", "--ram", "32M",
                       "--seed", "3", "-o", str(tmp_path / "x"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.truth.json", "x.vmcore", "x.vmlinux"]
    # The rest of the image is the same with or without it.
    assert _read_all(tmp_path / "x") == {k: v for k, v in files.items() if k != "timeline"}


def test_seed_changes_the_image(tmp_path: Path) -> None:
    a = _read_all(_gen(tmp_path / "a", seed=1))
    b = _read_all(_gen(tmp_path / "b", seed=2))
    assert a["vmcore"] != b["vmcore"]


def _gen(base: Path, **overrides: int) -> Path:
    generate(base, "busy", {"ram": 32 << 20, **overrides})
    return base


def test_bundled_demo_is_reproducible(demo_on: Callable[..., Path]) -> None:
    """images/demo.* is exactly what 'vmintro generate -o images/demo' writes (the
    session's generation of the demo, ``demo_on``)."""
    committed = _read_all(IMAGES / "demo")
    assert _read_all(demo_on("demo")) == committed


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
    import vmintro.image.writer.install as writer

    def half_a_core(spec):  # noqa: ANN001, ANN202
        def write(f):  # noqa: ANN001, ANN202
            f.write(b"\x7fELF")
            raise RuntimeError("disk full")

        return write

    monkeypatch.setattr(writer, "vmcore_writer", half_a_core)
    with pytest.raises(RuntimeError):
        generate(tmp_path / "x", "minimal", {"ram": 16 << 20})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[step]]\nop = 'vmalloc'\n", "bad.toml:1: step 1 (vmalloc): missing 'size'"),
        (
            "[[step]]\nop = 'vmalloc'\nsize = '4K'\n\n[[step]]\nop = 'frob'\n",
            "bad.toml:5: step 2: unknown op 'frob'",
        ),
        ("[machine]\nram = 'lots'\n", "bad.toml:1: [machine] ram: bad size 'lots'"),
        ("[[step]]\nop = 'vfree'\n", "give exactly one of 'label' or 'addr'"),
        ("[[step\n", "not valid TOML"),
    ],
)
def test_bad_scenarios_name_file_line_and_step(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.toml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[step]]\nop = 'insmod'\nname = 'x'\n", "bad.toml:1: step 1 (insmod): missing 'size'"),
        # values each well formed that make no machine together: the table's line
        (
            "name = 'small'\n\n[machine]\nram = '1K'\n",
            "bad.toml:3: [machine]: RAM of 1 KiB: it must be between 16M and 4G without PAE",
        ),
    ],
)
def test_cli_reports_bad_scenario_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
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
    assert message in proc.stderr
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
    assert "zero.toml:1: step 1 (vmalloc): kernel BUG at vmalloc.c:242!" in str(info.value)


def test_allowed_kernel_bug_is_recorded_and_memory_unchanged(tmp_path: Path) -> None:
    scen = parse_scenario("[[step]]\nop = 'vmalloc'\nsize = 0\nallow_bug = true\n", "zero.toml")
    generate(tmp_path / "z", scen, {"ram": 16 << 20})
    base = parse_scenario("", "empty.toml")
    generate(tmp_path / "e", base, {"ram": 16 << 20})
    assert (tmp_path / "z.vmcore").read_bytes() != b""
    truth = json.loads((tmp_path / "z.truth.json").read_text())
    assert truth["events"][0]["bug"].startswith("kernel BUG at vmalloc.c:242!")
    assert truth["areas"] == []


def test_a_kernel_bug_is_logged_in_2_4_20s_words(tmp_path: Path) -> None:
    """handle_BUG's ``kernel BUG at FILE:LINE!``, then die()'s trap name, as the log holds them."""
    scen = parse_scenario("[[step]]\nop = 'vmalloc'\nsize = 0\nallow_bug = true\n", "zero.toml")
    generate(tmp_path / "z", scen, {"ram": 16 << 20})
    log = vmintro_cli("-c", "log", str(tmp_path / "z")).stdout.splitlines()
    at = log.index("kernel BUG at vmalloc.c:242!")
    assert log[at + 1] == "invalid operand: 0000"


def test_every_bug_the_simulator_raises_has_its_source_line() -> None:
    sim = Path(vmintro.__file__).parent / "sim"
    raised = {
        (m.group(1), m.group(2))
        for f in sim.glob("*.py")
        for m in re.finditer(r'KernelBug\(\s*"([^"]+)",\s*"([^"]+)"', f.read_text())
    }
    assert raised and raised <= set(BUG_SITES), raised - set(BUG_SITES)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--ram", "5G", "--highmem"],
            "vmintro: --highmem --ram (with demo:9: [machine]): RAM of ",
        ),
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


# -- replacing an image: the three files as one set -----------------------------------------


def _set_of(base: Path) -> dict[str, bytes]:
    """The image ``base`` as a reader finds it now: each file's bytes, staged or named."""
    from vmintro.image.format.names import current_paths

    return {kind: path.read_bytes() for kind, path in current_paths(base).items() if path.exists()}


def _opened(base: Path) -> dict[str, bytes]:
    """The core and vmlinux ``vmintro.open`` reads for ``base`` (which must open)."""
    import vmintro

    prog = vmintro.open(base)
    backend = prog.backend
    files = {"vmcore": backend.vmcore_path, "vmlinux": backend.vmlinux_path}
    # the timeline of the set opened, wherever the replacement has it now: one
    # of another core would be refused here
    assert prog.timeline is not None
    backend.close()
    return {kind: Path(path).read_bytes() for kind, path in files.items()}


def test_a_replacement_stopped_at_any_rename_leaves_a_whole_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill between any two renames: the name is the old set or the new one, for
    vmintro.open and for the truth; the next generate finishes or clears the rest.

    The old image is a 2-level build and the new one PAE, so their vmlinux files
    differ and a mixed pair would be refused ("does not belong")."""
    old_args: dict = {"ram": 16 << 20}
    new_args: dict = {"ram": 32 << 20, "pae": True}
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    generate(tmp_path / "old" / "x", "minimal", old_args)
    generate(tmp_path / "new" / "x", "minimal", new_args)
    old, new = _read_all(tmp_path / "old" / "x"), _read_all(tmp_path / "new" / "x")
    assert old["vmlinux"] != new["vmlinux"]
    real_replace = os.replace
    for stop_at in range(8):  # 4 files staged, then 4 renamed into place
        work = tmp_path / f"stop{stop_at}"
        frozen = tmp_path / f"frozen{stop_at}"
        shutil.copytree(tmp_path / "old", work)
        calls = []

        def replace(src, dst, *, _work=work, _frozen=frozen, _stop=stop_at, _calls=calls):  # noqa: ANN001, ANN202
            if len(_calls) == _stop:  # what a SIGKILL here would leave on disk
                shutil.copytree(_work, _frozen)
                raise KeyboardInterrupt
            _calls.append(dst)
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(KeyboardInterrupt):
            generate(work / "x", "minimal", new_args)
        monkeypatch.setattr(os, "replace", real_replace)
        now = _set_of(frozen / "x")
        assert now in (old, new), f"stopped before rename {stop_at}: a mixed set"
        assert _opened(frozen / "x") == {k: now[k] for k in ("vmcore", "vmlinux")}
        generate(frozen / "x", "minimal", new_args)  # finishes or clears what was left
        assert sorted(p.name for p in frozen.iterdir()) == _NAMES
        assert _read_all(frozen / "x") == new


def test_stale_temporaries_are_removed_by_the_next_generate(tmp_path: Path) -> None:
    base = tmp_path / "x"
    generate(base, "minimal", {"ram": 16 << 20})
    half_written = tmp_path / ".x.new.vmcore.tmp"  # a writer killed while writing the core
    half_written.write_bytes(b"\x7fELF" + bytes(1 << 20))
    (tmp_path / ".x.new.vmlinux").write_bytes(b"staged, but no staged core")
    legacy = tmp_path / ".x.vmcore.k2j4x_9q.tmp"  # what earlier versions wrote through
    legacy.write_bytes(b"\x7fELF")
    old = time.time() - 3600
    os.utime(legacy, (old, old))
    recent = tmp_path / ".x.vmcore.abcd1234.tmp"  # maybe another process's, still at work
    recent.write_bytes(b"\x7fELF")
    other = tmp_path / ".y.new.vmcore.tmp"  # another image's: not this run's business
    other.write_bytes(b"")
    assert vmintro.open(base)  # the leftovers are no part of the image
    generate(base, "minimal", {"ram": 16 << 20, "seed": 1})
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".x.vmcore.abcd1234.tmp", ".y.new.vmcore.tmp", *_NAMES]


_NAMES = ["x.timeline", "x.truth.json", "x.vmcore", "x.vmlinux"]


@pytest.mark.parametrize(("kind", "what"), [("vmcore", "a directory"), ("vmlinux", "a FIFO")])
def test_a_file_of_the_image_that_is_not_a_file_is_refused_first(
    tmp_path: Path, kind: str, what: str
) -> None:
    base = tmp_path / "x"
    generate(base, "minimal", {"ram": 16 << 20})
    before = _read_all(base)
    target = image_paths(base)[kind]
    target.unlink()
    if what == "a directory":
        target.mkdir()
    else:
        os.mkfifo(target)
    proc = vmintro_cli("generate", "-q", "--scenario", "minimal", "-o", str(base))
    line = one_line_failure(proc, 2)
    assert line == f"vmintro: {target}: is {what}, not a file of an image; nothing was written"
    after = {k: p.read_bytes() for k, p in image_paths(base).items() if k != kind and p.exists()}
    assert after == {k: v for k, v in before.items() if k != kind}
    assert sorted(p.name for p in tmp_path.iterdir()) == _NAMES


def test_writers_of_one_directory_take_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer waits for the directory's lock; one that never gets it writes nothing."""
    import fcntl

    import vmintro.image.writer.install as writer

    monkeypatch.setattr(writer, "LOCK_WAIT", 0.2)
    held = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # another writer, at work in this directory
        with pytest.raises(writer.ImageWriteError, match="another process has been writing"):
            generate(tmp_path / "x", "minimal", {"ram": 16 << 20})
        assert list(tmp_path.iterdir()) == []
    finally:
        os.close(held)
    generate(tmp_path / "x", "minimal", {"ram": 16 << 20})  # the lock is free again
    assert sorted(p.name for p in tmp_path.iterdir()) == _NAMES
