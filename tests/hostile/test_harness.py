"""The fuzzer's own parts: the judge sees each symptom, the runner blames the right job,
the mutations are reproducible and land where they say."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import vmintro

from . import harness
from .bases import Facts, base_images
from .harness import Case, Job, Outcome, judge, run_jobs
from .mutate import _notes, _put, _splice_vmlinux, _uleb, _with_notes, mutation

CASE = Case("planted", Path("/nowhere/img"), Facts(0xC4800000, 0xC10B61E0, 0x10B4000), "true")
TRACEBACK = b'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad\n'


def _outcome(
    entry: str = "-c", status: int | None = 0, out: bytes = b"", err: bytes = b""
) -> Outcome:
    return Outcome(Job("j0", entry, CASE, {}, "vmintro"), status, out, err)


@pytest.mark.parametrize(
    ("outcome", "symptom"),
    [
        (_outcome(status=3), "exit status 3"),
        (_outcome(status=1, err=TRACEBACK), "traceback on stderr: ValueError: bad"),
        (_outcome(status=1, err=b"check: internal error: KeyError: 'k'\n"), "internal error"),
        (_outcome(out=b"zone \x1b]0;x\x07\n"), "control character on stdout"),
        (_outcome(out="zone \u009b2J\n".encode()), "C1 control"),
        (_outcome(out=b"a\x08b\n"), "control character on stdout"),
        (_outcome(status=2, err=b"vmintro: a\nb\n"), "refused in 2 lines"),
        (_outcome(status=2, err=b"vmintro: bad DWARF: 125\n"), "does not name the file"),
        (
            _outcome(status=2, err=b"vmintro: img.vmlinux: bad DWARF at 0x0: 128\n"),
            "a bare number",
        ),
        (_outcome("--json -c", out=b'{"a": 1}\nnot json\n'), "not JSON"),
        (_outcome("gdb vm", err=b"Python Exception <class 'KeyError'>\n"), "Python Exception"),
        (_outcome("gdb vm", err=b'Undefined command: "vm".  Try "help".\n'), "did not load"),
    ],
)
def test_judge_sees(outcome: Outcome, symptom: str) -> None:
    assert any(symptom in p for p in judge(outcome)), judge(outcome)


def test_judge_passes_a_clean_run() -> None:
    out = b"VM_STRUCT  ADDRESS RANGE\n\tc10b61e0\n"
    err = b"vmintro: img.vmcore: not an ELF file\n"
    assert judge(_outcome(status=2, err=err)) == []
    assert judge(_outcome(status=1, out=out, err=b"rd: read of 0x0: page not present\n")) == []


@pytest.mark.parametrize(
    ("status", "files", "symptom"),
    [
        (2, {"out.svg": "<svg/>"}, "refused the image (status 2) and left"),
        (1, {"out.svg.tmp": ""}, "left ['out.svg.tmp']"),
        (0, {}, "succeeded and left []"),
        (0, {"out.svg": "<svg><g></svg>"}, "not XML"),
    ],
)
def test_judge_sees_map_output(
    tmp_path: Path, status: int, files: dict[str, str], symptom: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    outcome = Outcome(Job("j0", "map -o", CASE, {}, "vmintro map", tmp_path), status, b"", b"")
    assert any(symptom in p for p in judge(outcome)), judge(outcome)


# A stand-in for driver.py: each job does what its "action" says, between the same markers.
FAKE_DRIVER = """
import json, os, signal, sys, time
sys.path.insert(0, sys.argv[2])
from driver import mark
for job in json.load(open(sys.argv[1])):
    mark("begin", job["id"])
    action = job["action"]
    print("doing", action)
    if action == "raise":
        raise ValueError("planted")
    if action == "hang":
        time.sleep(600)
    if action == "allocate":
        block = bytearray(3 << 30)
    if action == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    while action == "flood":
        print("x" * 4096)
    mark("end", job["id"], 0)
"""


def test_run_jobs_blames_the_job_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A traceback, a hang, memory past the limit, a signal and a flood of output each
    end their job only; the jobs after them still run, in a new process."""
    monkeypatch.setattr(harness, "HANG_SECONDS", 1.0)
    monkeypatch.setattr(harness, "FILE_LIMIT", 1 << 20)
    script = tmp_path / "fake.py"
    script.write_text(FAKE_DRIVER)
    actions = ["ok", "raise", "ok", "hang", "allocate", "ok", "segfault", "flood", "ok"]
    jobs = [Job(f"j{i}", "-c", CASE, {"action": a}, a) for i, a in enumerate(actions)]

    def launch(chunk: list[Job], work: Path) -> list[str]:
        spec = work / "jobs.json"
        spec.write_text(json.dumps([{"id": j.id, **j.spec} for j in chunk]))
        return harness.limited([sys.executable, str(script), str(spec), str(harness.DRIVER.parent)])

    outcomes = run_jobs(jobs, launch, tmp_path / "work")
    assert [o.job.spec["action"] for o in outcomes] == actions
    for o in outcomes:
        if o.job.spec["action"] == "ok":
            assert (judge(o), o.stdout.strip()) == ([], b"doing ok")
    verdicts = {o.job.spec["action"]: judge(o) for o in outcomes}
    assert "traceback on stderr: ValueError: planted" in verdicts["raise"]
    assert verdicts["hang"][0].startswith("hung")
    assert any("MemoryError" in p for p in verdicts["allocate"])
    assert verdicts["segfault"][0] == f"killed by {signal.SIGSEGV.name}"
    assert verdicts["flood"][0].startswith("printed 1 MiB and more")


def test_mutations_are_reproducible() -> None:
    for index in (0, 5, 17):
        a, b = mutation(3, index), mutation(3, index)
        assert (a.label, a.core, a.vmlinux) == (b.label, b.core, b.vmlinux)
    labels = {mutation(seed, 0).label for seed in range(6)}
    assert len(labels) > 3


def test_kernel_fields_land_on_their_field(tmp_path: Path) -> None:
    """A value written at a located field reads back through vmintro at that field's
    address: the locating is right."""
    base = base_images()[0]
    for group, fields in sorted(base.fields.items()):
        if group == "pagetables":
            continue  # a changed entry changes the translation of what it maps
        f = fields[len(fields) // 2]
        new = (f.value ^ 0x5A) & ((1 << (8 * f.size)) - 1)
        core = bytearray(base.core)
        _put(core, f.offset, f.size, new)
        (tmp_path / "x.vmcore").write_bytes(core)
        (tmp_path / "x.vmlinux").write_bytes(base.vmlinux)
        prog = vmintro.open(str(tmp_path / "x"))
        got = int.from_bytes(prog.read(f.vaddr, f.size), "little")
        assert got == new, f"{group}: {f.path}"


def test_relaid_notes_and_dwarf_read_the_same(tmp_path: Path, gdb: str) -> None:
    """The note moved to the end of the core, and every number of the DWARF in a longer
    encoding (so every later offset moves): vmintro and gdb read the same types, values
    and findings as from the bundled image."""
    base = base_images()[0]
    attrs, _ = base.dwarf
    edits = []
    for a in attrs:
        if a.form == "DW_FORM_udata":
            longer = bytearray(_uleb(a.raw))
            longer[-1] |= 0x80
            edits.append((a.offset, a.length, bytes(longer + b"\0")))
    (tmp_path / "x.vmcore").write_bytes(_with_notes(base, _notes(base)))
    (tmp_path / "x.vmlinux").write_bytes(_splice_vmlinux(base, edits))
    assert len((tmp_path / "x.vmlinux").read_bytes()) == len(base.vmlinux) + len(edits)
    commands = "ptype struct page; ptype struct zone_struct; p *vmlist; kmem -f; swapinfo; check"

    def run(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout

    vm = [sys.executable, "-m", "vmintro.cli", "-c", commands]
    assert run(*vm, str(tmp_path / "x")) == run(*vm, str(base.stem))
    gdb_args = [
        "-ex",
        "ptype struct pglist_data",
        "-ex",
        "p sizeof(struct page)",
        "-ex",
        "p &vmlist",
    ]
    assert run(gdb, "-batch", "-nx", str(tmp_path / "x.vmlinux"), *gdb_args) == run(
        gdb, "-batch", "-nx", f"{base.stem}.vmlinux", *gdb_args
    )
