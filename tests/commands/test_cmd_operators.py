"""C's comparison, logical and shift operators in expressions, as gdb evaluates them
on i386: gdb 13 on the demo image prints these values, except where a decimal literal
is above INT_MAX. vmintro types those unsigned long, as the gdb inside crash does;
gdb 13 types them long long, as C99 does (there -1 < 4294967295 is 1)."""

from __future__ import annotations

import pytest

from vmintro.commands.expr import ExprError, evaluate, type_of


@pytest.mark.parametrize(
    ("text", "value", "type_name"),
    [
        ("1 < 2", 1, "int"),
        ("2 <= 1", 0, "int"),
        ("-1 < 4294967295", 0, "int"),  # the int converts to unsigned long first
        ("-1 < 1", 1, "int"),
        ("3 == 3 != 0", 1, "int"),
        ("1 == 1 == 1", 1, "int"),
        ("2 > 1 > 0", 1, "int"),
        ("5 & 3 == 3", 1, "int"),  # == binds tighter than &
        ("1 << 2 < 3", 0, "int"),  # << binds tighter than <
        ("!5", 0, "int"),
        ("!!7", 1, "int"),
        ("~0 != -1", 0, "int"),
        ("0 || 3", 1, "int"),
        ("1 && 0", 0, "int"),
        ("0 && 1 / 0", 0, "int"),  # the right side is not evaluated
        ("1 || 1 / 0", 1, "int"),
        ("1 << 31", -(1 << 31), "int"),
        ("-8 >> 1", -4, "int"),  # arithmetic shift of a signed value
        ("4294967295 >> 31", 1, "unsigned long"),
        ("1 << (4294967296 - 4294967290)", 64, "int"),  # the left operand's type
        ("2147483648 % -1", 2147483648, "unsigned long"),  # -1 is 0xffffffff here
        ("4294967295 / -1", 1, "unsigned long"),
        ("vmlist->size >> 12", 17, "unsigned long"),
        ("vmlist > 4096", 1, "int"),
        ("vmlist != 0 && vmlist->next != vmlist", 1, "int"),
    ],
)
def test_operators(prog, text: str, value: int, type_name: str) -> None:
    result = evaluate(prog, text)
    assert (int(result), result.type_.c_name) == (value, type_name)
    assert type_of(prog, text).c_name == type_name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 << 32", "left shift count >= width of type"),
        ("1 >> -1", "right shift count is negative"),
        ("4294967296 << 64", "left shift count >= width of type"),
        ("1 / (2 < 1)", "division by zero"),
        ("*vmlist < 1", "invalid operands to '<': 'struct vm_struct' and 'int'"),
        ("!*vmlist", "invalid operand to '!': 'struct vm_struct'"),
        ("1 <", "expected a value at end of expression"),
        ("1 >>= 2", "syntax error at '= 2'"),
    ],
)
def test_operator_errors(prog, text: str, message: str) -> None:
    with pytest.raises(ExprError) as error:
        evaluate(prog, text)
    assert str(error.value).startswith(message)
