"""The nodes of a red-black tree left to right, read through the library's objects:
the order ``mm->mm_rb`` keeps areas in, which the ``vm_next`` list must agree with.
A module of its own name, shared by tests/sim and tests/helpers."""

from __future__ import annotations

from typing import Any


def rb_inorder(node: Any) -> list[int]:
    """The addresses of the nodes under ``node`` (a ``struct rb_node *``), in order."""
    out: list[int] = []
    stack, cur = [], node
    while stack or cur.value_():
        while cur.value_():
            stack.append(cur)
            cur = cur.rb_left
        cur = stack.pop()
        out.append(cur.value_())
        cur = cur.rb_right
    return out
