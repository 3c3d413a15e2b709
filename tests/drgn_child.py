"""Running drgn on an image in a child process (libkdumpfile can crash the process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def drgn_child_json(script: str, base: Path) -> dict:
    """Run ``tests/SCRIPT`` under drgn on image ``base`` in a child process; its JSON output."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).parent / script), f"{base}.vmcore", f"{base}.vmlinux"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
