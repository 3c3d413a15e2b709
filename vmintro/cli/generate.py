"""``vmintro generate -o DIR/NAME ...``: run a scenario and write an image."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from vmintro.cli.parser import Parser, fail, warn
from vmintro.errors import EXIT_OK, EXIT_USAGE

__all__ = ["cmd_generate", "parser"]


def _progress_printer(enabled: bool) -> Callable[[str, int, int], None] | None:
    """A one-line progress display on stderr when it is a terminal."""
    if not enabled:
        return None

    def show(phase: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if done >= total and phase == "writing image" else ""
        sys.stderr.write(f"\r{phase:<18} [{bar}] {done}/{total}   {end}")
        sys.stderr.flush()

    return show


def cmd_generate(args: argparse.Namespace) -> int:
    from vmintro.generate import generate
    from vmintro.image.writer.install import ImageWriteError
    from vmintro.scenario.loader import ScenarioError, machine_value

    overrides = {"highmem": args.highmem, "pae": args.pae, "pse": args.pse}
    progress = _progress_printer(sys.stderr.isatty() and not args.quiet)
    try:
        for key in ("ram", "seed", "page_cache", "anon"):  # checked as [machine] values are
            if getattr(args, key) is not None:
                option = "--" + key.replace("_", "-")
                overrides[key] = machine_value(key, getattr(args, key), option)
        paths = generate(
            args.output, args.scenario, overrides, progress, warn, timeline=args.timeline
        )
    except (ScenarioError, ImageWriteError) as e:
        return fail(str(e), EXIT_USAGE)
    except OSError as e:
        return fail(f"{e.filename or args.output}: {e.strerror}", EXIT_USAGE)
    except MemoryError:  # the scenario asks for more than this host holds: nothing written
        return fail(
            f"{args.output}: this host ran out of memory generating it (the kernel's RAM and "
            "its timeline are held in memory): fewer calls, a smaller machine or --no-timeline; "
            "nothing was written",
            EXIT_USAGE,
        )
    if not args.quiet:
        for p in paths.values():
            print(p)
    return EXIT_OK


def _share(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (e.g. 0.3)") from None


def parser() -> argparse.ArgumentParser:
    g = Parser(prog="vmintro generate", description="run a scenario and write an image")
    g.add_argument(
        "-o", "--output", required=True, metavar="DIR/NAME",
        help="the image: NAME.vmcore, NAME.vmlinux, NAME.truth.json and NAME.timeline in DIR, "
        "which must exist",
    )  # fmt: skip
    g.add_argument("--scenario", default="demo", help="TOML file or built-in name (demo)")
    g.add_argument("--ram", help="RAM size, e.g. 64M, 4G")
    g.add_argument("--highmem", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--pae", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--pse", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--seed", help="the random steps' seed, 0 to 2**64-1")
    g.add_argument(
        "--page-cache", metavar="SHARE", type=_share,
        help="the share of RAM in the page cache when the steps begin, 0 to 0.9: files "
        "read, evicted and deleted so that free memory is in small blocks (default: "
        "the scenario's, else 0.3; 0 leaves the buddy lists as boot left them)",
    )  # fmt: skip
    g.add_argument(
        "--anon", metavar="SHARE", type=_share,
        help="the share of RAM user processes started at boot hold in anonymous memory, "
        "0 to 0.9, at most 1 GiB (default: the scenario's, else 0.1 up to 8 MiB; "
        "0 starts none)",
    )  # fmt: skip
    g.add_argument(
        "--no-timeline", dest="timeline", action="store_false",
        help="write no NAME.timeline (the record of every write the run made, for "
        "goto, history, blame and diff); an old one there is removed",
    )  # fmt: skip
    g.add_argument("-q", "--quiet", action="store_true")
    g.set_defaults(func=cmd_generate)
    return g
