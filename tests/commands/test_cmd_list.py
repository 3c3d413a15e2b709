"""``list``: the walk's end conditions, crash's -H/-h forms, and cycles."""

from __future__ import annotations

import pytest

from vmintro.commands import run
from vmintro.commands.builtin.list import walk_list
from vmintro.errors import CorruptionError, FaultError
from vmintro.helpers import for_each_free_area, for_each_zone


class Links:
    """Just enough of a program for walk_list: 32-bit words at addresses."""

    def __init__(self, words: dict[int, int]) -> None:
        self.words = words

    def read_u32(self, address: int) -> int:
        if address not in self.words:
            raise FaultError(address, f"read of {address:#x}: page not present")
        return self.words[address]


def test_singly_linked_ends_at_null_or_at_the_start() -> None:
    assert list(walk_list(Links({0x104: 0x200, 0x204: 0}), 0x100, 4)) == [0x100, 0x200]
    ring = Links({0x104: 0x200, 0x204: 0x300, 0x304: 0x100})
    assert list(walk_list(ring, 0x100, 4)) == [0x100, 0x200, 0x300]


def test_a_cycle_that_misses_the_start_is_a_duplicate_entry() -> None:
    lasso = Links({0x104: 0x200, 0x204: 0x300, 0x304: 0x200})
    walk = walk_list(lasso, 0x100, 4)
    assert [next(walk), next(walk), next(walk)] == [0x100, 0x200, 0x300]
    with pytest.raises(CorruptionError, match="duplicate list entry: 200"):
        next(walk)


def test_an_unreadable_link_stops_the_walk() -> None:
    walk = walk_list(Links({0x104: 0x200}), 0x100, 4)
    assert next(walk) == 0x100 and next(walk) == 0x200
    with pytest.raises(CorruptionError, match="cannot read the next pointer: read of 0x204"):
        next(walk)


def test_list_head_forms() -> None:
    # head at 0x10; entries at 0x100 and 0x200 hold their list_head at offset 8
    words = {0x10: 0x108, 0x108: 0x208, 0x208: 0x10}
    assert list(walk_list(Links(words), 0x10, 8, list_head=True, head_excluded=True)) == [
        0x100,
        0x200,
    ]
    ring = {0x108: 0x208, 0x208: 0x108}
    assert list(walk_list(Links(ring), 0x100, 8, list_head=True)) == [0x100, 0x200]


def test_list_H_walks_a_buddy_free_list_as_the_library_does(prog) -> None:
    zone = list(for_each_zone(prog))[1]
    expected = [int(page) for order, page in for_each_free_area(prog, zone) if order == 9]
    head = "contig_page_data.node_zones[1].free_area[9].free_list"
    [table] = run(prog, f"list -H -o page.list {head}")
    assert [r["address"] for r in table.rows] == expected
