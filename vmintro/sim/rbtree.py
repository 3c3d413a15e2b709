"""Red-black trees as ``lib/rbtree.c`` of 2.4.20 keeps them in RAM.

A process's VMAs hang in ``mm->mm_rb`` by their ``vm_rb`` (2.4.20 replaced the
AVL tree of earlier 2.4 kernels with this one: there is no ``AVL_MIN_MAP_COUNT``,
every VMA is in the tree from the first on). The nodes are ``rb_node_t``
(``rb_parent``, ``rb_color``, ``rb_right``, ``rb_left``) and a root is the
address of an ``rb_root_t``, one pointer.
"""

from __future__ import annotations

from vmintro.sim.errors import kernel_function
from vmintro.sim.kernel import KernelMemory

__all__ = ["RB_BLACK", "RB_RED", "RbTree"]

RB_RED, RB_BLACK = 0, 1
NODE = "struct rb_node_s"


class RbTree:
    """The rbtree operations over ``k``'s memory."""

    def __init__(self, k: KernelMemory) -> None:
        t = k.types
        self.r, self.w = k.r32, k.w32
        self.o_parent = t.offsetof(NODE, "rb_parent")
        self.o_color = t.offsetof(NODE, "rb_color")
        self.o_right = t.offsetof(NODE, "rb_right")
        self.o_left = t.offsetof(NODE, "rb_left")

    # the fields, by node address
    def parent(self, n: int) -> int:
        return self.r(n + self.o_parent)

    def color(self, n: int) -> int:
        return self.r(n + self.o_color)

    def left(self, n: int) -> int:
        return self.r(n + self.o_left)

    def right(self, n: int) -> int:
        return self.r(n + self.o_right)

    def set_parent(self, n: int, v: int) -> None:
        self.w(n + self.o_parent, v)

    def set_color(self, n: int, v: int) -> None:
        self.w(n + self.o_color, v)

    def set_left(self, n: int, v: int) -> None:
        self.w(n + self.o_left, v)

    def set_right(self, n: int, v: int) -> None:
        self.w(n + self.o_right, v)

    def link_node(self, node: int, parent: int, link: int) -> None:
        """``rb_link_node``: a red leaf under ``parent``, stored at ``link``."""
        self.set_parent(node, parent)
        self.set_color(node, RB_RED)
        self.set_left(node, 0)
        self.set_right(node, 0)
        self.w(link, node)

    def _child(self, n: int, side: int) -> int:
        return self.r(n + side)

    def _rotate(self, node: int, root: int, up: int, down: int) -> None:
        """``__rb_rotate_left`` (``up`` the right link, ``down`` the left) or
        ``__rb_rotate_right`` (the other way round): ``node``'s ``up`` child takes
        its place and ``node`` becomes that child's ``down`` child."""
        pivot = self._child(node, up)
        inner = self._child(pivot, down)
        self.w(node + up, inner)
        if inner:
            self.set_parent(inner, node)
        self.w(pivot + down, node)
        p = self.parent(node)
        self.set_parent(pivot, p)
        self._replace_child(p, node, pivot, root)
        self.set_parent(node, pivot)

    def _is_black(self, n: int) -> bool:
        return not n or self.color(n) == RB_BLACK

    @kernel_function("rb_insert_color")
    def insert_color(self, node: int, root: int) -> None:
        """``rb_insert_color``: rebalance after ``link_node`` (its two mirrored
        halves as one: ``near`` is the side the parent hangs on)."""
        while True:
            parent = self.parent(node)
            if not parent or self.color(parent) != RB_RED:
                break
            gparent = self.parent(parent)
            near, far = (
                (self.o_left, self.o_right)
                if parent == self.left(gparent)
                else (self.o_right, self.o_left)
            )
            uncle = self._child(gparent, far)
            if uncle and self.color(uncle) == RB_RED:
                self.set_color(uncle, RB_BLACK)
                self.set_color(parent, RB_BLACK)
                self.set_color(gparent, RB_RED)
                node = gparent
                continue
            if self._child(parent, far) == node:
                self._rotate(parent, root, far, near)
                parent, node = node, parent
            self.set_color(parent, RB_BLACK)
            self.set_color(gparent, RB_RED)
            self._rotate(gparent, root, near, far)
        self.set_color(self.r(root), RB_BLACK)

    def _erase_color(self, node: int, parent: int, root: int) -> None:
        """``__rb_erase_color`` (its mirrored halves as one: ``near`` is ``node``'s
        side of ``parent``)."""
        while self._is_black(node) and node != self.r(root):
            near, far = (
                (self.o_left, self.o_right)
                if self.left(parent) == node
                else (self.o_right, self.o_left)
            )
            other = self._child(parent, far)
            if self.color(other) == RB_RED:
                self.set_color(other, RB_BLACK)
                self.set_color(parent, RB_RED)
                self._rotate(parent, root, far, near)
                other = self._child(parent, far)
            if self._is_black(self._child(other, near)) and self._is_black(self._child(other, far)):
                self.set_color(other, RB_RED)
                node = parent
                parent = self.parent(node)
                continue
            if self._is_black(self._child(other, far)):
                if inner := self._child(other, near):
                    self.set_color(inner, RB_BLACK)
                self.set_color(other, RB_RED)
                self._rotate(other, root, near, far)
                other = self._child(parent, far)
            self.set_color(other, self.color(parent))
            self.set_color(parent, RB_BLACK)
            if outer := self._child(other, far):
                self.set_color(outer, RB_BLACK)
            self._rotate(parent, root, far, near)
            node = self.r(root)
            break
        if node:
            self.set_color(node, RB_BLACK)

    @kernel_function("rb_erase")
    def erase(self, node: int, root: int) -> None:
        """``rb_erase``: unlink ``node`` and rebalance."""
        if not self.left(node):
            child = self.right(node)
        elif not self.right(node):
            child = self.left(node)
        else:
            old = node
            node = self.right(node)
            while left := self.left(node):
                node = left
            child = self.right(node)
            parent = self.parent(node)
            color = self.color(node)
            if child:
                self.set_parent(child, parent)
            self._replace_child(parent, node, child, root)
            if self.parent(node) == old:
                parent = node
            old_parent = self.parent(old)
            self.set_parent(node, old_parent)
            self.set_color(node, self.color(old))
            self.set_right(node, self.right(old))
            self.set_left(node, self.left(old))
            self._replace_child(old_parent, old, node, root)
            self.set_parent(self.left(old), node)
            if self.right(old):
                self.set_parent(self.right(old), node)
            if color == RB_BLACK:
                self._erase_color(child, parent, root)
            return
        parent = self.parent(node)
        color = self.color(node)
        if child:
            self.set_parent(child, parent)
        self._replace_child(parent, node, child, root)
        if color == RB_BLACK:
            self._erase_color(child, parent, root)

    def _replace_child(self, parent: int, node: int, child: int, root: int) -> None:
        if parent:
            if self.left(parent) == node:
                self.set_left(parent, child)
            else:
                self.set_right(parent, child)
        else:
            self.w(root, child)
