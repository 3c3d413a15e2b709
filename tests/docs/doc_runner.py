"""Run the transcripts of the docs and compare them with what the pages show.

Every ``vmintro-repl``, ``vmintro-script`` and ``vmintro-shell`` block of
``docs/**/*.rst`` (the format: ``docs/_ext/vmintro_transcripts.py``) is run
in this process, through the same code a user's command reaches: command lines
through :class:`vmintro.cmdline.runner.Runner` as ``vmintro -c`` runs them,
scripts in the namespace of ``vmintro run``, ``$ vmintro ...`` lines through
:func:`vmintro.cli.main`. ``tests/docs/test_transcripts.py`` fails on any
difference; a maintainer regenerates the outputs and reads the diff::

    python3 tests/docs/doc_runner.py              # check every page, print the differences
    python3 tests/docs/doc_runner.py --update     # rewrite the outputs in place
    python3 tests/docs/doc_runner.py --update docs/tutorial/vmlist.rst
    git diff docs/
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import io
import os
import shlex
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

from vmintro_transcripts import (  # noqa: E402
    Block,
    Step,
    parse_blocks,
    parse_steps,
    render_body,
    rewrite,
)

__all__ = ["ImageCache", "check_page", "pages", "run_block", "update_page"]


def pages() -> list[Path]:
    """Every hand-written page of the docs (the generated reference holds no transcript)."""
    skip = {DOCS / "reference" / "generated", DOCS / "_build"}
    return sorted(p for p in DOCS.rglob("*.rst") if not any(s in p.parents for s in skip))


@contextlib.contextmanager
def _in_checkout() -> Iterator[None]:
    """Image names on the pages are relative to the top of the checkout."""
    before = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


class ImageCache:
    """The images blocks name: a bundled ``NAME``, or a scenario ``FILE.toml`` generated
    once into a temporary directory (removed by :meth:`close`)."""

    def __init__(self) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._made: dict[str, Path] = {}

    def path(self, image: str) -> Path:
        if not image.endswith(".toml"):
            return ROOT / image
        if image not in self._made:
            from vmintro.generate import generate

            out = self._root() / Path(image).stem
            generate(out, str(ROOT / image))
            self._made[image] = out
        return self._made[image]

    def _root(self) -> Path:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="vmintro-docs-")
        return Path(self._dir.name)

    def scratch(self) -> Path:
        """A new empty directory (a shell block's ``$OUT``)."""
        return Path(tempfile.mkdtemp(prefix="out-", dir=self._root()))

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
            self._made.clear()


def _shown(text: str, image: Path | None = None, name: str = "") -> list[str]:
    """Printed text as a page shows it: paths inside the checkout relative to it, and an
    image generated from ``FILE.toml`` as ``FILE`` (what ``generate -o FILE`` would name it)."""
    if image is not None and name:
        text = text.replace(str(image), Path(name).stem if name.endswith(".toml") else name)
    text = text.replace(str(ROOT) + os.sep, "")
    return [line.rstrip() for line in text.rstrip("\n").split("\n")] if text.strip() else []


def _run_repl(block: Block, steps: list[Step], image: Path) -> list[Step]:
    import vmintro
    from vmintro.cmdline.python import PythonSession
    from vmintro.cmdline.runner import Runner
    from vmintro.commands.discovery import load_plugins
    from vmintro.commands.registry import QuitRequested

    load_plugins()
    prog = vmintro.open(image)
    buf = io.StringIO()
    runner = Runner(prog, out=buf, err=buf, python=PythonSession(prog).run)
    prompt = _repl_prompt(runner)
    done = []
    for step in steps:
        shown_prompt = prompt()
        buf.seek(0)
        buf.truncate()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            try:
                runner.run_line(step.source)
            except QuitRequested:
                pass
        done.append(Step(step.source, _shown(buf.getvalue(), image, block.image), shown_prompt))
    return done


def _repl_prompt(runner: Any) -> Callable[[], str]:
    """The prompt the REPL would show before each line (it can follow the session's moment)."""
    from vmintro.repl import loop

    make = getattr(importlib.import_module("vmintro.repl.toolbar"), "prompt", None)
    if make is None:
        return lambda: loop.PROMPT
    text: Callable[[], str] = make(lambda: runner.prog, loop.PROMPT)
    return text


def _run_script(block: Block, steps: list[Step], image: Path) -> list[Step]:
    import vmintro
    from vmintro.cmdline.namespace import python_namespace
    from vmintro.commands.discovery import load_plugins

    load_plugins()
    prog = vmintro.open(image)
    namespace = python_namespace(prog)
    namespace.update(__name__="__main__", __file__=f"{block.path.name}:{block.line}")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            exec(compile(steps[0].source, namespace["__file__"], "exec"), namespace)
        except Exception:  # noqa: BLE001 - shown as vmintro run shows it, and then differs
            etype, value, tb = sys.exc_info()
            traceback.print_exception(etype, value, tb.tb_next if tb else None)
    return [Step(steps[0].source, _shown(buf.getvalue(), image, block.image))]


def _run_shell(block: Block, steps: list[Step], out: Path) -> list[Step]:
    """``$ vmintro ...`` lines; ``$OUT`` in them is a fresh directory of this block's own."""
    from vmintro.cli import main

    done = []
    for step in steps:
        words = [w.replace("$OUT", str(out)) for w in shlex.split(step.source)]
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            if not words or words[0] != "vmintro":
                print(f"{block.where}: only 'vmintro ...' lines run here")
            else:
                try:
                    main(words[1:])
                except SystemExit:  # argparse's --help and usage errors
                    pass
        shown = _shown(buf.getvalue().replace(str(out), "$OUT"))
        done.append(Step(step.source, shown, step.prompt))
    return done


def run_block(block: Block, images: ImageCache) -> list[Step]:
    """Run ``block``: its steps with what they print now."""
    steps = parse_steps(block)
    with _in_checkout():
        if block.kind == "shell":
            return _run_shell(block, steps, images.scratch())
        image = images.path(block.image)
        if block.kind == "repl":
            return _run_repl(block, steps, image)
        return _run_script(block, steps, image)


def check_page(path: Path, images: ImageCache) -> list[str]:
    """A unified diff for each block of ``path`` whose output differs (none: all agree)."""
    problems = []
    for block in parse_blocks(path):
        want = render_body(block, parse_steps(block))
        got = render_body(block, run_block(block, images))
        if want != got:
            diff = difflib.unified_diff(
                want, got, f"{block.where} (the page)", f"{block.where} (run now)", lineterm=""
            )
            problems.append("\n".join(diff))
    return problems


def update_page(path: Path, images: ImageCache) -> bool:
    """Rewrite the outputs of ``path``'s blocks with what they print now; True if changed."""
    text = path.read_text(encoding="utf-8")
    replacements = [
        (block, render_body(block, run_block(block, images))) for block in parse_blocks(path, text)
    ]
    new = rewrite(text, replacements)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite the outputs in place")
    parser.add_argument("pages", nargs="*", type=Path, help="default: every page of docs/")
    args = parser.parse_args(argv)
    targets = [p.resolve() for p in args.pages] or pages()
    images = ImageCache()
    status = 0
    try:
        for page in targets:
            if args.update:
                if update_page(page, images):
                    print(f"updated {page.relative_to(ROOT)}")
            else:
                for problem in check_page(page, images):
                    print(problem)
                    status = 1
    finally:
        images.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
