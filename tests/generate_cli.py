"""``vmintro generate`` run as a user types it, in a child process under limits.

The child runs under an address-space limit (far above the 200 MiB a healthy small
run needs, far below what a runaway one takes) and a timeout that only guards
against a hang: it is not a timed assertion.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ADDRESS_SPACE = 3 << 29  # 1.5 GiB
HANG_GUARD = 120.0  # seconds

__all__ = ["Run", "one_line_failure", "vmintro_cli", "vmintro_cli_batch"]


def _limit(address_space: int = ADDRESS_SPACE) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return limit


def vmintro_cli(
    *args: str,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    address_space: int = ADDRESS_SPACE,
) -> subprocess.CompletedProcess[str]:
    """``vmintro ARGS`` under ``address_space``; a hang fails the test after the guard.

    ``stdin`` is fed to it (else it reads an empty stdin); ``env`` is added to this
    process's environment; bytes that are not UTF-8 come back surrogate-escaped.
    """
    return subprocess.run(
        [sys.executable, "-m", "vmintro.cli", *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=HANG_GUARD,
        preexec_fn=_limit(address_space),  # noqa: PLW1509 - no threads started before this
        cwd=cwd,
        env={**os.environ, **env} if env else None,
    )


def one_line_failure(proc: subprocess.CompletedProcess[str] | Run, status: int = 2) -> str:
    """The single stderr line of a run that failed with ``status``, without a traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == status, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


@dataclass
class Run:
    """What one ``vmintro`` command line did: its status, what it wrote on stderr and
    on stdout."""

    returncode: int
    stderr: str
    stdout: str = ""


# Runs each command line through the same main() the ``vmintro`` script calls, in
# one process (one Python start for many short runs), with its standard input (empty
# unless given); a traceback is caught and reported as the run's stderr, so one run
# that goes wrong does not hide the others.
_BATCH = """
import contextlib, io, json, os, sys, traceback
from vmintro.cli import main
runs = []
real_stdout = sys.stdout
for cwd, argv, given in json.load(sys.stdin):
    os.chdir(cwd)
    out, err = io.StringIO(), io.StringIO()
    sys.stdin = io.StringIO(given)
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            status = main(argv)
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else 1
        except BaseException:
            status = -1
            traceback.print_exc()
    runs.append({"returncode": status, "stderr": err.getvalue(), "stdout": out.getvalue()})
json.dump(runs, real_stdout)
"""


def vmintro_cli_batch(commands: list[tuple[Path, list[str]]], stdin: str = "") -> list[Run]:
    """Each ``(cwd, argv)`` as ``vmintro ARGV`` run in ``cwd`` with ``stdin`` on its
    standard input, all in one process under :data:`ADDRESS_SPACE` and
    :data:`HANG_GUARD`; their results in order."""
    proc = subprocess.run(
        [sys.executable, "-c", _BATCH],
        input=json.dumps([(str(cwd), argv, stdin) for cwd, argv in commands]),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        preexec_fn=_limit(),  # noqa: PLW1509 - the test process starts no threads before this
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [Run(**r) for r in json.loads(proc.stdout)]
