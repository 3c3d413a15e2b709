"""C expressions over the kernel's symbols, as ``p``, ``struct`` and ``rd`` take them.

A small recursive-descent parser builds a tree; :func:`evaluate` computes it
with :class:`~vmintro.object.Object` arithmetic (so ``mem_map + 0x100`` scales
by ``sizeof(struct page)`` as C does) and :func:`type_of` computes only its type
(for completion: nothing is read). The grammar, loosest binding first::

    expr    := lor
    lor     := land ('||' land)*       land  := bor ('&&' bor)*
    bor     := xor ('|' xor)*          xor   := band ('^' band)*
    band    := eq ('&' eq)*            eq    := rel (('==' | '!=') rel)*
    rel     := shift (('<' | '>' | '<=' | '>=') shift)*
    shift   := sum (('<<' | '>>') sum)*
    sum     := product (('+' | '-') product)*
    product := unary (('*' | '/' | '%') unary)*
    unary   := ('-' | '+' | '~' | '!' | '*' | '&') unary | '(' TYPE ')' unary
             | 'sizeof' '(' TYPE ')' | 'sizeof' unary | postfix
    postfix := primary ('->' NAME | '.' NAME | '[' expr ']')*
    primary := NUMBER | NAME | '$' | '$' NUMBER | '(' expr ')'

Names are variables (typed), the macros ``VMALLOC_START``, ``VMALLOC_END``,
``PAGE_OFFSET``, ``PAGE_SIZE``, ``PAGE_SHIFT`` and ``high_memory``, and symbols
without a type: code and markers stand for their address, data (every variable
of a core opened without its vmlinux) can only be cast, ``(unsigned long)vmlist``
reading the memory as gdb does, or have its address taken. Every error is one line.

Operators follow C on i386, as gdb evaluates them: the usual arithmetic
conversions (``-1 < 4294967295`` is 0: the literal is unsigned), comparisons,
``!``, ``&&`` and ``||`` give an ``int`` 0 or 1 (``&&`` and ``||`` evaluate
their right side only when it decides), a shift has the type of its promoted
left operand, and a shift count that is negative or not below that type's
width is refused, as is a division by zero.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from vmintro.commands.registry import CommandError
from vmintro.errors import NoDebugInfoError
from vmintro.types.conversions import common_type, constant_type, is_integer, promote
from vmintro.types.model import (
    QUALIFIERS,
    Array,
    Base,
    CType,
    Enum,
    Pointer,
    Struct,
    Void,
    strip_typedefs,
)

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program, Symbol

__all__ = ["ExprError", "Node", "evaluate", "macros", "parse", "type_of", "unfinished"]


class ExprError(CommandError):
    """An expression that does not parse or cannot be computed."""


# -- tokens ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*)(?![\w])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<history>\$\d*)
      | (?P<op>->|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!<>().\[\]])
    )""",
    re.VERBOSE,
)

_TYPE_WORDS = frozenset(
    "struct union enum unsigned signed const volatile void char short int long".split()
)


@dataclass(frozen=True)
class Token:
    kind: str  # "number", "name", "history", "op", "end"
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].lstrip()[:10]
            raise ExprError(f"syntax error at '{bad}'")
        kind = m.lastgroup or "op"
        tokens.append(Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# -- tree --------------------------------------------------------------------------------


class Node:
    """A node of the expression tree."""


@dataclass(frozen=True)
class Num(Node):
    value: int
    suffix: str = ""  # C's u, l, ul, ll, ull (either case)


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class History(Node):
    index: int | None  # None: the last value


@dataclass(frozen=True)
class Member(Node):
    base: Node
    name: str
    arrow: bool


@dataclass(frozen=True)
class Index(Node):
    base: Node
    index: Node


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Cast(Node):
    type_name: str
    operand: Node


@dataclass(frozen=True)
class SizeOf(Node):
    type_name: str | None
    operand: Node | None


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


# -- parser ------------------------------------------------------------------------------

_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",),
    ("&&",),
    ("|",),
    ("^",),
    ("&",),
    ("==", "!="),
    ("<", ">", "<=", ">="),
    ("<<", ">>"),
    ("+", "-"),
    ("*", "/", "%"),
)
# the binding of each binary operator: its level, loosest first
_PRECEDENCE = {op: level for level, ops in enumerate(_LEVELS) for op in ops}
_COMPARISONS = frozenset(_LEVELS[5] + _LEVELS[6])
_LOGICAL = frozenset(_LEVELS[0] + _LEVELS[1])


# Parsing and evaluation recurse. Each level of parentheses costs the parser about
# ten Python frames and each level of the tree one or two to evaluate, so both are
# bounded well inside Python's recursion limit: past them, a one-line error rather
# than a RecursionError. No expression a person types comes near either.
MAX_NESTING = 40
MAX_TREE_DEPTH = 200
_TOO_DEEP = "expression too deeply nested"


class _Parser:
    def __init__(self, text: str, is_type_name: Callable[[str], bool]) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.is_type_name = is_type_name
        self.nesting = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, op: str) -> bool:
        if self.tok.kind == "op" and self.tok.text == op:
            self.i += 1
            return True
        return False

    def expect(self, op: str) -> None:
        if not self.accept(op):
            raise self.error(f"expected '{op}'")

    def error(self, what: str) -> ExprError:
        tok = self.tok
        where = f"'{tok.text}'" if tok.kind != "end" else "end of expression"
        return ExprError(f"{what} at {where}")

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExprError("empty expression")
        node = self.binary(0)
        if self.tok.kind != "end":
            raise self.error("syntax error")
        if _depth(node) > MAX_TREE_DEPTH:  # a long chain: a + b + ..., a->b->...
            raise ExprError(_TOO_DEEP)
        return node

    def binary(self, level: int) -> Node:
        """Operators binding at ``level`` or tighter, left to right (precedence
        climbing: one frame per level actually used, not one per level of C)."""
        node = self.unary()
        while self.tok.kind == "op" and _PRECEDENCE.get(self.tok.text, -1) >= level:
            op = self.next().text
            node = Binary(op, node, self.binary(_PRECEDENCE[op] + 1))
        return node

    def starts_type(self, offset: int = 0) -> bool:
        tok = self.tokens[self.i + offset]
        return tok.kind == "name" and (tok.text in _TYPE_WORDS or self.is_type_name(tok.text))

    def type_name(self) -> str:
        words = []
        while self.tok.kind == "name":
            words.append(self.next().text)
        stars = ""
        while self.accept("*"):
            stars += "*"
            while self.tok.kind == "name" and self.tok.text in QUALIFIERS:
                stars += f" {self.next().text} "  # `int * volatile`: the pointer's own
        if not words:
            raise self.error("expected a type")
        return " ".join(words) + (" " + stars.strip() if stars else "")

    def unary(self) -> Node:
        # every recursion of the grammar (parentheses, unary operators, casts,
        # subscripts) passes here
        self.nesting += 1
        try:
            if self.nesting > MAX_NESTING:
                raise ExprError(_TOO_DEEP)
            return self._unary()
        finally:
            self.nesting -= 1

    def _unary(self) -> Node:
        tok = self.tok
        if tok.kind == "op" and tok.text in ("-", "+", "~", "!", "*", "&"):
            self.next()
            return Unary(tok.text, self.unary())
        if tok.kind == "name" and tok.text == "sizeof":
            self.next()
            if self.tok.text == "(" and self.starts_type(1):
                self.next()
                name = self.type_name()
                self.expect(")")
                return SizeOf(name, None)
            return SizeOf(None, self.unary())
        if tok.kind == "op" and tok.text == "(" and self.starts_type(1):
            self.next()
            name = self.type_name()
            self.expect(")")
            return Cast(name, self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.accept("->") or self.accept("."):
                arrow = self.tokens[self.i - 1].text == "->"
                if self.tok.kind != "name":
                    raise self.error("expected a member name")
                node = Member(node, self.next().text, arrow)
            elif self.accept("["):
                index = self.binary(0)
                self.expect("]")
                node = Index(node, index)
            else:
                return node

    def primary(self) -> Node:
        tok = self.next()
        if tok.kind == "number":
            digits = tok.text.rstrip("uUlL")
            value = int(digits, 8) if _is_octal(digits) else int(digits, 0)
            return Num(value, tok.text[len(digits) :])
        if tok.kind == "name":
            return Name(tok.text)
        if tok.kind == "history":
            return History(int(tok.text[1:]) if len(tok.text) > 1 else None)
        if tok.kind == "op" and tok.text == "(":
            node = self.binary(0)
            self.expect(")")
            return node
        self.i -= 1
        raise self.error("expected a value")


def _depth(node: Node) -> int:
    """The depth of the tree under ``node``, counted without recursing."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        for f in fields(current):  # type: ignore[arg-type]  # each kind of Node is a dataclass
            child = getattr(current, f.name)
            if isinstance(child, Node):
                stack.append((child, depth + 1))
    return deepest


def _is_octal(text: str) -> bool:
    return len(text) > 1 and text.startswith("0") and text.isdigit()


def parse(text: str, is_type_name: Callable[[str], bool] = lambda _: False) -> Node:
    """The tree of ``text``; ``is_type_name`` tells typedef names (for casts) apart.

    :raises ExprError: for a syntax error, naming where it is.
    """
    return _Parser(text, is_type_name).parse()


# -- names -------------------------------------------------------------------------------


def macros(prog: Program) -> dict[str, int]:
    """The address-space macros an expression may use, with their values."""
    return {
        "PAGE_OFFSET": PAGE_OFFSET,
        "PAGE_SIZE": PAGE_SIZE,
        "PAGE_SHIFT": PAGE_SHIFT,
        "VMALLOC_START": prog.vmalloc_start,
        "VMALLOC_END": prog.vmalloc_end,
        "high_memory": prog.high_memory,
    }


def _untyped_data(prog: Program, node: Node) -> Symbol | None:
    """The symbol ``node`` names when it is data without a type (a core opened
    without its vmlinux has only those): gdb's ``<data variable, no debug info>``,
    which only a cast (``(unsigned long)vmlist``) or ``&`` can use.
    """
    if not isinstance(node, Name) or node.name in prog or node.name in macros(prog):
        return None
    try:
        sym = prog.symbol(node.name)
    except LookupError:
        return None
    return sym if sym.kind == "object" else None


def _type_namer(prog: Program) -> Callable[[str], bool]:
    types = prog.types()

    def is_type_name(word: str) -> bool:
        return word in types and word not in prog

    return is_type_name


# -- evaluation --------------------------------------------------------------------------


class _Evaluator:
    def __init__(self, prog: Program) -> None:
        self.prog = prog

    def literal(self, value: int, suffix: str = "") -> Object:
        from vmintro.object import Object

        try:
            ctype = constant_type(value, suffix)
        except ValueError as e:
            raise ExprError(str(e)) from None
        return Object(self.prog, ctype, value)

    def eval(self, node: Node) -> Object:
        from vmintro.object import Object, cast

        prog = self.prog
        if isinstance(node, Num):
            return self.literal(node.value, node.suffix)
        if isinstance(node, Name):
            return self.name(node.name)
        if isinstance(node, History):
            return self.history(node.index)
        if isinstance(node, Member):
            base = self.eval(node.base)
            return base.member_(node.name)
        if isinstance(node, Index):
            return self.eval(node.base)[int(self.eval(node.index))]
        if isinstance(node, Unary):
            untyped = _untyped_data(prog, node.operand)
            if node.op == "&" and untyped is not None:
                return Object(prog, "void *", untyped.address)
            value = self.eval(node.operand)
            if node.op == "*":
                return value.deref()
            if node.op == "&":
                return value.address_of_()
            return self.unary(node.op, value)
        if isinstance(node, Cast):
            untyped = _untyped_data(prog, node.operand)
            if untyped is not None:  # as gdb: the cast gives the memory its type
                return Object(prog, prog.type(node.type_name), address=untyped.address)
            return cast(prog.type(node.type_name), self.eval(node.operand))
        if isinstance(node, SizeOf):
            if node.type_name is not None:
                ctype = prog.type(node.type_name)
            else:
                assert node.operand is not None  # the parser gives sizeof one of the two
                ctype = self.eval(node.operand).type_
            return Object(prog, "unsigned long", ctype.size)
        if isinstance(node, Binary) and node.op in _LOGICAL:
            # C evaluates the right side only when the left does not decide
            left = _truth(self.eval(node.left), node.op)
            if left == (node.op == "||"):
                return _truth_value(prog, left)
            return _truth_value(prog, _truth(self.eval(node.right), node.op))
        if isinstance(node, Binary):
            return self.binary(node.op, self.eval(node.left), self.eval(node.right))
        raise ExprError(f"cannot evaluate {node!r}")

    def name(self, name: str) -> Object:
        from vmintro.object import Object

        prog = self.prog
        if name in prog:
            return prog[name]
        table = macros(prog)
        if name in table:
            return Object(prog, "unsigned long", table[name])
        try:
            sym = prog.symbol(name)
        except LookupError:
            raise ExprError(f'no symbol "{name}" in current context') from None
        if sym.kind == "object":  # data whose value needs a type it does not have
            if not prog.has_debuginfo:
                raise NoDebugInfoError(f"'{name}' has no type: cast it to its declared type")
            raise ExprError(f"'{name}' has unknown type; cast it to its declared type")
        return Object(prog, "unsigned long", sym.address)

    def history(self, index: int | None) -> Object:
        from vmintro.commands.settings import settings

        values = settings(self.prog).values
        if not values:
            raise ExprError("history is empty")
        if index is None:
            return values[-1]
        if not 1 <= index <= len(values):
            raise ExprError(f"history has not yet reached ${index}")
        return values[index - 1]

    @staticmethod
    def unary(op: str, value: Object) -> Object:
        """``!``, ``-``, ``+`` or ``~`` applied to ``value``."""
        if op == "!":
            return _truth_value(value.prog_, not _truth(value, "!"))
        return {"-": lambda v: -v, "+": lambda v: +v, "~": lambda v: ~v}[op](value)

    @staticmethod
    def binary(op: str, a: Object, b: Object) -> Object:
        if op in _COMPARISONS:
            return _compare(op, a, b)
        if op in ("<<", ">>"):
            return _shift(op, a, b)
        ops: dict[str, Callable[[Object, Object], Object]] = {
            "+": lambda x, y: x + y,
            "-": lambda x, y: x - y,
            "*": lambda x, y: x * y,
            "/": lambda x, y: x // y,
            "%": lambda x, y: x % y,
            "&": lambda x, y: x & y,
            "|": lambda x, y: x | y,
            "^": lambda x, y: x ^ y,
        }
        try:
            result = ops[op](a, b)
        except TypeError as e:
            if "unsupported operand" not in str(e):
                raise ExprError(str(e)) from None  # e.g. arithmetic on a void *
            result = NotImplemented  # neither operand's type supports the operator
        if result is NotImplemented:
            raise ExprError(
                f"invalid operands to '{op}': '{a.type_.c_name}' and '{b.type_.c_name}'"
            )
        return result


def _invalid(op: str, a: Object, b: Object) -> ExprError:
    return ExprError(f"invalid operands to '{op}': '{a.type_.c_name}' and '{b.type_.c_name}'")


def _is_scalar(value: Object) -> bool:
    """An integer, a pointer, or an array (which decays to its address)."""
    return is_integer(value.type_) or isinstance(strip_typedefs(value.type_), (Pointer, Array))


def _truth(value: Object, op: str) -> bool:
    """Whether a scalar is non-zero, as ``!``, ``&&`` and ``||`` test it."""
    if not _is_scalar(value):
        raise ExprError(f"invalid operand to '{op}': '{value.type_.c_name}'")
    return int(value) != 0


def _truth_value(prog: Program, value: bool) -> Object:
    """C's result of a comparison or logical operator: an ``int`` 0 or 1."""
    from vmintro.object import Object

    return Object(prog, "int", int(value))


def _compare(op: str, a: Object, b: Object) -> Object:
    """``a OP b`` for the six comparisons, after C's usual arithmetic conversions
    (so ``-1 < 1u`` is 0); pointers compare as addresses."""
    from vmintro.object import cast

    if not (_is_scalar(a) and _is_scalar(b)):
        raise _invalid(op, a, b)
    x, y = int(a), int(b)
    if is_integer(a.type_) and is_integer(b.type_):
        common = common_type(a.type_, b.type_)
        x, y = int(cast(common, a)), int(cast(common, b))
    result = {
        "<": x < y,
        ">": x > y,
        "<=": x <= y,
        ">=": x >= y,
        "==": x == y,
        "!=": x != y,
    }[op]
    return _truth_value(a.prog_, result)


def _shift(op: str, a: Object, b: Object) -> Object:
    """``a << b`` or ``a >> b``, of the type of the promoted ``a`` (as Object's
    shifts have it); a count that is negative or not below that type's width is
    undefined in C, and refused rather than given a made-up value."""
    if not (is_integer(a.type_) and is_integer(b.type_)):
        raise _invalid(op, a, b)
    count = int(b)
    width = 8 * promote(a.type_).size
    side = "left" if op == "<<" else "right"
    if count < 0:
        raise ExprError(f"{side} shift count is negative")
    if count >= width:
        raise ExprError(f"{side} shift count >= width of type")
    return a << b if op == "<<" else a >> b


def evaluate(prog: Program, text: str) -> Object:
    """The value of C expression ``text`` in ``prog``.

    >>> evaluate(prog, "mem_map + 0x100")
    Object(prog, 'struct page *', value=0xc1002c1c)

    :raises ExprError: for a syntax error or an invalid operation.
    :raises FaultError: when a value it needs cannot be read.
    """
    node = parse(text, _type_namer(prog))
    try:
        return _Evaluator(prog).eval(node)
    except ExprError:
        raise
    except ZeroDivisionError:
        raise ExprError("division by zero") from None
    except (LookupError, TypeError, ValueError, IndexError) as e:
        raise ExprError(_message(e)) from None


def unfinished(prog: Program, text: str) -> bool:
    """Whether ``text`` stops inside an expression that more words would continue:
    after an operator (``PAGE_OFFSET +``), inside brackets (``(vmlist``) or after a
    cast (``(struct page *)``). Text that is complete, or wrong, is not.
    """
    try:
        parser = _Parser(text, _type_namer(prog))
    except ExprError:
        return False  # not C at all: a word such as the bare hex 10b4
    try:
        parser.parse()
    except ExprError:
        return parser.tok.kind == "end"
    return False


def _message(e: Exception) -> str:
    """One line for ``e``; a plain KeyError's ``str`` would add quotes."""
    if type(e) is KeyError and e.args:
        return str(e.args[0])
    return str(e)


# -- types only --------------------------------------------------------------------------


def _placeholder(prog: Program, ctype: CType) -> Object:
    """A value of type ``ctype`` made without reading memory, for the operators to
    type their result on: a scalar 1 (no division by zero, no shift too wide), or
    for a struct or an array a reference that nothing reads."""
    from vmintro.object import Object

    if isinstance(strip_typedefs(ctype), (Base, Enum, Pointer)):
        return Object(prog, ctype, 1)
    return Object(prog, ctype, address=PAGE_OFFSET)


def _static_type(prog: Program, node: Node) -> CType:
    """The type ``node`` would have, computed without reading memory."""
    if isinstance(node, Num):
        return _Evaluator(prog).literal(node.value, node.suffix).type_
    if isinstance(node, SizeOf):
        # the operand's errors (an unknown name or type) are sizeof's, as in evaluation
        if node.operand is not None:
            _static_type(prog, node.operand)
        elif node.type_name is not None:
            prog.type(node.type_name)
        return prog.type("unsigned long")
    if isinstance(node, Name):
        if node.name in prog:
            return prog.variable(node.name).type_
        # A macro or an untyped symbol stands for an address, as evaluation has it
        # (nothing is read); any other name is evaluation's error, not an unsigned long.
        return _Evaluator(prog).name(node.name).type_
    if isinstance(node, History):
        return _Evaluator(prog).history(node.index).type_
    if isinstance(node, Member):
        t = strip_typedefs(_static_type(prog, node.base))
        if isinstance(t, Pointer):
            t = strip_typedefs(t.target)
        if not isinstance(t, Struct):
            raise ExprError(f"'{t.c_name}' is not a structure or union")
        try:
            return t.resolve(node.name)[1]
        except KeyError:
            raise ExprError(f"'{t.c_name}' has no member '{node.name}'") from None
    if isinstance(node, Index):
        t = strip_typedefs(_static_type(prog, node.base))
        if isinstance(t, Pointer):
            return t.target
        if isinstance(t, Array):
            return t.element
        raise ExprError(f"'{t.c_name}' is not an array or pointer")
    if isinstance(node, Unary):
        if node.op == "&" and _untyped_data(prog, node.operand) is not None:
            return Pointer(Void())
        t = _static_type(prog, node.operand)
        if node.op == "&":
            return Pointer(t)
        if node.op == "*":
            s = strip_typedefs(t)
            if isinstance(s, Pointer):
                return s.target
            if isinstance(s, Array):
                return s.element
            raise ExprError(f"cannot dereference '{t.c_name}'")
        return _Evaluator.unary(node.op, _placeholder(prog, t)).type_
    if isinstance(node, Cast):
        return prog.type(node.type_name)
    if isinstance(node, Binary):
        # the operator applied to values of its operands' types: the rules that
        # type the result are the evaluation's own
        a = _placeholder(prog, _static_type(prog, node.left))
        b = _placeholder(prog, _static_type(prog, node.right))
        if node.op in _LOGICAL:
            return _truth_value(prog, _truth(a, node.op) and _truth(b, node.op)).type_
        return _Evaluator.binary(node.op, a, b).type_
    raise ExprError(f"cannot type {node!r}")


def type_of(prog: Program, text: str) -> CType:
    """The C type of expression ``text``, without reading memory.

    :raises ExprError: for a syntax error or a member that does not exist.
    """
    node = parse(text, _type_namer(prog))
    try:
        return _static_type(prog, node)
    except ExprError:
        raise
    except (LookupError, TypeError, ValueError, IndexError) as e:
        raise ExprError(_message(e)) from None
