"""``vmintro run SCRIPT [IMAGE] [ARGS]``: a Python script with ``prog`` and the helpers."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vmintro.cli.image import open_image, refuse_exercise
from vmintro.cli.parser import Parser, UsageExit, add_image_arguments, add_plugin_dir_option
from vmintro.errors import EXIT_FAILED, EXIT_OK
from vmintro.image.format.names import is_image

__all__ = ["cmd_run", "parser"]


def cmd_run(args: argparse.Namespace) -> int:
    """Run the script as ``python SCRIPT ARGS`` would, in the namespace of ``py``."""
    rest = list(args.args)
    image = args.image
    if rest and rest[0] == "--":
        rest.pop(0)
    elif image is None and rest and is_image(rest[0]):
        image = rest.pop(0)
    try:
        source = Path(args.script).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageExit(f"{args.script}: {e.strerror}") from None
    prog, name = open_image(image, args.vmlinux)
    refuse_exercise(prog, name, "Python scripts")
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
            return e.code  # the script's own status, as python would exit with it
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


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="vmintro run",
        description="run a Python script with prog and the helpers in scope",
    )
    add_image_arguments(p, image="option")
    add_plugin_dir_option(p)
    p.add_argument("script")
    p.add_argument("args", nargs=argparse.REMAINDER, help="[IMAGE] [--] script arguments")
    p.set_defaults(func=cmd_run)
    return p
