"""Scenarios and output names are typed by hand: every bad one is one line and exit 2.

Each case runs ``vmintro generate`` as a user types it, under an address-space
limit (a scenario of a few bytes once asked for gigabytes) and a hang guard; all
cases share one child process, so a case that goes wrong shows as its own
traceback. Nothing may be written, wherever the output name points.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from generate_cli import Run, one_line_failure, vmintro_cli_batch

_STEP = "[[step]]\nop = '{op}'\n{rest}\n"


def _step(op: str, **keys: object) -> str:
    return _STEP.format(op=op, rest="\n".join(f"{k} = {v}" for k, v in keys.items()))


_MODULE = {"name": "'m'", "size": "'64K'"}

# name -> (scenario text, what the one line must say after "FILE")
SCENARIOS: dict[str, tuple[str, str]] = {
    "exports-huge": (
        _step("insmod", **_MODULE, exports=1_000_000_000),
        ":1: step 1 (insmod) exports: 1000000000 is out of range: 0 to 10000",
    ),
    "exports-negative": (
        _step("insmod", **_MODULE, exports=-5),
        ":1: step 1 (insmod) exports: -5 is out of range",
    ),
    "dotted-key-200k": ("a" + ".a" * 100_000 + " = 1\n", ":1: a dotted key of 100001 parts"),
    "op-as-list": (_step("x", size="'4K'").replace("'x'", "['vmalloc']"), ":1: step 1: 'op' must"),
    "seed-5000-digits": ("[machine]\nseed = " + "9" * 5000 + "\n", ": not valid TOML: a number"),
    "seed-4000-digits": (
        "[machine]\nseed = " + "9" * 4000 + "\n",
        ":1: [machine] seed: a 4000-digit number is out of range",
    ),
    "seed-negative": ("[machine]\nseed = -1\n", ":1: [machine] seed: -1 is out of range"),
    "table-as-label": (
        _step("vmalloc", size="'4K'") + "[step.label]\nx = 1\n",
        ":1: step 1 (vmalloc) label: expected str, got {'x': 1}",
    ),
    "table-as-machine-ram": ("[machine.ram]\nx = 1\n", ": [machine] ram: expected size"),
    "deep-array": ("x = " + "[" * 50_000 + "]" * 50_000 + "\n", ": not valid TOML: values nested"),
    "swapon-size-zero": (_step("swapon", size=0), ":1: step 1 (swapon) size: 0 is out of range"),
    # each within its own bound, ten hours of generation together
    "random-steps-1e9-calls": (
        _step("random", count=100_000) * 10_000,
        ": its random steps make 1000000000 calls together (at most 1000000 are allowed)",
    ),
    "swapon-size-negative": (_step("swapon", size=-4096), ":1: step 1 (swapon) size: -4096 is"),
    "swapon-priority-negative": (
        _step("swapon", size="'1M'", priority=-1),
        ":1: step 1 (swapon) priority: -1 is out of range: 0 to 32767 (SWAP_FLAG_PRIO_MASK)",
    ),
    "vmalloc-size-past-32-bits": (
        _step("vmalloc", size="'8G'"),
        ":1: step 1 (vmalloc) size: 8589934592 is out of range: 0 to 0xffffffff",
    ),
    "random-count-huge": (
        _step("random", count=10**12),
        ":1: step 1 (random) count: 1000000000000 is out of range",
    ),
    "free-ratio-nan": (_step("random", count=3, free_ratio="nan"), "free_ratio: expected a num"),
    "module-size-huge": (
        _step("insmod", name="'m'", size="'1G'"),
        ":1: step 1 (insmod) size: 1073741824 is out of range: 0 to 64M",
    ),
    "label-100k": (_step("vmalloc", size="'4K'", label="'" + "x" * 100_000 + "'"), "label: 'xxx"),
    "label-with-escape": (
        _step("vmalloc", size="'4K'", label='"\\u001b]0;owned\\u0007"'),
        "label: '\\x1b]0;owned\\x07' has characters that do not print",
    ),
    "key-200k": ('"' + "k" * 200_000 + '" = 1\n', ": unknown top-level key(s): 'kkkk"),
    "name-not-a-string": ("name = 5\n", ": name: expected str, got 5"),
    "step-not-a-table-array": ("step = 5\n", ": 'step' must be an array of tables"),
    "machine-array": ("[[machine]]\nram = '16M'\n", ":1: [machine] must be a table"),
    "too-many-steps": (_step("vfree", addr=0) * 10_001, ": 10001 steps (at most 10000"),
    "bigger-than-1-MiB": ("# " + "x" * (1 << 20) + "\n", ": larger than 1 MiB"),
}


def _no_files_but(tmp_path: Path, *keep: Path) -> list[Path]:
    return sorted(p for p in tmp_path.rglob("*") if p not in keep)


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Run]]:
    """Every hostile scenario, in one limited child: name -> its run."""
    root = tmp_path_factory.mktemp("hostile")
    commands = []
    for name, (text, _) in SCENARIOS.items():
        (root / f"{name}.toml").write_text(text)
        args = ["generate", "-q", "--ram", "16M", "--scenario", f"{name}.toml", "-o", "out"]
        commands.append((root, args))
    (root / "not-utf8.toml").write_bytes(b"name = '\xff'\n")
    os.mkfifo(root / "fifo.toml")
    (root / "dir.toml").mkdir()
    specials = {"not-utf8": "not-utf8.toml", "fifo": "fifo.toml", "dir": "dir.toml"}
    specials["dev-zero"] = "/dev/zero"
    for scenario in specials.values():
        commands.append((root, ["generate", "-q", "--scenario", scenario, "-o", "out"]))
    runs = vmintro_cli_batch(commands)
    return root, dict(zip([*SCENARIOS, *specials], runs, strict=True))


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_hostile_scenario_is_one_line_and_exit_2(
    hostile_runs: tuple[Path, dict[str, Run]], name: str
) -> None:
    root, runs = hostile_runs
    line = one_line_failure(runs[name], 2)
    assert line.startswith(f"vmintro: {name}.toml"), line
    assert SCENARIOS[name][1] in line
    assert len(line) < 300 and "\x1b" not in line
    assert not list(root.glob("out*"))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not-utf8", "not-utf8.toml:1: not UTF-8 text"),
        ("fifo", "fifo.toml: is a FIFO, not a scenario file"),
        ("dir", "dir.toml: is a directory, not a scenario file"),
        ("dev-zero", "/dev/zero: is a character device, not a scenario file"),
    ],
)
def test_a_scenario_path_that_is_no_file_is_refused(
    hostile_runs: tuple[Path, dict[str, Run]], name: str, message: str
) -> None:
    root, runs = hostile_runs
    assert one_line_failure(runs[name], 2) == f"vmintro: {message}"
    assert not list(root.glob("out*"))


# -- -o: the image's name -----------------------------------------------------------------

OUTPUTS = {
    ".": "'.' names a directory, not an image: give DIR/NAME",
    "": "the image name is empty: give DIR/NAME",
    "..": "'..' names a directory, not an image: give DIR/NAME",
    "/": "'/' names a directory, not an image: give DIR/NAME",
    "d/": "'d/' names a directory, not an image: give DIR/NAME",
    "d/.": "'d/.' names a directory, not an image: give DIR/NAME",
    "d": "'d' is a directory, not an image: give DIR/NAME",
    "missing/x": "'missing/x': there is no directory 'missing'",
    "f/x": "'f/x': 'f' is not a directory",
}


def test_an_output_name_that_is_no_image_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "d").mkdir(parents=True)
    (work / "f").write_text("a file\n")
    before = _no_files_but(tmp_path)
    runs = vmintro_cli_batch(
        [(work, ["generate", "-q", "--scenario", "minimal", "-o", out]) for out in OUTPUTS]
    )
    for (out, message), run in zip(OUTPUTS.items(), runs, strict=True):
        assert one_line_failure(run, 2) == f"vmintro: {message}", out
    assert _no_files_but(tmp_path) == before
    assert not [p for p in (Path("/.vmcore"), Path("/.vmlinux")) if p.exists()]


OPTIONS = {
    ("--seed", "9" * 5000): "--seed: '99999",
    ("--seed", "-1"): "--seed: -1 is out of range: 0 to 0xffffffffffffffff (a 64-bit seed)",
    ("--ram", "9" * 5000 + "M"): "--ram: bad size '99999",
}


def test_machine_options_are_checked_as_a_scenario_is(tmp_path: Path) -> None:
    runs = vmintro_cli_batch(
        [(tmp_path, ["generate", "-q", "-o", "out", *option]) for option in OPTIONS]
    )
    for (option, message), run in zip(OPTIONS.items(), runs, strict=True):
        line = one_line_failure(run, 2)
        assert line.startswith(f"vmintro: {message}") and len(line) < 200, option
    assert list(tmp_path.iterdir()) == []
