"""Completion and highlighting of the command line (in-process, no terminal)."""

from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from vmintro.cmdline.python import PythonSession
from vmintro.cmdline.readings import ExpressionJudge
from vmintro.repl.completer import VmintroCompleter, expression_start
from vmintro.repl.lexer import CommandLexer


@pytest.fixture(scope="module")
def completer(prog) -> VmintroCompleter:
    python = PythonSession(prog)
    return VmintroCompleter(prog, lambda: python.namespace)


def complete(completer: VmintroCompleter, text: str) -> list[str]:
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vml", ["vmlist"]),
        ("p", ["p", "page", "plugins", "print", "ps", "ptov", "ptype", "py", "pipe"]),
        ("help vt", ["vtop"]),
        ("set ra", ["radix"]),
        ("set radix ", ["10", "16"]),
        ("sym contig_", ["contig_bootmem_data", "contig_page_data"]),
        ("vtop VMALLOC_", ["VMALLOC_END", "VMALLOC_START"]),
        ("p vmlist->", ["flags", "addr", "size", "next"]),
        ("p *vmlist->next->ad", ["addr"]),
        ("p mem_map[3].l", ["list", "lru"]),
        ("p contig_page_data.node_zones[0].free_area[2].", ["free_list", "map"]),
        ("struct vm_st", ["vm_struct"]),
        ("struct zone", ["zone_struct", "zone_t", "zonelist_struct", "zonelist_t"]),
        ("struct vm_struct.ad", ["addr"]),
        ("struct vm_struct.addr,s", ["size"]),
        ("list -o vm_struct.n", ["next"]),
        ("ptype struct pag", ["page"]),
        ("whatis pg_data", ["pg_data_t"]),
        ("vmlist; sym max_m", ["max_mapnr"]),
        ("!for_each_vm_", ["for_each_vm_area"]),
        ("!for_each_vm", ["for_each_vm_area", "for_each_vma"]),
        ("!prog.vmalloc_s", ["prog.vmalloc_start"]),
        ("p nosuch->", []),
    ],
)
def test_completions(completer: VmintroCompleter, text: str, expected: list[str]) -> None:
    assert complete(completer, text) == expected


def test_expression_start() -> None:
    text = "p (*vmlist->next)->ad"
    assert text[expression_start(text) :] == "(*vmlist->next)->ad"
    assert "x + mem_map[1 + 2].fl"[expression_start("x + mem_map[1 + 2].fl") :] == (
        "mem_map[1 + 2].fl"
    )


def test_lexer_styles_commands_numbers_and_redirections(prog) -> None:
    lexer = CommandLexer(lambda word: word == "vtop", ExpressionJudge(prog))
    styled = [(s, t) for s, t in lexer.lex_line("vtop 0xc4800000 | grep x") if t]
    assert styled[0] == ("class:command", "vtop")
    assert ("class:number", "0xc4800000") in styled
    assert ("class:redirect", "|") in styled
    assert lexer.lex_line("vtpo 1")[1] == ("class:unknown", "vtpo")
    arrows = lexer.lex_line("p vmlist->next")
    assert all(style != "class:redirect" for style, _ in arrows)  # '->' is C, not '>'
    python = lexer.lex_line("!print(1)")
    assert python[1] == ("class:redirect", "!")
    assert any("pygments" in style for style, _ in python)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kmem -", ["-v", "-p", "-f", "-s", "-S", "-i", "-P", "--json"]),
        ("kmem -f", ["-f"]),
        ("p -", ["-x", "-d", "--json"]),
        ("vtop --j", ["--json"]),
        ("p -vmli", ["vmlist", "vmlist_lock"]),  # no such option: C's unary minus
        ("pi", ["pipe"]),
        ("pipe p vmli", ["vmlist", "vmlist_lock"]),
        ("| vmli", ["vmlist"]),
        ("pipe vmlist | ca", []),  # the shell command's
        ("vmlist | gr", []),
        ("p (vmlist > max_m", ["max_mapnr"]),
    ],
)
def test_options_pipes_and_operators(completer: VmintroCompleter, text: str, expected) -> None:
    assert complete(completer, text) == expected


def test_file_names_after_a_redirection(completer: VmintroCompleter, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "areas.txt").write_text("")
    (tmp_path / "max_mine").mkdir()
    assert complete(completer, "vmlist > ar") == ["eas.txt"]
    assert complete(completer, "kmem -f >> ") == ["areas.txt", "max_mine"]
    assert complete(completer, 'vmlist > "ar') == ["eas.txt"]
    # p's '>' may be C or a file: both, until the line is run
    assert complete(completer, "p vmlist > max_m") == ["ine", "max_mapnr"]
    assert complete(completer, "p vmlist > 'max_m") == ["ine"]  # quoted: only a file
    assert complete(completer, "p vmlist->size >> max_m") == ["ine", "max_mapnr"]
    assert complete(completer, "vmlist > max_m") == ["ine"]  # no operand before it: a file


def test_lexer_marks_what_the_runner_takes(prog) -> None:
    lexer = CommandLexer(lambda word: word in ("p", "pipe", "vmlist"), ExpressionJudge(prog))

    def styled(line: str) -> list[tuple[str, str]]:
        return [
            (s, t) for s, t in lexer.lex_line(line) if s in ("class:redirect", "class:ambiguous")
        ]

    assert styled("p (256 >> 4) > out.txt") == [("class:redirect", ">")]
    assert styled("p vmlist->size >> 12") == [("class:ambiguous", ">>")]
    assert styled("p 1 > 2 + 3") == []  # '2 + 3' is no file name: C
    assert styled("pipe p 1 | 2 | cat") == [("class:redirect", "|")]
    assert styled("vmlist > a; p 1 || 2") == [("class:redirect", ">"), ("class:redirect", ";")]
