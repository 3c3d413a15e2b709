"""Every command and script the tutorial and the guides show runs, against the image the
page names, and prints what the page shows (``tests/docs/doc_runner.py``; its
``--update`` rewrites the outputs for a maintainer to review with ``git diff``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import doc_runner
import pytest
from vmintro_transcripts import parse_blocks, parse_steps

PAGES = [p for p in doc_runner.pages() if parse_blocks(p)]


@pytest.fixture(scope="module")
def images() -> Iterator[doc_runner.ImageCache]:
    cache = doc_runner.ImageCache()
    yield cache
    cache.close()
    from vmintro.commands.discovery import unload_plugins

    unload_plugins()  # the pages' --plugin-dir plugins: later tests see only the shipped ones


def test_the_docs_have_transcripts() -> None:
    names = {p.relative_to(doc_runner.DOCS).as_posix() for p in PAGES}
    assert {"tutorial/why.rst", "tutorial/vmlist.rst", "guides/postmortem.rst"} <= names
    for page in PAGES:
        for block in parse_blocks(page):
            assert parse_steps(block), block.where


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(doc_runner.DOCS).as_posix())
def test_page_output_is_what_the_commands_print(page: Path, images: doc_runner.ImageCache) -> None:
    problems = doc_runner.check_page(page, images)
    assert not problems, (
        "the page shows other output than its commands print now "
        "(python3 tests/docs/doc_runner.py --update rewrites it):\n" + "\n\n".join(problems)
    )


def test_a_changed_output_is_caught_and_updated(tmp_path: Path) -> None:
    page = tmp_path / "page.rst"
    page.write_text(
        "Text.\n\n.. vmintro-repl:: images/demo\n\n   vmintro> vmlist c4811000\n"
        "   c10b6200   c4811000 - c4824000      99999\n\nMore text.\n"
    )
    cache = doc_runner.ImageCache()
    problems = doc_runner.check_page(page, cache)
    assert len(problems) == 1 and "99999" in problems[0] and "77824" in problems[0]
    assert doc_runner.update_page(page, cache)
    assert not doc_runner.check_page(page, cache)
    text = page.read_text()
    assert text.startswith("Text.\n") and text.endswith("\nMore text.\n")
    assert "   VM_STRUCT  ADDRESS RANGE             SIZE\n" in text and "77824" in text


def test_a_script_block_runs_with_prog_and_the_helpers(tmp_path: Path) -> None:
    page = tmp_path / "page.rst"
    page.write_text(
        ".. vmintro-script:: images/demo\n\n"
        "   print(hex(find_vm_area(prog, 0xc4811000).addr))\n"
        "   --- output ---\n   0x0\n"
    )
    cache = doc_runner.ImageCache()
    assert doc_runner.update_page(page, cache)
    assert page.read_text().endswith("   --- output ---\n   0xc4811000\n")


def test_repl_lines_are_known_by_the_repl_prompt_with_or_without_a_moment(tmp_path: Path) -> None:
    page = tmp_path / "page.rst"
    page.write_text(
        ".. vmintro-repl:: images/demo\n\n   vmintro> goto 1\n   entry 1/2\n"
        "   vmintro [1/2]> vmlist\n   vmintro> is output here\n   vmintro [x\n"
    )
    (block,) = parse_blocks(page)
    steps = parse_steps(block)
    assert [(s.prompt, s.source) for s in steps] == [
        ("vmintro> ", "goto 1"),
        ("vmintro [1/2]> ", "vmlist"),
        ("vmintro> ", "is output here"),
    ]
    assert steps[0].output == ["entry 1/2"] and steps[2].output == ["vmintro [x"]
