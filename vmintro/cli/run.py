"""``vmintro run SCRIPT [IMAGE] [--] [ARG ...]``: a Python script with ``prog`` and the helpers."""

from __future__ import annotations

import argparse
import os
import sys

from vmintro.cli.image import open_image, refuse_exercise, scenario_hint
from vmintro.cli.parser import Parser, UsageExit, add_image_arguments, add_plugin_dir_option
from vmintro.errors import EXIT_FAILED, EXIT_OK
from vmintro.escape import escape_text
from vmintro.files import FileTooLargeError, read_regular
from vmintro.image.format.names import EXTENSIONS, is_image

__all__ = ["cmd_run", "parser"]


def cmd_run(args: argparse.Namespace) -> int:
    """Run the script as ``python SCRIPT ARGS`` would, in the namespace of ``py``."""
    script, image, rest = _split_words(list(args.words), args.image)
    source = _read_script(script)
    prog, name = open_image(image, args.vmlinux)
    refuse_exercise(prog, name, "Python scripts")
    from vmintro.cmdline.namespace import python_namespace
    from vmintro.commands.discovery import load_plugins

    load_plugins(args.plugin_dirs)

    namespace = python_namespace(prog)
    namespace.update(__name__="__main__", __file__=script)
    sys.argv = [script, *rest]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        code = compile(source, script, "exec")
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


# The longest script run: a Python source far past any a person writes, well short of
# what reading it whole and compiling it would take from the machine.
MAX_SCRIPT_BYTES = 16 << 20


def _read_script(script: str) -> bytes:
    """The bytes of ``script``, a regular file of at most MAX_SCRIPT_BYTES (compile() reads
    its encoding as python does: a coding line, else UTF-8).

    :raises UsageExit: one line: no such file, not a regular file (a FIFO would block,
        a device never end), too long.
    """
    shown = escape_text(script)
    try:
        return read_regular(script, MAX_SCRIPT_BYTES)
    except FileTooLargeError:
        raise UsageExit(
            f"{shown}: longer than {MAX_SCRIPT_BYTES >> 20} MiB, not a script"
        ) from None
    except OSError as e:  # NotRegularFileError's says what the file is
        raise UsageExit(f"{shown}: {e.strerror}") from None


def _split_words(words: list[str], image: str | None) -> tuple[str, str | None, list[str]]:
    """(script, image or None, the script's arguments) of the words after ``vmintro run``'s
    options: ``SCRIPT [IMAGE] [--] [ARG ...]``. The word after the script is the image
    where ``-i`` named none and it is one; ``--`` there (or after the image) says that
    none is given, and is not the script's. A ``--`` before the script ends the options.

    :raises UsageExit: no script, or a first argument that reads as an image too.
    """
    if words[:1] == ["--"]:
        words = words[1:]
    if not words:
        raise UsageExit(f"{_USAGE_MISSING} (see 'vmintro run --help')")
    script, rest = words[0], words[1:]
    if image is None and rest and rest[0] != "--":
        if not is_image(rest[0]):
            _refuse_image_like(script, rest[0])
            return script, None, rest
        image = rest.pop(0)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return script, image, rest


_USAGE_MISSING = "the following arguments are required: script"


def _refuse_image_like(script: str, word: str) -> None:
    """Refuse ``word``, the first word after the script and no image, where it reads as
    an image too: a name of an image's file (``NAME.vmcore``, ``NAME.vmlinux``, ...) or a
    scenario file. Taken as the script's argument, it would run the script on the demo
    image; both readings are named, and ``--`` picks the second.

    :raises UsageExit: one line.
    """
    shown = escape_text(word)
    why = scenario_hint(word)
    if why is None and word.endswith(EXTENSIONS["vmcore"]):
        why = f"{shown}: no such image"
    elif why is None and word.endswith(tuple(EXTENSIONS.values())):
        why = f"{shown}: a file of an image, not the image (an image is named NAME or NAME.vmcore)"
    if why is not None:
        raise UsageExit(
            f"{why}; to give it to the script instead, on the demo image: "
            f"vmintro run {escape_text(script)} -- {shown}"
        )


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="vmintro run",
        description="run a Python script with prog and the helpers in scope",
        usage="vmintro run [-h] [-i IMAGE] [--vmlinux FILE] [--plugin-dir DIR] "
        "SCRIPT [IMAGE] [--] [ARG ...]",
    )
    add_image_arguments(p, image="option")
    add_plugin_dir_option(p)
    # one positional for all: argparse would take a "--" right after a positional
    # SCRIPT as its own, and the "--" that says no IMAGE follows would be lost
    p.add_argument(
        "words",
        nargs=argparse.REMAINDER,
        metavar="SCRIPT [IMAGE] [--] [ARG ...]",
        help="the script; the image, where -i names none and the word after the script "
        "is one; the script's arguments (after --, where the first is not the image)",
    )
    p.set_defaults(func=cmd_run)
    return p
