"""The ``diff`` command and ``map --diff``, driven as a user types them: ``diff IMAGE_B``
and ``diff N [M]`` in a session (the runner behind ``-c`` and the REPL), ``vmintro
-c`` for exit statuses, ``--json``; refusals in one line.

Moments come from a timeline made here (:mod:`handmade`) over the later image of
two cuts of one scenario, whose boot state is the earlier image's frames: moment 0
of it is, byte for byte, the earlier image, so ``diff 0`` must say what ``diff
EARLIER`` says, and both what the truths say.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import vmintro
from vmintro.cmdline.runner import Runner
from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from vmintro.timeline.diff import diff
from vmintro.timeline.diff_scan import changed_frames

from .diff_cuts import Cut, make_cuts
from .handmade import build, write

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Cut]:
    return make_cuts(tmp_path_factory)


def session(image: Path, line: str) -> tuple[int, str, str]:
    """(status, output, errors) of ``line`` in a session on ``image``."""
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(vmintro.open(image), out=out, err=err)
    status = runner.run_line(line)
    return status, out.getvalue(), err.getvalue()


def truth_changes(a: Cut, b: Cut) -> set[tuple[str, int]]:
    old = {t["addr"]: t["size"] for t in a.truth["areas"]}
    new = {t["addr"]: t["size"] for t in b.truth["areas"]}
    return {("added", x) for x in new.keys() - old.keys()} | {
        ("removed", x) for x in old.keys() - new.keys()
    }


@pytest.fixture(scope="session")
def timed(cuts, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The later image (11 steps) with a timeline whose boot state is the earlier
    (5 steps): entry 1 writes nothing (a call that failed), entry 2 every frame that
    differs. (Half the frames would make moment 1 a kernel no run leaves: with the
    page cache's scattered frames, module_list then leads through page tables not
    yet written, and diff rightly reports it unreadable.)"""
    a, b = cuts[("2level", 5)], cuts[("2level", 11)]
    base = tmp_path_factory.mktemp("timed") / "img"
    for ext in (".vmcore", ".vmlinux", ".truth.json"):
        shutil.copyfile(f"{b.image}{ext}", f"{base}{ext}")
    pa, pb = vmintro.open(a.image), vmintro.open(base)
    pfns = changed_frames(pa, pb).tolist()
    image = {p: pb.read(p << 12, 4096, physical=True) for p in pfns}
    boot = {p: pa.read(p << 12, 4096, physical=True) for p in pfns}
    plan: list[list[tuple[int, int, bytes]]] = [[]]
    write(base, build(Path(f"{base}.vmcore"), pb.ram_size, image, boot, plan).timeline)
    return base


def test_diff_image_b_names_every_area_the_truths_do(cuts) -> None:
    a, b = cuts[("2level", 5)], cuts[("2level", 11)]
    status, out, err = session(a.image, f"diff {b.image}")
    assert (status, err) == (EXIT_OK, "")
    marks = {"added": "+", "removed": "-"}
    lines = set(out.splitlines())
    expected = truth_changes(a, b)
    assert expected
    for kind, addr in expected:
        assert any(line.startswith(f"  {marks[kind]} {addr:08x}-") for line in lines), (kind, addr)


def test_diff_json_is_the_librarys(cuts) -> None:
    a, b = cuts[("2level", 0)], cuts[("2level", 11)]
    status, out, _ = session(a.image, f"diff --json {b.image}")
    doc = json.loads(out)
    assert (status, doc["status"], doc["command"]) == (EXIT_OK, "ok", f"diff --json {b.image}")
    data = doc["results"][0]["data"]
    library = diff(vmintro.open(a.image), vmintro.open(b.image)).to_json()
    assert data == json.loads(json.dumps(library))
    assert {("added", x["addr"]) for x in data["areas"]} == truth_changes(a, b)
    status, out, _ = session(a.image, f"diff -s --json {b.image}")
    assert "areas" not in json.loads(out)["results"][0]["data"]


def test_diff_of_moments_is_the_diff_of_the_images(cuts, timed: Path) -> None:
    a, b = cuts[("2level", 5)], cuts[("2level", 11)]
    status, moments, err = session(timed, "diff 0")
    assert (status, err) == (EXIT_OK, "")
    _, images, _ = session(a.image, f"diff {timed}")
    # the same changes, line for line, under a heading naming the moments
    assert (
        moments.splitlines()[0]
        == f"diff {timed}@0 -> {timed}@2: " + (images.splitlines()[0].split(": ", 1)[1])
    )
    assert moments.splitlines()[1:] == images.splitlines()[1:]
    prog = vmintro.open(timed)
    d = diff(prog.at(0), prog)
    got = {(c.kind, c.addr) for c in d.areas if c.kind in ("added", "removed")}
    assert got == truth_changes(a, b)
    # 0 to end is 0 to the current moment; the moments after 0 differ from it
    assert session(timed, "diff 0 end")[1] == moments
    status, out, _ = session(timed, "diff 2 0")
    assert status == EXIT_OK and out.startswith(f"diff {timed}@2 -> {timed}@0")


def test_map_diff_marks_the_changes(cuts, timed: Path, tmp_path: Path) -> None:
    prog = vmintro.open(timed)
    d = diff(prog.at(0), prog)
    status, out, err = session(timed, "map --diff 0 2")
    assert (status, err) == (EXIT_OK, "")
    for change in d.areas:
        assert f"{change.kind:<8} {change.addr:08x}" in out
    taken = sum(1 << f.order for f in d.frames if f.kind == "allocated")
    assert f"frames taken: {taken} " in out
    svg = tmp_path / "diff.svg"
    status, out, err = session(timed, f"map --diff 0 -o {svg}")
    assert (status, err) == (EXIT_OK, "")
    root = ET.parse(svg).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    classes = [el.get("class", "") for el in root.iter(f"{ns}rect")]
    for kind in ("added", "removed", "resized", "remapped"):
        assert classes.count(f"change change-{kind}") == d.count("areas", kind), kind
    summary = next(el for el in root.iter(f"{ns}text") if el.get("class") == "frames-summary")
    assert int(summary.get("data-taken", -1)) == taken
    drawn = sum(
        int(el.get("data-pages", 0)) for el in root.iter() if el.get("class") == "frames-taken"
    )
    assert drawn == taken


def test_refusals_are_one_line(cuts, tmp_path: Path) -> None:
    a = cuts[("2level", 5)].image
    status, out, err = session(a, f"diff {cuts[('pae', 5)].image}")
    assert (status, out) == (EXIT_FAILED, "")
    pae = cuts[("pae", 5)].image
    assert err == f"diff: different machines: paging 2-level ({a}) vs PAE ({pae})\n"
    status, out, err = session(a, f"diff {tmp_path / 'nothing'}")
    assert (status, out, err) == (
        EXIT_USAGE,
        "",
        "diff: nothing.vmcore: cannot open: No such file or directory\n",
    )
    (tmp_path / "junk.vmcore").write_bytes(b"\x7fELF junk")
    status, _, err = session(a, f"diff {tmp_path / 'junk'}")
    assert status == EXIT_USAGE and err.startswith("diff: junk.vmcore: ") and err.count("\n") == 1
    # an image without a timeline: diff N and map --diff say so in one line
    bare = tmp_path / "bare"
    for ext in (".vmcore", ".vmlinux"):
        shutil.copyfile(f"{a}{ext}", f"{bare}{ext}")
    status, _, err = session(bare, "diff 3")
    assert status == EXIT_FAILED and "timeline" in err and err.count("\n") == 1
    status, _, err = session(bare, "map --diff 0 1")
    assert status == EXIT_FAILED and "timeline" in err and err.count("\n") == 1
    # diff IMAGE_B needs none
    assert session(bare, f"diff -s {a}")[0] == EXIT_OK


def test_moment_refusals(timed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, _, err = session(timed, "diff 7")
    assert (status, err) == (EXIT_FAILED, "diff: no entry 7: the timeline has entries 0 to 2\n")
    status, _, err = session(timed, "diff 0 -1")
    assert status == EXIT_FAILED and "no entry -1" in err
    # a number that is also an image here: both readings, nothing run
    shutil.copyfile(f"{timed}.vmcore", tmp_path / "1.vmcore")
    monkeypatch.chdir(tmp_path)
    status, out, err = session(timed, "diff 1")
    assert (status, out) == (EXIT_USAGE, "")
    assert "entry 1 or image '1'" in err and "diff ./1" in err


def test_exit_statuses_through_the_command_line(cuts) -> None:
    a, b = cuts[("2level", 5)].image, cuts[("2level", 11)].image
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    line = f"diff -s {b}; diff /nonexistent/x"
    run = subprocess.run(
        [sys.executable, "-m", "vmintro", "-c", line, str(a)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.stdout.startswith(f"diff {a} -> {b}: ")
    assert run.returncode == EXIT_USAGE
    assert run.stderr == "diff: x.vmcore: cannot open: No such file or directory\n"


def test_tab_completes_the_image_to_compare(cuts, tmp_path: Path, monkeypatch) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from vmintro.repl.completer import VmintroCompleter

    completer = VmintroCompleter(vmintro.open(cuts[("2level", 5)].image), dict)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "later.vmcore").write_bytes(b"")

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]

    assert complete("diff la") == ["ter.vmcore"]
    assert complete("diff --vmlinux la") == ["ter.vmcore"]
    assert complete("diff --s") == ["--summary"]


def test_diff_n_ends_at_the_moment_the_session_shows(timed: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(vmintro.open(timed), out=out, err=err)
    assert runner.run_line("goto 1") == EXIT_OK
    start = len(out.getvalue())
    assert runner.run_line("diff -s 0") == EXIT_OK
    # moment 1, not the image's end (entry 2 changed frames; entry 1 none)
    assert (
        out.getvalue()[start:] == f"diff {timed}@0 -> {timed}@1: 0 frames differ\nno difference\n"
    )
    assert err.getvalue() == ""
