"""Random C expressions over integer literals, printed by ``p``: C's value or a refusal.

Each expression is a tree of literals under ``+ - * / % << >> & | ^ < > <= >=
== != && || ! ~`` (and unary ``-``, ``+``), written with the parentheses C's
precedence needs plus some more. ``p EXPR`` must print the value C gives it
on i386, computed here by an evaluator of its own (below), or refuse the line
as ambiguous when a top-level ``>``, ``>>`` or ``|`` could also redirect; ``p
(EXPR)`` is never refused. Nothing may appear in the working directory, and no
shell command may run. gdb is a second oracle for expressions whose literals
are ``int`` (gdb 13 types a larger decimal literal ``long long`` where
vmintro, like the gdb in crash, uses ``unsigned long``).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from replkit import DEMO

from vmintro.cmdline.lines import operators
from vmintro.cmdline.runner import Runner
from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

# -- the oracle: C on i386, with vmintro's (and crash's gdb's) literal types --------------


@dataclass(frozen=True)
class CType:
    bits: int
    signed: bool


INT = CType(32, True)
ULONG = CType(32, False)
ULLONG = CType(64, False)


class Undefined(Exception):
    """Division by zero, or a shift count out of range: no value."""


def wrap(value: int, t: CType) -> int:
    value &= (1 << t.bits) - 1
    if t.signed and value >> (t.bits - 1):
        value -= 1 << t.bits
    return value


def literal_type(value: int) -> CType:
    return INT if value < 1 << 31 else ULONG if value < 1 << 32 else ULLONG


def common(a: CType, b: CType) -> CType:
    """The usual arithmetic conversions (every type here is at least int)."""
    if a.bits != b.bits:
        return a if a.bits > b.bits else b
    return CType(a.bits, a.signed and b.signed)


@dataclass(frozen=True)
class Lit:
    value: int


@dataclass(frozen=True)
class Un:
    op: str
    arg: object


@dataclass(frozen=True)
class Bin:
    op: str
    left: object
    right: object


BINARY = {  # C's binding, loosest first
    "||": 0, "&&": 1, "|": 2, "^": 3, "&": 4, "==": 5, "!=": 5,
    "<": 6, ">": 6, "<=": 6, ">=": 6, "<<": 7, ">>": 7, "+": 8, "-": 8,
    "*": 9, "/": 9, "%": 9,
}  # fmt: skip
UNARY_LEVEL = 10


def c_value(node: object) -> tuple[int, CType]:
    """(value, type) of ``node`` as C evaluates it on i386."""
    if isinstance(node, Lit):
        t = literal_type(node.value)
        return node.value, t
    if isinstance(node, Un):
        v, t = c_value(node.arg)
        if node.op == "!":
            return int(v == 0), INT
        return wrap({"-": -v, "+": v, "~": ~v}[node.op], t), t
    assert isinstance(node, Bin)
    op = node.op
    if op in ("&&", "||"):
        left = c_value(node.left)[0] != 0
        if left == (op == "||"):
            return int(left), INT
        return int(c_value(node.right)[0] != 0), INT
    a, ta = c_value(node.left)
    b, tb = c_value(node.right)
    if op in ("<<", ">>"):
        if not 0 <= b < ta.bits:
            raise Undefined
        return wrap(a << b if op == "<<" else a >> b, ta), ta
    t = common(ta, tb)
    a, b = wrap(a, t), wrap(b, t)
    if op in ("<", ">", "<=", ">=", "==", "!="):
        result = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b, "==": a == b, "!=": a != b}
        return int(result[op]), INT
    if op in ("/", "%"):
        if b == 0:
            raise Undefined
        q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)  # C truncates
        return wrap(q if op == "/" else a - q * b, t), t
    result = {"+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b}[op]
    return wrap(result, t), t


def oracle(node: object) -> int | None:
    try:
        return c_value(node)[0]
    except Undefined:
        return None


# -- writing the trees as C ----------------------------------------------------------------


def level(node: object) -> int:
    return BINARY[node.op] if isinstance(node, Bin) else UNARY_LEVEL + (isinstance(node, Lit))


def write(node: object, extra: frozenset[int], path: int = 1) -> str:
    """C text for ``node``: parentheses where precedence needs them, and around the
    nodes whose path number is in ``extra``."""
    if isinstance(node, Lit):
        text = str(node.value)
    elif isinstance(node, Un):
        arg = write(node.arg, extra, 2 * path)
        if level(node.arg) < UNARY_LEVEL:
            arg = f"({arg})"
        space = " " if arg[0] in "+-" else ""  # '- -1', never the '--' of C
        text = f"{node.op}{space}{arg}"
    else:
        left = write(node.left, extra, 2 * path)
        right = write(node.right, extra, 2 * path + 1)
        if level(node.left) < BINARY[node.op]:
            left = f"({left})"
        if level(node.right) <= BINARY[node.op]:
            right = f"({right})"  # left-associative: a - (b - c) keeps its parentheses
        text = f"{left} {node.op} {right}"
    return f"({text})" if path in extra else text


def _leaf() -> st.SearchStrategy[Lit]:
    return st.one_of(
        st.integers(0, 40),
        st.integers(0, (1 << 31) - 1),
        st.integers(1 << 31, (1 << 32) - 1),
        st.integers(1 << 32, (1 << 64) - 1),
    ).map(Lit)


def trees(leaf: st.SearchStrategy[Lit]) -> st.SearchStrategy[object]:
    return st.recursive(
        leaf,
        lambda sub: st.one_of(
            st.builds(Un, st.sampled_from(["-", "+", "~", "!"]), sub),
            st.builds(Bin, st.sampled_from(sorted(BINARY)), sub, sub),
        ),
        max_leaves=8,
    )


expressions = st.tuples(trees(_leaf()), st.frozensets(st.integers(1, 64), max_size=4)).map(
    lambda drawn: (drawn[0], write(drawn[0], drawn[1]))
)
# gdb 13 types decimal literals of 2**31 and more as C does, not as crash's gdb
int_expressions = st.tuples(
    trees(st.integers(0, (1 << 31) - 1).map(Lit)), st.frozensets(st.integers(1, 64), max_size=4)
).map(lambda drawn: (drawn[0], write(drawn[0], drawn[1])))


def test_the_writer_needs_its_parentheses() -> None:
    # the oracle's own check: C's precedence, as written, changes these values
    tree = Bin("-", Lit(1), Bin("-", Lit(2), Lit(3)))
    assert write(tree, frozenset()) == "1 - (2 - 3)" and oracle(tree) == 2
    tree = Bin("*", Bin("+", Lit(1), Lit(2)), Lit(3))
    assert write(tree, frozenset()) == "(1 + 2) * 3" and oracle(tree) == 9
    assert oracle(Bin("<", Un("-", Lit(1)), Lit(4294967295))) == 0  # -1 converts to unsigned
    assert oracle(Bin("<<", Lit(1), Lit(32))) is None


# -- vmintro's p, in process and through -c ------------------------------------------------

VALUE = re.compile(r"\$\d+ = (-?\d+)\n")


def check_p(runner: Runner, out: io.StringIO, err: io.StringIO, tree: object, text: str) -> None:
    """``p TEXT`` gives C's value (or its error), or is refused as ambiguous."""
    expected = oracle(tree)
    for line in (f"p {text}", f"p ({text})"):
        out.seek(0), out.truncate(), err.seek(0), err.truncate()
        status = runner.run_line(line)
        if status == EXIT_USAGE:
            assert line == f"p {text}" and operators(text), (line, err.getvalue())
            assert err.getvalue().startswith(f"vmintro: ambiguous: '{line}' is ")
            assert out.getvalue() == "" and err.getvalue().count("\n") == 1
        elif expected is None:
            assert status == EXIT_FAILED, (line, out.getvalue())
            assert re.fullmatch(r"p: (division by zero|\w+ shift count .*)\n", err.getvalue())
        else:
            assert status == EXIT_OK, (line, err.getvalue())
            m = VALUE.fullmatch(out.getvalue())
            assert m and int(m[1]) == expected, (line, out.getvalue(), expected)


@pytest.fixture
def in_empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(expressions)
def test_p_prints_c_values_or_refuses(prog, in_empty_dir: Path, drawn) -> None:
    tree, text = drawn
    out, err = io.StringIO(), io.StringIO()
    check_p(Runner(prog, out=out, err=err), out, err, tree, text)
    assert os.listdir(in_empty_dir) == []


def vmintro_c(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmintro.cli", *argv, str(DEMO)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@settings(
    max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(expressions, min_size=10, max_size=10))
def test_p_through_vmintro_c(tmp_path: Path, drawn) -> None:
    """The same through the command line: ten in brackets in one process (JSON, a
    document each, so that errors stay in order), and the first as written."""
    line = "; ".join(f"p ({text})" for _, text in drawn)
    proc = vmintro_c(tmp_path, "--json", "-c", line)
    documents = [json.loads(d) for d in proc.stdout.splitlines()]
    assert len(documents) == len(drawn), proc.stderr
    for (tree, text), document in zip(drawn, documents, strict=True):
        expected = oracle(tree)
        if expected is None:
            assert document["status"] == "error", text
        else:
            assert document["results"][0]["data"]["value"] == expected, text
    tree, text = drawn[0]
    proc = vmintro_c(tmp_path, "-c", f"p {text}")
    if proc.returncode == EXIT_USAGE:
        assert operators(text) and proc.stderr.startswith("vmintro: ambiguous: ")
    elif oracle(tree) is None:
        assert proc.returncode == EXIT_FAILED, proc.stdout
    else:
        assert (proc.returncode, proc.stdout) == (EXIT_OK, f"$1 = {oracle(tree)}\n")
    assert os.listdir(tmp_path) == []


@settings(
    max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(int_expressions, min_size=40, max_size=40))
def test_gdb_agrees_with_the_oracle(gdb: str, drawn) -> None:
    """gdb on the demo vmlinux (i386: 32-bit long) prints the oracle's values."""
    defined = [(tree, text) for tree, text in drawn if oracle(tree) is not None]
    assume(len(defined) >= 20)
    args = [gdb, "-batch", "-nx", f"{DEMO}.vmlinux"]
    for _, text in defined:
        args += ["-ex", f"p {text}"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    values = [int(v) for v in re.findall(r"^\$\d+ = (-?\d+)$", proc.stdout, re.MULTILINE)]
    assert values == [oracle(tree) for tree, _ in defined], proc.stderr
