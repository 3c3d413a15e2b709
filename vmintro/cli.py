"""The ``vmintro`` command line.

::

    vmintro [IMAGE]                      the REPL (the bundled demo image by default)
    vmintro -c "vmlist; vtop c8801000" [IMAGE]
    vmintro [IMAGE] < commands.txt       commands from standard input
    vmintro --json -c "vmlist" [IMAGE]   every result as JSON (one document a line)
    vmintro repl [IMAGE]
    vmintro run SCRIPT.py [IMAGE] [ARGS...]
    vmintro generate -o images/NAME [--ram 128M] [--highmem] [--pae] ...

Exit status: 0 success, 1 a command (or script) failed, 2 bad usage or a bad
image (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vmintro._version import __version__
from vmintro.cli_tools import check_parser, exercise_parser, map_parser
from vmintro.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["main"]


class UsageExit(Exception):
    """Bad usage or a bad image: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as the rest of the tool
        self.exit(EXIT_USAGE, f"vmintro: {message} (see '{self.prog} --help')\n")


def _progress_printer(enabled: bool):
    """A one-line progress display on stderr when it is a terminal."""
    if not enabled:
        return None
    state = {"phase": ""}

    def show(phase: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if done >= total and phase == "writing image" else ""
        sys.stderr.write(f"\r{phase:<18} [{bar}] {done}/{total}   {end}")
        sys.stderr.flush()
        state["phase"] = phase

    return show


def _fail(message: str, status: int) -> int:
    _warn(message)
    return status


def _warn(message: str) -> None:
    sys.stderr.write(f"vmintro: {message}\n")


# -- generate --------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> int:
    from vmintro.generate import generate
    from vmintro.image.writer import ImageWriteError
    from vmintro.scenario.loader import ScenarioError, machine_value

    overrides = {"highmem": args.highmem, "pae": args.pae, "pse": args.pse}
    progress = _progress_printer(sys.stderr.isatty() and not args.quiet)
    try:
        for key in ("ram", "seed"):  # checked as a scenario's [machine] values are
            if getattr(args, key) is not None:
                overrides[key] = machine_value(key, getattr(args, key), f"--{key}")
        paths = generate(args.output, args.scenario, overrides, progress, _warn)
    except (ScenarioError, ImageWriteError) as e:
        return _fail(str(e), EXIT_USAGE)
    except OSError as e:
        return _fail(f"{e.filename or args.output}: {e.strerror}", EXIT_USAGE)
    if not args.quiet:
        for p in paths.values():
            print(p)
    return EXIT_OK


def _generate_parser() -> argparse.ArgumentParser:
    g = _Parser(prog="vmintro generate", description="run a scenario and write an image")
    g.add_argument(
        "-o", "--output", required=True, metavar="DIR/NAME",
        help="the image: NAME.vmcore, NAME.vmlinux and NAME.truth.json in DIR, which must exist",
    )  # fmt: skip
    g.add_argument("--scenario", default="demo", help="TOML file or built-in name (demo)")
    g.add_argument("--ram", help="RAM size, e.g. 64M, 4G")
    g.add_argument("--highmem", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--pae", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--pse", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--seed", help="the random steps' seed, 0 to 2**64-1")
    g.add_argument("-q", "--quiet", action="store_true")
    g.set_defaults(func=cmd_generate)
    return g


# -- opening an image ------------------------------------------------------------------


def open_image(image: str | None, vmlinux: str | None = None) -> tuple[Program, str]:
    """The program of ``image`` (the demo image when None) and the name to show.

    ``vmlinux`` names the kernel's debug file when it is not ``NAME.vmlinux``
    beside the core.

    :raises UsageExit: with ``demo.vmcore: ...`` for a missing or malformed image, or
        a demo image that cannot be generated.
    """
    import vmintro
    from vmintro.image_backend import ImageError

    path = image if image is not None else _demo_image()
    try:
        return vmintro.open(path, vmlinux), path
    except ImageError as e:
        raise UsageExit(str(e)) from None


def _demo_image() -> str:
    """The bundled demo image; installed without images/, generated once (and said so)."""
    from vmintro.demo import default_image
    from vmintro.image.writer import ImageWriteError
    from vmintro.scenario.loader import ScenarioError

    try:
        return str(default_image(note=lambda line: print(f"vmintro: {line}", file=sys.stderr)))
    except (ScenarioError, ImageWriteError) as e:
        raise UsageExit(f"cannot generate the demo image: {e}") from None
    except OSError as e:
        raise UsageExit(f"cannot generate the demo image: {e.filename}: {e.strerror}") from None


# -- scripted use and the REPL ---------------------------------------------------------


def vmlinux_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vmlinux",
        metavar="FILE",
        help="the kernel's vmlinux (default: NAME.vmlinux beside the core)",
    )


def _plugin_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin-dir", dest="plugin_dirs", action="append", default=[], metavar="DIR",
        help="load the plugins of DIR too (repeatable)",
    )  # fmt: skip


def _session_runner(prog: Program, json: bool):
    from vmintro.cmdline.python import PythonSession
    from vmintro.cmdline.runner import Runner

    return Runner(prog, json=json, python=PythonSession(prog).run)


def run_commands(prog: Program, text: str, json: bool) -> int:
    """``-c``: the commands of ``text`` (``;`` between them), in order."""
    from vmintro.commands.registry import QuitRequested

    runner = _session_runner(prog, json)
    try:
        runner.run_line(text)
    except QuitRequested:
        pass
    return runner.status


def run_stdin(prog: Program, json: bool) -> int:
    """Commands from standard input, one line each (``#`` starts a comment line)."""
    from vmintro.commands.registry import QuitRequested

    runner = _session_runner(prog, json)
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
    prog, name = open_image(args.image, args.vmlinux)
    from vmintro.commands.discovery import load_plugins

    load_plugins(args.plugin_dirs)
    if args.commands is not None:
        return run_commands(prog, args.commands, args.json)
    if not sys.stdin.isatty():
        return run_stdin(prog, args.json)
    if args.json:
        raise UsageExit("--json needs -c or commands on standard input")
    from vmintro.repl.loop import run_repl

    return run_repl(prog, name, show_banner=not args.quiet)


def _looks_like_image(word: str) -> bool:
    path = Path(word)
    return (path.suffix == ".vmcore" and path.exists()) or Path(f"{word}.vmcore").exists()


def cmd_run(args: argparse.Namespace) -> int:
    """``vmintro run SCRIPT [IMAGE] [ARGS]``: the script with ``prog`` and the helpers."""
    rest = list(args.args)
    image = args.image
    if rest and rest[0] == "--":
        rest.pop(0)
    elif image is None and rest and _looks_like_image(rest[0]):
        image = rest.pop(0)
    try:
        source = Path(args.script).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageExit(f"{args.script}: {e.strerror}") from None
    prog, _ = open_image(image, args.vmlinux)
    from vmintro.cmdline.namespace import python_namespace
    from vmintro.commands.discovery import load_plugins

    load_plugins(args.plugin_dirs)

    namespace = python_namespace(prog)
    namespace.update(__name__="__main__", __file__=args.script)
    sys.argv = [args.script, *rest]
    sys.path.insert(0, os.path.dirname(os.path.abspath(args.script)))
    try:
        code = compile(source, args.script, "exec")
        exec(code, namespace)
    except SystemExit as e:
        if e.code is None:
            return EXIT_OK
        if isinstance(e.code, int):
            return e.code
        print(e.code, file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - the script's traceback, as python would show it
        import traceback

        etype, value, tb = sys.exc_info()
        traceback.print_exception(etype, value, tb.tb_next if tb else None)
        return EXIT_FAILED
    return EXIT_OK


def _session_parser(prog: str = "vmintro") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Look inside a simulated Linux 2.4.20 i386 kernel's memory manager.",
        epilog=(
            "other commands: vmintro repl [IMAGE] | vmintro run SCRIPT.py [IMAGE] [ARGS] | "
            "vmintro generate -o NAME ... | vmintro check IMAGE... | vmintro map [IMAGE] | "
            "vmintro exercise list|show|verify | vmintro gdb-script [-o FILE]  "
            "('vmintro COMMAND -h' for each)"
        ),
    )
    parser.add_argument("--version", action="version", version=f"vmintro {__version__}")
    parser.add_argument("-c", dest="commands", metavar="COMMANDS", help="run these commands")
    parser.add_argument("--json", action="store_true", help="results as JSON, one line each")
    parser.add_argument("-q", "--quiet", action="store_true", help="no banner")
    _plugin_dir_option(parser)
    parser.add_argument("image", nargs="?", help="NAME or NAME.vmcore (default: the demo image)")
    vmlinux_option(parser)
    parser.set_defaults(func=cmd_session)
    return parser


def _run_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vmintro run",
        description="run a Python script with prog and the helpers in scope",
    )
    parser.add_argument("-i", "--image", help="the image (else the first argument if it is one)")
    vmlinux_option(parser)
    _plugin_dir_option(parser)
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="[IMAGE] [--] script arguments")
    parser.set_defaults(func=cmd_run)
    return parser


_SUBCOMMANDS = {
    "check": lambda: check_parser(_Parser),
    "exercise": lambda: exercise_parser(_Parser),
    "map": lambda: map_parser(_Parser),
    "gdb-script": lambda: __import__("vmintro.gdb_script").gdb_script.parser(_Parser),
    "generate": _generate_parser,
    "repl": lambda: _session_parser("vmintro repl"),
    "run": _run_parser,
}


def build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser for ``argv`` and the words it parses (the subcommand name removed)."""
    words = list(argv)
    if words and words[0] in _SUBCOMMANDS:
        return _SUBCOMMANDS[words[0]](), words[1:]
    return _session_parser(), words


def main(argv: Sequence[str] | None = None) -> int:
    parser, words = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(words)
    try:
        return args.func(args)
    except UsageExit as e:
        return _fail(str(e), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`vmintro ... | head`): stop quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    # Under ``python -m vmintro.cli`` this file runs as ``__main__``, a second copy of
    # the module: its UsageExit would not catch the one vmintro.cli_tools raises from
    # ``vmintro.cli``. Run the imported module's main instead.
    from vmintro.cli import main as _main

    sys.exit(_main())
