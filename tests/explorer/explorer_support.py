"""What the explorer's tests share: the demo image, its truth, and what the
command line prints for it (the oracle the page is held to)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import vmintro
from vmintro.explorer.server import ExplorerServer, make_server

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "images" / "demo"


class HtmlRun(NamedTuple):
    """One ``vmintro html`` run: its status, what it printed, the file it wrote."""

    status: int
    stdout: str
    stderr: str
    out: Path


def demo_truth() -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(Path(f"{DEMO}.truth.json").read_text())
    return truth


def json_documents(lines: list[str]) -> dict[str, dict[str, Any]]:
    """``vmintro --json -c 'LINE; LINE...' images/demo`` in one process: each line's
    document by its command."""
    done = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "--json", "-c", "; ".join(lines), str(DEMO)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    documents = [json.loads(line) for line in done.stdout.splitlines()]
    return {d["command"]: d for d in documents}


@contextlib.contextmanager
def serving(image: Path, title: str = "demo") -> Iterator[ExplorerServer]:
    """The explorer of ``image`` served on a free port of 127.0.0.1, in a thread."""
    srv = make_server(vmintro.open(image), title, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def url_of(srv: ExplorerServer) -> str:
    host, port = srv.server_address[:2]
    return f"http://{host!s}:{port}/"
