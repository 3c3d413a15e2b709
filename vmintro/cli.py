"""The ``vmintro`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vmintro._version import __version__

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as the rest of the tool
        self.exit(EXIT_USAGE, f"vmintro: {message}\n")


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


def cmd_generate(args: argparse.Namespace) -> int:
    from vmintro.arch.x86 import parse_size
    from vmintro.generate import generate
    from vmintro.scenario.loader import ScenarioError

    overrides = {"highmem": args.highmem, "pae": args.pae, "pse": args.pse, "seed": args.seed}
    if args.ram is not None:
        try:
            overrides["ram"] = parse_size(args.ram)
        except ValueError as e:
            return _fail(str(e), EXIT_USAGE)
    progress = _progress_printer(sys.stderr.isatty() and not args.quiet)
    try:
        paths = generate(args.output, args.scenario, overrides, progress)
    except ScenarioError as e:
        return _fail(str(e), EXIT_USAGE)
    except OSError as e:
        return _fail(f"{args.output}: {e.strerror}", EXIT_USAGE)
    if not args.quiet:
        for p in paths.values():
            print(p)
    return EXIT_OK


def _fail(message: str, status: int) -> int:
    sys.stderr.write(f"vmintro: {message}\n")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vmintro",
        description="Look inside a simulated Linux 2.4.20 i386 kernel's memory manager.",
    )
    parser.add_argument("--version", action="version", version=f"vmintro {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    g = sub.add_parser("generate", help="run a scenario on the simulator and write an image")
    g.add_argument("-o", "--output", required=True, help="image path without extension")
    g.add_argument("--scenario", default="demo", help="TOML file or built-in name (demo)")
    g.add_argument("--ram", help="RAM size, e.g. 64M, 4G")
    g.add_argument("--highmem", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--pae", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--pse", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("-q", "--quiet", action="store_true")
    g.set_defaults(func=cmd_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
