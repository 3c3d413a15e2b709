"""Many kernel objects written at once, for the simulator's batched boot workloads:
the ``struct list_head`` lists a run of ``list_add`` calls leaves, computed with
numpy, and rows of bytes put at many addresses."""

from __future__ import annotations

import struct

import numpy as np

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.sim.kernel import KernelMemory

__all__ = ["links", "thread", "write_heads", "write_objects"]


def links(heads: np.ndarray, group: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Circular lists through ``heads[g]``: ``nodes`` sorted by group, each group
    head first. (next, prev) of each node, and (first, last) of each group (the
    head's own next and prev; the head itself for an empty group)."""
    nxt = np.empty(len(nodes), dtype=np.int64)
    prev = np.empty(len(nodes), dtype=np.int64)
    if len(nodes):
        same = group[1:] == group[:-1]
        nxt[:-1] = np.where(same, nodes[1:], heads[group[:-1]])
        nxt[-1] = heads[group[-1]]
        prev[1:] = np.where(same, nodes[:-1], heads[group[1:]])
        prev[0] = heads[group[0]]
    first, last = heads.copy(), heads.copy()
    if len(nodes):
        brk = np.flatnonzero(np.diff(group)) + 1
        starts = np.concatenate(([0], brk))
        ends = np.concatenate((brk, [len(nodes)])) - 1
        first[group[starts]] = nodes[starts]
        last[group[ends]] = nodes[ends]
    return nxt, prev, first, last


def thread(k: KernelMemory, heads: np.ndarray, group: np.ndarray, nodes: np.ndarray) -> None:
    """Write the lists of :func:`links` whose nodes are anywhere in lowmem; only the
    heads that have nodes are written."""
    nxt, prev, first, last = links(heads, group, nodes)
    for node, n, p in zip(nodes.tolist(), nxt.tolist(), prev.tolist(), strict=True):
        k.write(node, struct.pack("<II", n, p))
    write_heads(k, heads, np.unique(group), first, last)


def write_heads(
    k: KernelMemory, heads: np.ndarray, used: np.ndarray, first: np.ndarray, last: np.ndarray
) -> None:
    """The list heads ``heads[used]`` pointing at their ``first`` and ``last`` nodes; a
    table of consecutive heads (a hash table) is read and written whole."""
    if len(heads) > 1 and bool(np.all(np.diff(heads) == 8)):
        table = np.frombuffer(bytearray(k.read(int(heads[0]), 8 * len(heads))), "<u4")
        table[2 * used], table[2 * used + 1] = first[used], last[used]
        k.write(int(heads[0]), table.tobytes())
        return
    for g in used.tolist():
        k.write(int(heads[g]), struct.pack("<II", int(first[g]), int(last[g])))


def write_objects(k: KernelMemory, addrs: np.ndarray, rows: np.ndarray) -> None:
    """Write ``rows[i]`` (bytes, one row per object) at ``addrs[i]`` in lowmem, one
    read and one write for each page the objects start in."""
    if not len(addrs):
        return
    size = rows.shape[1]
    order = np.argsort(addrs, kind="stable")
    addrs, rows = addrs[order], rows[order]
    page = (addrs - PAGE_OFFSET) // PAGE_SIZE
    brk = np.flatnonzero(np.diff(page)) + 1
    starts = np.concatenate(([0], brk)).tolist()
    ends = np.append(brk, len(addrs)).tolist()
    span = np.arange(size)
    for lo, hi in zip(starts, ends, strict=True):
        first = int(addrs[lo])
        buf = np.frombuffer(bytearray(k.read(first, int(addrs[hi - 1]) + size - first)), np.uint8)
        buf[(addrs[lo:hi] - first)[:, None] + span] = rows[lo:hi]
        k.write(first, buf.tobytes())
