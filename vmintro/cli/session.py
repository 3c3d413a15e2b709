"""``vmintro [IMAGE]`` and ``vmintro repl [IMAGE]``: commands from ``-c``, from
standard input, or typed at the REPL.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from vmintro._version import __version__
from vmintro.cli.image import open_image
from vmintro.cli.parser import Parser, UsageExit, add_image_arguments, add_plugin_dir_option

if TYPE_CHECKING:
    from vmintro.cmdline.runner import Runner
    from vmintro.exercises.policy import Policy
    from vmintro.program import Program

__all__ = ["cmd_session", "parser", "run_commands", "run_stdin"]


def _session_runner(prog: Program, json: bool, policy: Policy | None = None) -> Runner:
    from vmintro.cmdline.python import PythonSession
    from vmintro.cmdline.runner import Runner

    if policy is not None:  # an exercise's: its commands only, no Python
        from vmintro.exercises.session import ExerciseRunner

        return ExerciseRunner(prog, policy, json=json)

    python = PythonSession(prog)
    runner = Runner(prog, json=json, python=python.run)
    runner.on_move.append(python.move)  # `goto` moves the Python lines' prog too
    return runner


def run_commands(prog: Program, text: str, json: bool, policy: Policy | None = None) -> int:
    """``-c``: the commands of ``text`` (``;`` between them), in order; the worst status."""
    from vmintro.commands.registry import QuitRequested

    runner = _session_runner(prog, json, policy)
    try:
        runner.run_line(text)
    except QuitRequested:
        pass
    return runner.status


def run_stdin(prog: Program, json: bool, policy: Policy | None = None) -> int:
    """Commands from standard input, one line each (``#`` starts a comment line)."""
    from vmintro.commands.registry import QuitRequested

    runner = _session_runner(prog, json, policy)
    for raw in sys.stdin:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            runner.run_line(line)
        except QuitRequested:
            break
    return runner.status


def cmd_session(args: argparse.Namespace) -> int:
    """The default action: ``-c``, standard input, or the REPL."""
    interactive = args.commands is None and not args.json and sys.stdin.isatty()
    # The REPL reads the vmlinux's DWARF once its first prompt is drawn (run_repl);
    # everything else reads and checks it here, before any command.
    prog, name = open_image(args.image, args.vmlinux, defer_types=interactive)
    from vmintro.commands.discovery import load_plugins
    from vmintro.exercises.policy import image_policy

    policy = getattr(args, "policy", None)  # `vmintro exercise open`: its commands only
    if policy is None and not getattr(args, "unrestricted", False):
        # an exercise's image opened as any other: the same rules
        policy = image_policy(prog)
        if policy is not None:
            ex = policy.exercise
            note = f"exercise {ex}: only its commands run (vmintro exercise open {ex})"
            print(f"vmintro: {name}: {note}", file=sys.stderr)
    load_plugins(args.plugin_dirs)  # before the first prompt: Ctrl-C stops a slow one
    if args.commands is not None:
        return run_commands(prog, args.commands, args.json, policy)
    if not sys.stdin.isatty():
        return run_stdin(prog, args.json, policy)
    if args.json:
        raise UsageExit("--json needs -c or commands on standard input")
    from vmintro.backends.image import ImageError
    from vmintro.repl.loop import run_repl

    runner = None
    if policy is not None:
        from vmintro.exercises.session import ExerciseRunner

        runner = ExerciseRunner(prog, policy, interactive=True)
    try:
        return run_repl(prog, name, show_banner=not args.quiet, runner=runner)
    except ImageError as e:  # the vmlinux's DWARF, read after the first prompt
        raise UsageExit(str(e)) from None


def parser(prog: str = "vmintro") -> argparse.ArgumentParser:
    p = Parser(
        prog=prog,
        description="Look inside a simulated Linux 2.4.20 i386 kernel's memory manager.",
        epilog=(
            "other commands: vmintro repl [IMAGE] | vmintro run SCRIPT.py [IMAGE] [ARGS] | "
            "vmintro generate -o NAME ... | vmintro check IMAGE... | vmintro map [IMAGE] | "
            "vmintro exercise list|show|open|hint|verify|make|grade | "
            "vmintro gdb-script [-o FILE] | "
            "vmintro serve [IMAGE] [--port N] | vmintro html [IMAGE] -o FILE | "
            "vmintro export --isf|--raw|--lime|--elf64 [IMAGE] -o FILE  "
            "('vmintro COMMAND -h' for each)"
        ),
    )
    p.add_argument("--version", action="version", version=f"vmintro {__version__}")
    p.add_argument("-c", dest="commands", metavar="COMMANDS", help="run these commands")
    p.add_argument("--json", action="store_true", help="results as JSON, one line each")
    p.add_argument("-q", "--quiet", action="store_true", help="no banner")
    add_plugin_dir_option(p)
    add_image_arguments(p)
    p.set_defaults(func=cmd_session)
    return p
