"""Expressions: the parser, C arithmetic, casts, macros, types without reads, errors."""

from __future__ import annotations

import pytest

from vmintro.commands.expr import (
    Binary,
    Cast,
    ExprError,
    Member,
    Name,
    Num,
    Unary,
    evaluate,
    parse,
    type_of,
)


def test_precedence_and_postfix_chain() -> None:
    tree = parse("*vmlist->next + 2 * 3")
    assert tree == Binary(
        "+",
        Unary("*", Member(Name("vmlist"), "next", True)),
        Binary("*", Num(2), Num(3)),
    )


def test_cast_needs_a_type_name() -> None:
    assert parse("(struct page *)0xc100001c") == Cast("struct page *", Num(0xC100001C))
    assert parse("(vmlist)") == Name("vmlist")  # not a type: a parenthesised expression
    assert parse("(zone_t *)0", lambda w: w == "zone_t") == Cast("zone_t *", Num(0))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vmlist->", "expected a member name at end of expression"),
        ("1 +", "expected a value at end of expression"),
        ("(1", "expected ')' at end of expression"),
        ("1 2", "syntax error at '2'"),
        ("", "empty expression"),
        ("a @ b", "syntax error at '@ b'"),
    ],
)
def test_syntax_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        parse(text)
    assert str(info.value) == message


def test_numbers(prog) -> None:
    assert int(evaluate(prog, "0x10")) == 16
    assert int(evaluate(prog, "10")) == 10
    assert int(evaluate(prog, "010")) == 8
    assert int(evaluate(prog, "4096UL")) == 4096
    assert evaluate(prog, "0xc8801000").type_.c_name == "unsigned long"


def test_pointer_arithmetic_scales_by_the_target(prog, truth) -> None:
    value = evaluate(prog, "mem_map + 0x100")
    assert value.type_.c_name == "struct page *"
    assert int(value) == truth["mem_map"] + 0x100 * truth["sizeof_page"]
    assert int(evaluate(prog, "(mem_map + 5) - mem_map")) == 5
    assert int(evaluate(prog, "&mem_map[3]")) == truth["mem_map"] + 3 * truth["sizeof_page"]


def test_member_access_follows_pointers(prog, truth) -> None:
    first, second = truth["areas"][0], truth["areas"][1]
    assert int(evaluate(prog, "vmlist")) == first["vm_struct"]
    assert int(evaluate(prog, "vmlist->next")) == second["vm_struct"]
    assert int(evaluate(prog, "vmlist->next->addr")) == second["addr"]
    assert int(evaluate(prog, "(*vmlist).size")) == first["size"]
    assert int(evaluate(prog, "vmlist[0].size")) == first["size"]


def test_macros(prog, truth) -> None:
    assert int(evaluate(prog, "VMALLOC_START")) == truth["vmalloc_start"]
    assert int(evaluate(prog, "VMALLOC_END")) == truth["vmalloc_end"]
    assert int(evaluate(prog, "VMALLOC_START + 4096")) == truth["vmalloc_start"] + 4096
    assert int(evaluate(prog, "PAGE_OFFSET")) == truth["page_offset"]
    assert int(evaluate(prog, "high_memory")) == truth["high_memory"]


def test_casts_sizeof_and_integer_ops(prog, truth) -> None:
    page = evaluate(prog, f"(struct page *){truth['mem_map']:#x}")
    assert page.type_.c_name == "struct page *"
    assert int(evaluate(prog, "sizeof(struct page)")) == truth["sizeof_page"]
    assert int(evaluate(prog, "sizeof *vmlist")) == 16
    assert int(evaluate(prog, "7 / 2")) == 3
    assert int(evaluate(prog, "-7 / 2")) == -3
    assert int(evaluate(prog, "7 % 4")) == 3
    assert int(evaluate(prog, "(0x1234 >> 4) & 0xf")) == 3
    assert int(evaluate(prog, "1 << 12 | 1")) == 4097
    assert int(evaluate(prog, "~0 ^ 0xff")) == -256


def test_untyped_symbols_stand_for_their_address(prog) -> None:
    assert int(evaluate(prog, "_text")) == prog.symbol("_text").address
    assert int(evaluate(prog, "_etext + 4")) == prog.symbol("_etext").address + 4
    # a typed array decays to a pointer: + 4 is four pgd_t further
    assert int(evaluate(prog, "swapper_pg_dir + 4")) == prog.symbol("swapper_pg_dir").address + 16


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nosuch + 1", 'no symbol "nosuch" in current context'),
        ("vmlist->nosuch", "'struct vm_struct' has no member 'nosuch'"),
        ("*max_mapnr", "cannot dereference 'unsigned long'"),
        ("1 / 0", "division by zero"),
        (
            "vmlist + vmlist",
            "invalid operands to '+': 'struct vm_struct *' and 'struct vm_struct *'",
        ),
        ("(struct nosuch *)0", "could not find type 'struct nosuch'"),
        ("$", "history is empty"),
    ],
)
def test_evaluation_errors_are_one_line(prog, text: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        evaluate(prog, text)
    assert str(info.value) == message


def test_type_of_reads_nothing(prog, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_reads(*args, **kwargs):
        raise AssertionError("type_of read memory")

    monkeypatch.setattr(prog, "read", no_reads)
    assert type_of(prog, "vmlist->next").c_name == "struct vm_struct *"
    assert type_of(prog, "contig_page_data.node_zones[1].free_area").c_name == "free_area_t [10]"
    assert type_of(prog, "mem_map + 1").c_name == "struct page *"
    assert type_of(prog, "*mem_map").c_name == "struct page"
    assert type_of(prog, "&vmlist").c_name == "struct vm_struct **"


@pytest.mark.parametrize(
    "text",
    ["nosuch", "nosuch + 1", "vmlist + nosuch", "sizeof(nosuch)", "sizeof(struct nosuch)"],
)
def test_type_of_fails_as_evaluation_does(prog, text: str) -> None:
    with pytest.raises(ExprError) as evaluated:
        evaluate(prog, text)
    with pytest.raises(ExprError) as typed:
        type_of(prog, text)
    assert str(typed.value) == str(evaluated.value)


def test_type_of_names_without_a_variable(prog) -> None:
    # macros and untyped symbols stand for an address, as in evaluation
    assert type_of(prog, "PAGE_SIZE").c_name == "unsigned long"
    assert type_of(prog, "_text").c_name == "unsigned long"
    assert type_of(prog, "sizeof(struct page)").c_name == "unsigned long"


def test_whatis_of_an_unknown_name_is_p_s_error(prog) -> None:
    from vmintro.commands import run

    for command in ("whatis", "p"):
        with pytest.raises(ExprError, match='^no symbol "nosuch" in current context$'):
            run(prog, f"{command} nosuch")


@pytest.mark.parametrize(
    "text",
    [
        "(" * 1000 + "1" + ")" * 1000,
        "-" * 1000 + "1",
        "(unsigned long)" * 1000 + "1",
        "mem_map[" * 500 + "0" + "]" * 500,
        "+".join(["1"] * 5000),
        "vmlist" + "->next" * 5000,
    ],
)
def test_deep_nesting_is_one_line(prog, text: str) -> None:
    for compute in (evaluate, type_of):
        with pytest.raises(ExprError, match="^expression too deeply nested$"):
            compute(prog, text)


def test_nesting_a_person_writes_still_parses(prog) -> None:
    assert int(evaluate(prog, "(" * 30 + "1" + ")" * 30)) == 1
    assert int(evaluate(prog, "+".join(["1"] * 150))) == 150
