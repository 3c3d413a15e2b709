"""The shipped plugins through every front end: ``-c``, ``--json``, ``vmintro run``, the REPL
in a real terminal; and a directory of broken plugins breaking none of them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pexpect
import pytest
from pluginkit import BROKEN, DEMO, ERRORS, ROOT, SHIPPED, Image, make_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "repl"))
from replkit import Repl  # noqa: E402 - the REPL tests' driver, from their directory

PROMPT = Repl.PROMPT
COLUMNS = {
    "vmallocinfo": ["vm_struct", "start", "end", "size", "pages", "phys", "phys_end", "flags",
                    "kinds"],
    "meminfo": ["field", "kb"],
    "buddyinfo": ["node", "zone", "index", "free", "pages", "free_pages"],
    "swapinfo": ["index", "device", "major", "minor", "flags", "flag_names", "prio", "pages",
                 "max", "lowest_bit", "highest_bit", "used", "bad", "next", "swap_map",
                 "map_size", "area", "area_size"],
    "modules": ["name", "size", "usecount", "shown_count", "module", "area", "area_size",
                "flags", "flag_names", "state", "refs", "nsyms", "ndeps"],
}  # fmt: skip


def vmintro(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmintro.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


@pytest.fixture(scope="module")
def broken_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dir(tmp_path_factory.mktemp("broken"), BROKEN)


def test_every_plugin_with_c(demo: Image) -> None:
    done = vmintro("-c", "; ".join(SHIPPED), str(DEMO))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "\n".join(demo.text(name) for name in SHIPPED) + "\n"


def test_every_plugin_with_json() -> None:
    done = vmintro("--json", "-c", "; ".join(SHIPPED), str(DEMO))
    assert (done.returncode, done.stderr) == (0, "")
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [d["command"] for d in docs] == list(SHIPPED)
    for doc in docs:
        assert doc["status"] == "ok"
        # the table named as the command (meminfo's comes after its Mem:/Swap: table)
        [table] = [r for r in doc["results"] if r["name"] == doc["command"]]
        assert table["columns"] == COLUMNS[doc["command"]]
        assert table["rows"] and all(set(r) == set(table["columns"]) for r in table["rows"])
    # and per command, without the global option
    [meminfo] = [d for d in docs if d["command"] == "meminfo"]
    done = vmintro("-c", "meminfo --json", str(DEMO))
    assert json.loads(done.stdout)["results"] == meminfo["results"]


def test_broken_plugins_with_c(broken_dir: Path) -> None:
    done = vmintro("--plugin-dir", str(broken_dir), "-c", "goodcmd; boom; meminfo", str(DEMO))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert sorted(lines) == sorted(
        [*ERRORS.values(), "boom: internal error: RuntimeError: walked off the end"]
    )
    assert done.stdout.startswith("N\n1\n        total:    used:")


def test_run_a_script_with_plugins(broken_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "use.py"
    script.write_text(
        textwrap.dedent(
            """
            [table] = run("goodcmd")
            print([row["n"] for row in table.rows])
            [table] = run("modules")
            print([row["name"] for row in table.rows])
            """
        )
    )
    done = vmintro("run", "--plugin-dir", str(broken_dir), str(script), str(DEMO))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[1]\n['e100', 'jbd', 'ext3']\n"
    assert len(done.stderr.splitlines()) == len(ERRORS)


def test_repl_with_broken_plugins(broken_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
    env["VMINTRO_HISTORY"] = str(tmp_path / "history")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "vmintro.cli", "repl", "-q", "--plugin-dir", str(broken_dir), str(DEMO)],
        env=env,
        cwd=str(ROOT),
        encoding="utf-8",
        dimensions=(200, 200),
        timeout=20,
    )

    def prompt() -> str:
        """What came before the next prompt; the pause lets it reach raw mode."""
        child.expect(PROMPT)
        time.sleep(0.15)
        return child.before

    def run(line: str) -> str:
        child.sendline(line)
        return prompt()

    start = prompt()
    for message in ERRORS.values():
        assert start.count(message) == 1
    assert re.search(r"MemTotal: +\d+ kB\r\n", run("meminfo"))
    assert "boom: internal error: RuntimeError: walked off the end" in run("boom")
    listing = run("plugins")
    assert "goodcmd" in listing and "vmallocinfo" in listing and "syntaxerr" in listing
    assert "0xc4800000-0xc4811000   69632 pages=16 vmalloc" in run("vmallocinfo")
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_help_lists_the_plugin_commands(demo: Image) -> None:
    listing = demo.text("help")
    for name in SHIPPED:
        assert f"\n{name} " in listing
    manual = demo.text("help meminfo")
    assert "NAME\n  meminfo - memory and swap totals, as 2.4.20's /proc/meminfo" in manual
    assert "JSON columns: field, kb;" in manual
    rows = demo.json("help")["commands"]["rows"]
    assert {r["command"]: r["builtin"] for r in rows if r["command"] in SHIPPED} == dict.fromkeys(
        SHIPPED, False
    )
