"""Run every entry point on images in subprocesses under limits, and judge what they did.

Each process runs under ``RLIMIT_AS`` (the issue's 1 GiB bound plus what a normal run
of Python and numpy, or gdb, maps anyway: measured 168 MB and 383 MB at their peak),
``RLIMIT_FSIZE`` (no file, stdout included, grows past 64 MiB) and a hang guard: a job
that has not ended ``HANG_SECONDS`` after it began is killed and blamed. The guard
is not a timed assertion; it only turns a hang into a failure instead of a stuck run.

Many images go through one process (:mod:`driver` for the command line and the
library, one gdb for the ``vm`` commands); markers on both streams attribute every
byte of output, and a crash, to its job, and a new process picks up after a job
that did not end. What is judged, for every job: the exit status is 0, 1 or 2; no
traceback, no "internal error"; no control character other than newline and tab in
what was printed (C0, DEL, C1); and, for the entry points that have one, a refusal is
one line naming the file, JSON output parses, an SVG written parses as XML and a
failed ``map -o`` leaves no file behind.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bases import Facts

__all__ = [
    "Case",
    "Failure",
    "run_all",
]

PYTHON_LIMIT = (1 << 30) + (256 << 20)
GDB_LIMIT = (1 << 30) + (512 << 20)
FILE_LIMIT = 64 << 20
HANG_SECONDS = float(os.environ.get("VMINTRO_HANG_SECONDS", "60"))
JOBS_PER_PROCESS = 40
DRIVER = Path(__file__).with_name("driver.py")
# The image a session compares a mutated one with (diff IMAGE_B): the untrusted second image
DEMO = Path(__file__).resolve().parents[2] / "images" / "demo"

# Sets the limits, then becomes the command: the limits hold for it and its children.
_LIMITED = (
    "import os, resource, sys\n"
    "memory, size = int(sys.argv[1]), int(sys.argv[2])\n"
    "resource.setrlimit(resource.RLIMIT_AS, (memory, memory))\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))\n"
    "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
    "os.execvp(sys.argv[3], sys.argv[3:])\n"
)


def limited(argv: Sequence[str], memory: int = PYTHON_LIMIT) -> list[str]:
    """``argv`` run under the memory and file-size limits."""
    return [sys.executable, "-c", _LIMITED, str(memory), str(FILE_LIMIT), *argv]


@dataclass(frozen=True)
class Case:
    """One image to run everything on: where it is and how to make it again."""

    label: str  # seed, index, base image, what was changed
    stem: Path
    facts: Facts
    reproduce: str  # the shell command that writes this image at ``stem``


@dataclass
class Job:
    id: str
    entry: str  # the entry point: "-c", "check", "map -o", "library", "gdb", ...
    case: Case | None  # None for a batch of several
    spec: dict[str, Any]  # what the driver (or gdb) is given
    command: str  # what a user types to do the same
    output: Path | None = None  # the directory ``map -o`` writes into


@dataclass
class Outcome:
    job: Job
    status: int | None  # what the job returned; None when it did not end
    stdout: bytes
    stderr: bytes
    ended: str = ""  # why it did not end: a crash, a signal, the hang guard


@dataclass
class Failure:
    case: Case
    entry: str
    symptoms: list[str]
    command: str
    excerpt: str

    def __str__(self) -> str:
        lines = [
            f"{self.case.label}",
            f"  entry point: {self.entry}",
            *(f"  symptom: {s}" for s in self.symptoms),
            f"  reproduce: {self.case.reproduce} && {self.command}",
        ]
        if self.excerpt:
            excerpt = printable(self.excerpt)
            lines += ["  output (end):", *("    " + x for x in excerpt.splitlines())]
        return "\n".join(lines)


def printable(text: str) -> str:
    """``text`` with every control character but newline shown as an escape: a report
    about an escape sequence must not play it on the reader's terminal."""
    return "".join(c if c == "\n" or c.isprintable() else repr(c)[1:-1] for c in text)


# -- what the entry points are asked -------------------------------------------------------


def session_commands(f: Facts) -> str:
    """One ``-c`` line over every command family, at addresses of the unmutated image."""
    return "; ".join(
        [
            "vmlist",
            f"vtop {f.area:x}",
            f"page -n {f.pfn:x}",
            "kmem -f",
            f"kmem -p {f.paddr:x}",
            "kmem -v",
            f"rd {f.area:x} 16",
            f"rd -p {f.paddr:x} 8",
            f"struct vm_struct {f.vm_struct:x}",
            "p *vmlist",
            "p contig_page_data.node_zones[1]",
            "ptype struct vm_struct",
            "map",
            f"map --area {f.area:x}",
            "meminfo",
            "vmallocinfo",
            "swapinfo",
            "buddyinfo",
            "modules",
            "sym vmlist",
            f"ptov {f.paddr:x}",
            f"kmem {f.area:x} {f.vm_struct:x}",
            f"kmem -P {f.paddr:x}",
            "kmem -s",
            "kmem -i",
            f"search -s {f.area:x} -l 0x10000 {f.vm_struct:#x}",
            f"x/8wx {f.vm_struct:#x}",
            "rd -s zone_table 3",
            "mod",
            "log",
            "ps",
            f"vtop -c 1 {f.area:x}",  # init's page directory (its mm read from the image)
            "check",
        ]
    )


def gdb_commands(f: Facts) -> list[str]:
    words = [w.strip() for w in session_commands(f).split(";")]
    return [f"vm {w}" for w in words] + [f"p/x $vm_translate({f.area:#x})"]


def _cli_job(case: Case, entry: str, argv: list[str], output: Path | None = None) -> Job:
    return Job(
        id="",
        entry=entry,
        case=case,
        spec={"kind": "cli", "argv": argv},
        command=shlex.join(["vmintro", *argv]),
        output=output,
    )


def driver_jobs(case: Case, scratch: Path) -> list[Job]:
    """The command line's entry points and the library, for one image."""
    stem, area = str(case.stem), f"{case.facts.area:x}"
    commands = session_commands(case.facts)
    svg = scratch / "map"
    area_svg = scratch / "map-area"
    for d in (svg, area_svg):
        d.mkdir(parents=True, exist_ok=True)
    library = Job(
        id="",
        entry="library",
        case=case,
        spec={"kind": "library", "image": stem},
        command=f"python3 {DRIVER} --library {stem}",
    )
    return [
        _cli_job(case, "-c", ["-c", commands, stem]),
        _cli_job(case, "--json -c", ["--json", "-c", commands, stem]),
        _cli_job(case, "check", ["check", stem]),
        _cli_job(case, "map -o", ["map", stem, "-o", str(svg / "out.svg")], svg),
        _cli_job(
            case,
            "map --area -o",
            ["map", stem, "--area", area, "-o", str(area_svg / "out.svg")],
            area_svg,
        ),
        _cli_job(case, "map --area", ["map", stem, "--area", area]),
        _cli_job(case, "diff IMAGE_B", ["-c", f"diff -s {stem}", str(DEMO)]),
        library,
    ]


# -- running many jobs in one process ------------------------------------------------------

_MARK = re.compile(rb"\n?@@hostile-(begin|end) (\S+?)(?: (-?\d+))?@@\n")


def _split(data: bytes) -> dict[str, tuple[bytes, int | None, bool]]:
    """Per job id: its output, the status its end marker gave, whether it ended."""
    out: dict[str, tuple[bytes, int | None, bool]] = {}
    current, start = None, 0
    for m in _MARK.finditer(data):
        what, job_id, status = m.group(1).decode(), m.group(2).decode(), m.group(3)
        if what == "begin":
            current, start = job_id, m.end()
        elif current == job_id:
            out[job_id] = (data[start : m.start()], int(status) if status else None, True)
            current = None
    if current is not None:
        out[current] = (data[start:], None, False)
    return out


def _death(returncode: int) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        if name == "SIGXFSZ":
            return f"killed by {name}: wrote a file past {FILE_LIMIT >> 20} MiB"
        return f"killed by {name}"
    return f"the process exited ({returncode}) in the middle of it"


def _run_process(argv: list[str], jobs: list[Job], work: Path) -> list[Outcome]:
    """Run one process over ``jobs`` (in order) until it exits or a job hangs.

    The outcomes of the jobs that began; the caller runs the rest in a new process.
    """
    out_path, err_path = work / "stdout", work / "stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
        )
    hung = None
    with open(err_path, "rb") as watch:
        pending, current, began = b"", None, time.monotonic()
        while proc.poll() is None:
            time.sleep(0.05)
            pending += watch.read()
            last = 0
            for m in _MARK.finditer(pending):
                last = m.end()
                if m.group(1) == b"begin":
                    current, began = m.group(2).decode(), time.monotonic()
            # keep what follows the last marker: the start of one cut in two by the read
            pending = pending[last:][-256:]
            if current is not None and time.monotonic() - began > HANG_SECONDS:
                hung = current
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    try:  # children of the process (check -j's workers) go with it
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    flooded = max(out_path.stat().st_size, err_path.stat().st_size) >= FILE_LIMIT
    stdout, stderr = _split(out_path.read_bytes()), _split(err_path.read_bytes())
    outcomes = []
    for job in jobs:
        if job.id not in stderr:
            break
        o_text, _, _ = stdout.get(job.id, (b"", None, False))
        e_text, status, ended = stderr[job.id]
        outcome = Outcome(job, status, o_text, e_text)
        if not ended:
            if hung == job.id:
                outcome.ended = f"hung: no end {HANG_SECONDS:.0f} s after it began"
            elif flooded:
                outcome.ended = f"printed {FILE_LIMIT >> 20} MiB and more: output without end"
            else:
                outcome.ended = _death(proc.returncode)
        outcomes.append(outcome)
        if not ended:
            break
    if not outcomes and jobs:
        raise RuntimeError(
            f"{argv[:6]}... ran no job: {err_path.read_bytes()[-2000:].decode(errors='replace')}"
        )
    return outcomes


def run_jobs(
    jobs: list[Job], launch: Callable[[list[Job], Path], list[str]], work: Path
) -> list[Outcome]:
    """Every job, in processes of up to ``JOBS_PER_PROCESS``, restarting after one that
    did not end."""
    outcomes: list[Outcome] = []
    pending = list(jobs)
    rounds = 0
    while pending:
        chunk = pending[:JOBS_PER_PROCESS]
        directory = work / f"p{rounds}"
        directory.mkdir(parents=True)
        done = _run_process(launch(chunk, directory), chunk, directory)
        outcomes += done
        pending = pending[len(done) :]
        rounds += 1
    return outcomes


def launch_driver(jobs: list[Job], work: Path) -> list[str]:
    spec = [{"id": j.id, **j.spec} for j in jobs]
    path = work / "jobs.json"
    path.write_text(json.dumps(spec))
    return limited([sys.executable, str(DRIVER), str(path)])


def gdb_launcher(gdb: str, loader: Path) -> Callable[[list[Job], Path], list[str]]:
    def launch(jobs: list[Job], work: Path) -> list[str]:
        def mark(*words: object) -> str:
            text = "\\n@@hostile-" + " ".join(str(w) for w in words) + "@@\\n"
            return (
                f"python import sys; sys.stdout.write('{text}'); sys.stdout.flush(); "
                f"sys.stderr.write('{text}'); sys.stderr.flush()"
            )

        argv = [gdb, "-batch", "-nx", "-x", str(loader)]
        for j in jobs:
            argv += ["-ex", mark("begin", j.id)]
            for c in j.spec["gdb"]:
                argv += ["-ex", c]
            argv += ["-ex", mark("end", j.id, 0)]
        return limited(argv, GDB_LIMIT)

    return launch


def gdb_jobs(case: Case) -> list[Job]:
    """gdb's ``vm`` commands on the image: only where both files are regular files, since
    gdb opens them itself first (and waits on a FIFO forever, as it would anywhere)."""
    stem = case.stem
    for suffix in (".vmcore", ".vmlinux"):
        path = Path(f"{stem}{suffix}")
        if not (path.is_file() and not path.is_symlink()):
            return []
    commands = [
        "file",
        "core-file",
        f"file {stem}.vmlinux",
        f"core-file {stem}.vmcore",
        *gdb_commands(case.facts),
    ]
    shown = " ".join(shlex.quote(f"-ex={c}") for c in commands[2:])
    return [
        Job(
            id="",
            entry="gdb vm",
            case=case,
            spec={"gdb": commands},
            command=f'gdb -batch -nx -x "$(vmintro gdb-script)" {shown}',
        )
    ]


# -- judging -------------------------------------------------------------------------------

_C0 = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
_C1 = re.compile("[\x80-\x9f]")


def control_characters(data: bytes) -> str | None:
    """The first control character other than newline and tab, with its context."""
    m = _C0.search(data)
    if m:
        context = data[max(m.start() - 30, 0) : m.end() + 10]
        return f"{m.group()!r} in {context!r}"
    text = data.decode("utf-8", errors="replace")
    m1 = _C1.search(text)
    if m1:
        return f"C1 control {m1.group()!r} in {text[max(m1.start() - 30, 0) : m1.end() + 10]!r}"
    return None


def _traceback(data: bytes) -> str | None:
    text = data.decode("utf-8", errors="replace")
    if "Traceback" not in text:
        return None
    tail = [x for x in text[text.index("Traceback") :].splitlines() if x and not x[0].isspace()]
    return tail[-1] if len(tail) > 1 else "Traceback"


def _internal(data: bytes) -> str | None:
    text = data.decode("utf-8", errors="replace")
    for line in text.splitlines():
        if "internal error" in line:
            return line.strip()[:200]
    return None


GDB_INTERNAL = b"A problem internal to GDB has been detected"


def judge(outcome: Outcome) -> list[str]:
    """Everything wrong with what one job did."""
    if outcome.job.entry == "gdb vm" and GDB_INTERNAL in outcome.stderr:
        return []  # gdb's own DWARF reader gave up on the vmlinux: not vmintro's doing
    problems = _process_checks(outcome)
    if not outcome.ended:
        problems += _entry_checks(outcome)
    return problems


def _process_checks(outcome: Outcome) -> list[str]:
    """What is wrong whatever the entry point: the status, tracebacks, control bytes."""
    job, problems = outcome.job, []
    if outcome.ended:
        problems.append(outcome.ended)
    elif outcome.status not in (0, 1, 2):
        problems.append(f"exit status {outcome.status}")
    for name, data in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        tb = _traceback(data)
        if tb:
            problems.append(f"traceback on {name}: {tb[:200]}")
        internal = _internal(data)
        if internal:
            problems.append(f"{name}: {internal}")
        if b"File too large" in data:
            problems.append(f"{name}: a file reached the {FILE_LIMIT >> 20} MiB limit")
        if job.entry == "gdb vm" and b"Python Exception" in data:
            problems.append("gdb: Python Exception")
        if job.entry == "gdb vm" and b'Undefined command: "vm"' in data:
            problems.append("gdb has no vm command: the extension did not load")
        bad = control_characters(data)
        if bad:
            problems.append(f"control character on {name}: {bad}")
    return problems


# A refusal ending in a number alone ("bad DWARF: 125") leaves the reader to guess what the
# number is, or where in the file it was read.
_BARE_NUMBER = re.compile(r":\s*(0x[0-9a-fA-F]+|[0-9]+)\s*$")


def _entry_checks(outcome: Outcome) -> list[str]:
    job, problems = outcome.job, []
    name = job.case.stem.name if job.case is not None else ""
    if outcome.status == 2 and job.entry in ("-c", "map -o", "map --area", "diff IMAGE_B"):
        lines = [x for x in outcome.stderr.decode(errors="replace").splitlines() if x.strip()]
        if outcome.stdout.strip() == b"" and len(lines) != 1:
            problems.append(f"refused in {len(lines)} lines, not one")
        elif outcome.stdout.strip() == b"" and name not in lines[0]:
            problems.append(f"refusal does not name the file: {lines[0][:200]!r}")
        elif outcome.stdout.strip() == b"" and _BARE_NUMBER.search(lines[0]):
            problems.append(
                f"refusal ends in a bare number (what is it, where?): {lines[0][:200]!r}"
            )
    if job.entry == "--json -c":
        for line in outcome.stdout.splitlines():
            try:
                json.loads(line)
            except ValueError:
                problems.append(f"not JSON: {line[:100]!r}")
                break
    if job.output is not None:
        # Status 1 may come with the picture of what could be read (a broken vmlist): a
        # whole file then. Status 2 writes nothing; nothing ever leaves a temporary.
        files = sorted(p.name for p in job.output.iterdir())
        if outcome.status == 0 and files != ["out.svg"]:
            problems.append(f"map -o succeeded and left {files}")
        elif outcome.status == 2 and files:
            problems.append(f"map -o refused the image (status 2) and left {files}")
        elif files and files != ["out.svg"]:
            problems.append(f"map -o (status {outcome.status}) left {files}")
        if "out.svg" in files:
            try:
                ET.parse(job.output / "out.svg")
            except ET.ParseError as e:
                problems.append(f"the SVG is not XML: {e}")
    return problems


# -- check --json -j 2 GOOD BAD... ---------------------------------------------------------


def run_check_batch(good: Path, cases: list[Case], work: Path) -> list[Failure]:
    """``vmintro check --json -j 2 GOOD BAD...``: every image has its result and the good
    one keeps its own. A batch that fails runs again with one bad image at a time, to
    say which."""
    problems, results, _ = _check_once([good], work / "good")
    if problems or results is None:
        raise RuntimeError(f"check of the good image {good} alone failed: {problems}")
    expected = results[0]
    problems, command = _check_verdict(good, cases, work / "batch", expected)
    if not problems:
        return []
    failures = []
    for i, case in enumerate(cases):
        one, command = _check_verdict(good, [case], work / f"one{i}", expected)
        if one:
            failures.append(Failure(case, "check --json -j 2", one, command, ""))
    if not failures:  # only the whole batch fails: say so against its first image
        failures.append(Failure(cases[0], "check --json -j 2 (batch)", problems, command, ""))
    return failures


def _check_once(
    images: list[Path], work: Path
) -> tuple[list[str], list[dict[str, Any]] | None, str]:
    """Run ``check --json -j 2`` over ``images``: what was wrong, the results, the command."""
    work.mkdir(parents=True)
    argv = ["check", "--json", "-j", "2", *map(str, images)]
    command = shlex.join(["vmintro", *argv])
    timeout = HANG_SECONDS * (1 + len(images) / 2)
    try:
        proc = subprocess.run(
            limited([sys.executable, "-m", "vmintro.cli", *argv]),
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return [f"hung: no end after {timeout:.0f} s"], None, command
    job = Job("batch", "check --json -j 2", None, {}, command)
    outcome = Outcome(job, proc.returncode, proc.stdout, proc.stderr)
    if proc.returncode < 0:
        outcome.ended = _death(proc.returncode)
    problems = _process_checks(outcome)
    try:
        results = json.loads(proc.stdout)["images"]
    except (ValueError, KeyError, TypeError):
        return [*problems, f"no JSON document: {proc.stdout[-200:]!r}"], None, command
    return problems, results, command


def _check_verdict(
    good: Path, cases: list[Case], work: Path, expected: dict[str, Any]
) -> tuple[list[str], str]:
    images = [good, *(c.stem for c in cases)]
    problems, results, command = _check_once(images, work)
    if results is None:
        return problems, command
    if [r.get("image") for r in results] != [str(p) for p in images]:
        problems.append(f"the results name {[r.get('image') for r in results]}")
    elif results[0] != expected:
        problems.append(f"the good image's result changed: {results[0]}")
    for r in results[1:]:
        error = r.get("error")
        if error is not None and (not isinstance(error, str) or "\n" in error):
            problems.append(f"error is not one line: {error!r}")
    return problems, command


# -- everything ----------------------------------------------------------------------------


@dataclass
class Plan:
    """What to run: the cases, and which entry points beyond the driver's."""

    cases: list[Case]
    gdb: tuple[str, Path] | None = None  # gdb and the loader 'vmintro gdb-script' wrote
    gdb_cases: int = 0  # how many of the cases gdb runs (it is the slowest)
    check_batch: Path | None = None  # the good image of the check batch


def run_all(plan: Plan, work: Path, workers: int = 2) -> list[Failure]:
    """Run the plan's entry points on its cases, ``workers`` processes at a time."""
    driver: list[Job] = []
    for i, case in enumerate(plan.cases):
        driver += driver_jobs(case, work / "out" / str(i))
    gdb: list[Job] = []
    if plan.gdb is not None:
        for case in plan.cases[: plan.gdb_cases]:
            gdb += gdb_jobs(case)
    for i, job in enumerate(driver + gdb):
        job.id = f"j{i}"

    units: list[Callable[[], list[Failure]]] = []
    per = max(1, -(-len(driver) // max(workers, 1)))
    for k in range(0, len(driver), per):
        part = driver[k : k + per]
        units.append(functools.partial(_judged, part, launch_driver, work / f"d{k}"))
    if gdb and plan.gdb is not None:
        units.append(functools.partial(_judged, gdb, gdb_launcher(*plan.gdb), work / "gdb"))
    if plan.check_batch is not None:
        units.append(
            functools.partial(run_check_batch, plan.check_batch, plan.cases, work / "check-batch")
        )
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda unit: unit(), units))
    return [f for r in results for f in r]


def _judged(
    jobs: list[Job], launch: Callable[[list[Job], Path], list[str]], work: Path
) -> list[Failure]:
    return _failures(run_jobs(jobs, launch, work))


def _failures(outcomes: Iterable[Outcome]) -> list[Failure]:
    failures = []
    for o in outcomes:
        problems = judge(o)
        if problems and o.job.case is not None:
            tail = (o.stderr or o.stdout).decode(errors="replace").strip().splitlines()[-6:]
            failures.append(
                Failure(o.job.case, o.job.entry, problems, o.job.command, "\n".join(tail))
            )
    return failures


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="vmintro-hostile-"))
