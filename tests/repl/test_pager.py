"""The pager: pages forward, back, searches (through lines not yet computed too), quits."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest

from vmintro.cmdline.pager import Pager, StopOutput

CLEAR = "\x1b[H\x1b[2J"
PROMPT = re.compile(r"-- MORE --[^\r]*\r\x1b\[K")


def keys(*pressed: str) -> Iterator[str]:
    yield from "".join(pressed)


def feed(rows: int, lines: list[str], pressed: str) -> tuple[list[list[str]], bool]:
    """Lines through a pager of ``rows`` rows with ``pressed`` keys: the screens shown
    (split where the screen was cleared), and whether the reader stopped it."""
    out = io.StringIO()
    presses = keys(pressed)
    pager = Pager(out, rows, key=lambda: next(presses))
    stopped = False
    try:
        for line in lines:
            pager.write_line(line)
        pager.finish()
    except StopOutput:
        stopped = True
    text = PROMPT.sub("", out.getvalue())
    text = re.sub(r"/[^\r]*\r\x1b\[K", "", text)  # the typed search pattern, erased
    screens = [s.splitlines() for s in text.split(CLEAR)]
    return screens, stopped


LINES = [f"line {i}" for i in range(40)]


def test_space_pages_and_enter_adds_a_line() -> None:
    [screen], stopped = feed(5, LINES[:12], " \n q")
    # 4 lines, a page of 4, one line, then the next page would need q... it ended first
    assert screen == LINES[:12] and not stopped


def test_q_stops_the_output() -> None:
    [screen], stopped = feed(5, LINES, "q")
    assert screen == LINES[:4] and stopped


def test_b_goes_back_a_page_and_forward_again() -> None:
    screens, stopped = feed(5, LINES, " bq")
    assert screens[0] == LINES[:8]
    assert screens[1] == LINES[0:4]  # back from the second page to the first
    assert stopped


def test_search_finds_a_line_already_shown_or_still_to_come() -> None:
    screens, stopped = feed(5, LINES, "/line 2[5]\rq")
    assert screens[1][:4] == LINES[25:29] and stopped
    # n repeats the last search; the output ending before a match says so
    screens, stopped = feed(5, LINES, "/line 1\rnq")
    assert [s[0] for s in screens[1:]] == ["line 1", "line 10"] and stopped
    screens, stopped = feed(5, LINES, "/nowhere\r")
    assert screens == [[*LINES[:4], "(pattern not found: nowhere)"]] and not stopped


def test_a_pattern_that_is_no_regex_is_searched_literally() -> None:
    lines = [*LINES[:10], "a [bracket", *LINES[10:]]
    screens, _ = feed(5, lines, "/[bracket\rq")
    assert screens[1][0] == "a [bracket"


@pytest.mark.parametrize("pressed", ["k", "gq"])
def test_back_at_the_first_line_waits_for_another_key(pressed: str) -> None:
    screens, _ = feed(5, LINES, pressed + "q")
    assert screens[0] == LINES[:4]


def test_vmintro_pager_names_a_program_that_gets_the_output(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vmintro.cmdline.lines import CommandLine
    from vmintro.cmdline.output import open_sink

    monkeypatch.setenv("VMINTRO_PAGER", "sed 's/^/paged: /'")
    shown = tmp_path / "terminal"
    with shown.open("w") as out:
        with open_sink(CommandLine("vmlist"), out, pager_rows=5) as sink:
            for line in LINES[:12]:
                sink.write_line(line)
            sink.finish()
    assert shown.read_text().splitlines() == [f"paged: {line}" for line in LINES[:12]]
    # not paged (a file, a pipe, scroll off): no pager program either
    with shown.open("w") as out:
        with open_sink(CommandLine("vmlist"), out, pager_rows=None) as sink:
            sink.write_line("plain")
    assert shown.read_text() == "plain\n"
