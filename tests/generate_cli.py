"""``vmintro generate`` run as a user types it, in a child process under limits.

The child runs under an address-space limit (far above the 200 MiB a healthy small
run needs, far below what a runaway one takes) and a timeout that only guards
against a hang: it is not a timed assertion.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

ADDRESS_SPACE = 3 << 29  # 1.5 GiB
HANG_GUARD = 120.0  # seconds

__all__ = ["one_line_failure", "vmintro_cli"]


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def vmintro_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``vmintro ARGS`` under :data:`ADDRESS_SPACE`; a hang fails the test after the guard."""
    return subprocess.run(
        [sys.executable, "-m", "vmintro.cli", *args],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        preexec_fn=_limit,  # noqa: PLW1509 - the test process starts no threads before this
        cwd=cwd,
    )


def one_line_failure(proc: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The single stderr line of a run that failed with ``status``, without a traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == status, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]
