"""Starting the REPL imports only what drawing its first prompt needs.

``vmintro repl IMAGE`` runs in a real pseudo-terminal until its first prompt is
drawn, where ``sys.modules`` is read (and the process ends). No command module and
none of the heavy libraries the commands use may be there yet: each is imported
when a command first needs it, after the prompt is drawn. The check is of what is
imported, not of how long it took.
"""

from __future__ import annotations

import os
import sys

import pytest
from replkit import DEMO, HERE, ROOT

# Imported at the first command that needs them, never before the first prompt.
HEAVY = (
    "numpy",  # batches of translations, frame searches
    "construct",  # building and parsing whole objects
    "vmintro.commands.builtin.",  # any command module (vmintro.commands.index names them)
    "vmintro.commands.expr",  # the C expression parser
    "vmintro.check",  # check and its runners
    "vmintro.checkrun",
    "vmintro.check_globals",
    "vmintro.timeline",  # the timeline: read after the first prompt is drawn
    "vmintro.image.format.timeline",
    "vmintro.mapview",
    "vmintro.sim",
    "elftools",  # pyelftools: the vmlinux's DWARF is read after the first prompt is drawn
    "concurrent.futures.process",  # check's process pool (asyncio imports the rest)
    "multiprocessing",
    "vmintro.cmdline.runner",  # the line runner: made when the first line is read
    "vmintro.exercises.session",  # an exercise's runner, for an exercise's image only
    "vmintro.repl.completer",  # at the first Tab
    "vmintro.repl.pyprompt",  # at the first `py`
    "vmintro.helpers.memory",  # the helpers no plugin names (vmintro.helpers imports a
    "vmintro.helpers.slab",  # module when one of its names is first wanted)
    "vmintro.commands.dispatch",  # the commands' parsing: at the first line, or the
    "vmintro.cmdline.lines",  # first key the lexer colours
    "vmintro.cmdline.readings",
)

# The modules are listed once the first prompt is drawn, before anything else the
# REPL does then (reading the timeline in the background), and the process ends.
CHILD = (
    "import os, sys\n"
    "from prompt_toolkit.shortcuts.prompt import PromptSession\n"
    "prompt = PromptSession.prompt\n"
    "def first_prompt(self, *args, **kwargs):\n"
    "    def drawn(app):\n"
    "        with open(sys.argv[1], 'w') as f:\n"
    "            f.write('\\n'.join(sorted(sys.modules)))\n"
    "        os._exit(0)\n"
    "    self.app.after_render._handlers.insert(0, drawn)\n"
    "    return prompt(self, *args, **kwargs)\n"
    "PromptSession.prompt = first_prompt\n"
    "from vmintro.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def heavy(modules: list[str]) -> list[str]:
    return [
        m
        for m in modules
        if any(m == h or m.startswith(h if h.endswith(".") else h + ".") for h in HEAVY)
    ]


@pytest.mark.parametrize("image", [DEMO], ids=["demo with its timeline"])
def test_the_first_prompt_imports_no_command_and_no_heavy_library(tmp_path, image) -> None:
    import pexpect

    listing = tmp_path / "modules.txt"
    env = {
        **os.environ,
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "TERM": "xterm",
        "VMINTRO_HISTORY": str(tmp_path / "history"),
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    child = pexpect.spawn(
        sys.executable,
        ["-c", CHILD, str(listing), "repl", str(image)],
        env=env,
        encoding="utf-8",
        dimensions=(40, 120),
        timeout=30,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    modules = listing.read_text().split()
    # the session did start: the image is open and the banner was printed
    assert "vmintro.repl.loop" in modules and "vmintro.program" in modules
    assert "RELEASE: 2.4.20" in child.before
    found = heavy(modules)
    hint = ""
    if any(m.startswith("vmintro.commands.builtin.") for m in found):
        hint = " (a command's declaration changed: python -m vmintro.commands.index)"
    assert found == [], f"imported before the first prompt: {found}{hint}"
