"""The filesystem behind the page cache (``fs/super.c``, ``fs/dcache.c``,
``include/linux/fs.h``): the mounted super blocks, the path of a dentry or an
inode, and the buffer heads on a page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.errors import CorruptionError
from vmintro.helpers.list import list_for_each_entry
from vmintro.types.model import Pointer, strip_typedefs

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = ["dentry_path", "for_each_super_block", "get_super", "inode_path", "page_buffers"]

# Deeper than any path of PATH_MAX (4096) bytes: a bound for a d_parent cycle.
MAX_DEPTH = 2048
# MAX_BUF_PER_PAGE: a page of 4 KiB holds buffers of 512 bytes at the smallest.
MAX_BUF_PER_PAGE = 8


def for_each_super_block(prog: Program) -> Iterator[Object]:
    """Every ``struct super_block *`` on ``super_blocks``, in mount order, as
    ``sync_supers`` walks them (``sb_entry``)."""
    yield from list_for_each_entry(
        "struct super_block", prog["super_blocks"].address_of_(), "s_list"
    )


def get_super(prog: Program, dev: int) -> Object | None:
    """``get_super``: the super block mounted from device ``dev`` (a ``kdev_t``, such
    as ``0x0301`` for /dev/hda1), or None."""
    for sb in for_each_super_block(prog):
        if sb.s_dev.value_() == dev:
            return sb
    return None


def dentry_path(dentry: Object) -> bytes:
    """The path of ``dentry`` (a ``struct dentry`` or a pointer to one) from its
    filesystem's root, as drgn's ``dentry_path`` gives it: 2.4.20's ``__d_path``
    without the vfsmount, up the ``d_parent`` chain to the dentry that is its own
    parent (``IS_ROOT``)."""
    dentry = _pointer(dentry)
    names: list[bytes] = []
    seen = set()
    while dentry.d_parent.value_() != dentry.value_():
        if dentry.value_() in seen or len(names) >= MAX_DEPTH:
            raise CorruptionError("a dentry's d_parent chain loops", dentry.value_())
        seen.add(dentry.value_())
        name = dentry.d_name
        names.append(dentry.prog_.read(name.name.value_(), min(name.len.value_(), 4096)))
        dentry = dentry.d_parent
    return b"/" + b"/".join(reversed(names))


def inode_path(inode: Object) -> bytes | None:
    """The path of ``inode``'s first dentry (``i_dentry``'s first ``d_alias``), as
    drgn's ``inode_path``; None for an inode no dentry holds."""
    inode = _pointer(inode)
    for dentry in list_for_each_entry("struct dentry", inode.i_dentry.address_of_(), "d_alias"):
        return dentry_path(dentry)
    return None


def page_buffers(page: Object) -> Iterator[Object]:
    """The ``struct buffer_head *``s on ``page->buffers``, around the ``b_this_page``
    ring (later kernels' ``page_buffers``); none for a page without buffers."""
    page = _pointer(page)
    first = bh = page.buffers
    for _ in range(MAX_BUF_PER_PAGE):
        if not bh.value_():
            return
        yield bh
        bh = bh.b_this_page
        if bh.value_() == first.value_():
            return
    raise CorruptionError("a page's b_this_page ring does not close", page.value_())


def _pointer(obj: Object) -> Object:
    """``obj`` as a pointer: the helpers take ``struct dentry *`` or ``struct dentry``."""
    return obj if isinstance(strip_typedefs(obj.type_), Pointer) else obj.address_of_()
