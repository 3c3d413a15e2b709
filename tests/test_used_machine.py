"""A booted kernel that looks used: the rest of start_kernel's allocations (the
VFS and page-cache hash tables, free_initmem) and a page cache that scatters
free memory, read back by the reader, gdb and the live kernel against the
generator's truth."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_gdb_oracle import run_gdb

from vmintro.cli import main
from vmintro.generate import generate
from vmintro.livekernel import live
from vmintro.scenario.loader import ScenarioError, parse_scenario

GFP_KERNEL = 0x1F0
MAX_ORDER = 10
# A 64 MiB machine and nothing after boot: the image is the state boot left.
SCENARIO = '[machine]\nram = "64M"\nseed = 7\n'


@pytest.fixture(scope="module")
def used(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("used") / "used"
    generate(out, parse_scenario(SCENARIO, "used.toml"), timeline=False)
    return out, json.loads(out.with_suffix(".truth.json").read_text())


@functools.cache
def _vmintro(image: Path, command: str) -> str:
    """What ``vmintro IMAGE -c COMMAND`` prints (in this process)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([str(image), "-c", command]) == 0
    return out.getvalue()


def _json(image: Path, command: str) -> list[dict[str, Any]]:
    return json.loads(_vmintro(image, f"{command} --json"))["results"]  # type: ignore[no-any-return]


def test_free_blocks_per_zone_and_order_are_the_truth_and_kmem_f(used):
    image, truth = used
    shown: dict[str, list[int]] = {}
    for table in _json(image, "kmem -f"):
        for row in table["rows"] if table["name"] == "free_area" else ():
            shown.setdefault(row["zone"], [0] * MAX_ORDER)[row["order"]] = row["blocks"]
    assert shown == truth["boot"]["free_areas"]
    # scattered: most free memory is in blocks of a few pages, 2 MiB blocks are gone
    normal = truth["boot"]["free_areas"]["Normal"]
    assert normal[9] == 0
    pages = sum(n << o for o, n in enumerate(normal))
    assert sum(n << o for o, n in enumerate(normal[:4])) > pages // 2


def test_the_page_cache_holds_the_asked_share(used):
    image, truth = used
    cache = truth["boot"]["page_cache"]
    total = int(re.search(r"MemTotal: +(\d+) kB", _vmintro(image, "meminfo"))[1])
    assert cache["cached"] == pytest.approx(total // 4 * 0.3, rel=0.02)
    assert cache["active"] + cache["inactive"] == cache["cached"]
    assert cache["pages_evicted"] and cache["pages_truncated"] and cache["files_deleted"]


def test_meminfo_cached_is_the_page_cache(used):
    image, truth = used
    out = _vmintro(image, "meminfo")
    cache = truth["boot"]["page_cache"]
    assert f"Cached:       {cache['cached'] * 4:8d} kB" in out.splitlines()
    free = sum(truth["boot"]["free_pages"].values())
    assert f"MemFree:      {free * 4:8d} kB" in out.splitlines()


def _hash_lines(pages: int) -> list[str]:
    """The lines vfs_caches_init, buffer_init and page_cache_init print, with the
    orders 2.4.20's formulas give for ``pages`` pages of RAM (PAGE_SIZE 4096)."""

    def order_for(nbytes: int) -> int:
        return max(0, (nbytes - 1).bit_length() - 12)

    lines = []
    for what, shift in (("Dentry cache", 13), ("Inode cache", 14)):
        order = order_for((pages >> (shift - 12)) * 8)
        lines.append(f"{what} hash table entries: {(4096 << order) // 8} (order: {order}, "
                     f"{4096 << order} bytes)")  # fmt: skip
    order = order_for((pages >> 4) * 8)
    lines.append(f"Mount-cache hash table entries: {(4096 << order) // 8} (order: {order}, "
                 f"{4096 << order} bytes)")  # fmt: skip
    order = max(0, ((pages >> 14) * 4 - 1).bit_length())  # (1 << order) < bytes: pages
    lines.append(f"Buffer-cache hash table entries: {(4096 << order) // 4} (order: {order}, "
                 f"{4096 << order} bytes)")  # fmt: skip
    order = order_for(pages * 4)
    lines.append(f"Page-cache hash table entries: {(4096 << order) // 4} (order: {order}, "
                 f"{4096 << order} bytes)")  # fmt: skip
    return lines


def test_the_hash_tables_and_free_initmem_are_in_the_log(used):
    image, truth = used
    log = _vmintro(image, "log").splitlines()
    expected = _hash_lines(64 << 8)
    assert expected[0] == "Dentry cache hash table entries: 8192 (order: 4, 65536 bytes)"
    assert expected[3] == "Buffer-cache hash table entries: 4096 (order: 2, 16384 bytes)"
    at = log.index(expected[0])
    assert log[at : at + 5] == expected
    assert "Freeing unused kernel memory: 120k freed" in log[at + 5 :]
    assert truth["log"] == log


def test_gdb_reads_the_globals_boot_set(gdb, used):
    image, truth = used
    boot = truth["boot"]
    dentry = boot["hash_tables"]["dentry_hashtable"]["addr"]
    out = run_gdb(
        gdb,
        image,
        [
            "p page_hash_bits",
            "p/x page_hash_table",
            "p *dentry_hashtable@2",
            "p page_cache_size.counter",
            "p nr_active_pages",
            "p inodes_stat.nr_inodes",
            "p sizeof(struct inode)",
            "p (long)&__init_end - (long)&__init_begin",
        ],
    )
    assert out[0] == "14"
    assert out[1] == f"{boot['hash_tables']['page_hash_table']['addr']:#x}"
    first, second = f"{dentry:#x}", f"{dentry + 8:#x}"
    assert out[2] == (
        f"{{{{next = {first}, prev = {first}}}, {{next = {second}, prev = {second}}}}}"
    )
    assert out[3] == f"{boot['page_cache']['cached']}"
    assert out[4] == f"{boot['page_cache']['active']}"
    # the files' inodes, the directories' on the way to them and the root's
    assert out[5] == f"{boot['page_cache']['inodes'] + boot['page_cache']['directories'] + 1}"
    assert out[6] == "448"
    assert out[7] == "122880"  # 120k


def test_a_big_block_fails_where_vmalloc_of_its_size_succeeds(used):
    """The reason vmalloc exists: no free block of order N is left in the zones
    GFP_KERNEL may use, so __get_free_pages fails, yet vmalloc maps N pages'
    worth of scattered frames."""
    image, truth = used
    areas = truth["boot"]["free_areas"]
    order = next(
        o for o in range(MAX_ORDER) if not any(areas[z][p] for z in areas for p in range(o, 10))
    )
    assert 4 <= order <= 9  # boot left 2 MiB blocks (order 9) in every zone
    k = live(image)
    assert k.alloc_pages(order, GFP_KERNEL).kind == "null"
    call = k.vmalloc(4096 << order)
    assert call.kind == "address"
    prog = k.program
    frames = [prog.translate(call.value + i * 4096) >> 12 for i in range(1 << order)]
    assert len(set(frames)) == 1 << order
    assert sum(b - a != 1 for a, b in zip(frames, frames[1:], strict=False)) > 0  # not one run


def test_page_cache_zero_is_the_machine_as_boot_left_it(tmp_path):
    out = tmp_path / "pristine"
    generate(out, parse_scenario(SCENARIO + "page_cache = 0\n", "p.toml"), timeline=False)
    boot = json.loads(out.with_suffix(".truth.json").read_text())["boot"]
    assert boot["page_cache"]["cached"] == 0
    assert boot["free_areas"]["Normal"][9] > 10  # the 2 MiB blocks boot freed


@pytest.mark.parametrize("value", ["0.95", "-0.1", '"lots"', "nan"])
def test_page_cache_out_of_range_is_refused(value):
    with pytest.raises(ScenarioError, match=r"used.toml:1: \[machine\] page_cache"):
        parse_scenario(SCENARIO.replace("[machine]\n", f"[machine]\npage_cache = {value}\n"),
                       "used.toml")  # fmt: skip


# -- the filesystem behind the page cache, and the run queue ---------------------------


def _name_hash(name: bytes) -> int:
    """include/linux/dcache.h full_name_hash, written out again for the oracle."""
    h = 0
    for c in name:
        h = ((h + (c << 4) + (c >> 4)) * 11) & 0xFFFFFFFF
    return h


def test_gdb_follows_a_cached_page_to_its_file_and_back(gdb, used):
    """The root's first directory, its newest file, that file's newest page: the
    page's mapping leads to the ext2 super_block, its buffer head back to it."""
    image, truth = used
    root = truth["boot"]["root_fs"]
    child = "(unsigned long)&((struct dentry *)0)->d_child"
    lst = "(unsigned long)&((struct page *)0)->list"
    out = run_gdb(
        gdb,
        image,
        [
            f"set $root = (struct dentry *){root['s_root']:#x}",
            f"set $dir = (struct dentry *)((char *)$root->d_subdirs.next - {child})",
            f"set $f = (struct dentry *)((char *)$dir->d_subdirs.next - {child})",
            f"set $pg = (struct page *)((char *)$f->d_inode->i_data.clean_pages.next - {lst})",
            "p $pg->mapping->host->i_sb->s_type->name",
            "p $pg->mapping->host->i_sb == (struct super_block *)super_blocks.next",
            "p $f->d_name.name",
            "p $f->d_inode->i_ino",
            "p $f->d_parent == $dir && $dir->d_parent->d_parent == $dir->d_parent",
            "p $pg->buffers->b_page == $pg && $pg->buffers->b_this_page == $pg->buffers",
            "p/x $pg->buffers->b_state",
            "p $pg->count.counter",
            "p $f->d_count.counter",
            "p $f->d_inode->i_count.counter",
            "p ((struct super_block *)super_blocks.next)->s_root",
        ],
    )
    assert out[4].endswith('"ext2"')
    assert out[5] == "1"
    assert out[6].endswith(f'"file{out[7]}"'), out[6]
    assert out[8] == out[9] == "1"
    assert out[10] == "0x119"  # BH_Uptodate | BH_Req | BH_Mapped | BH_Launder
    assert out[11] == "2"  # the page cache's reference and the buffers'
    assert (out[12], out[13]) == ("0", "1")  # a closed file: its dentry holds the inode
    assert out[14] == f"(struct dentry *) {root['s_root']:#x}"


def _walk(prog, head, typ, member):
    from vmintro.helpers.list import list_for_each_entry

    return [e.value_() for e in list_for_each_entry(typ, head, member)]


def _chain(prog, addr, typ, member):
    """The entries of the hash chain whose head is the list_head at ``addr``."""
    from vmintro.object import Object

    return _walk(prog, Object(prog, "struct list_head", address=addr).address_of_(), typ, member)


def test_dentries_inodes_and_buffers_are_where_2_4_20_puts_them(used):
    """Every inode on inode_in_use is in the inode_hashtable chain of hash(sb, i_ino)
    and held by its one dentry, which is in the dentry_hashtable chain of
    d_hash(parent, full_name_hash(name)) and on its parent's d_subdirs; each cached
    page has a ring of one buffer head pointing back at it; unused_list holds the
    buffer heads evicted pages gave back. Counted against the truth."""
    import vmintro
    from vmintro.object import Object

    image, truth = used
    cache = truth["boot"]["page_cache"]
    prog = vmintro.open(f"{image}.vmcore")
    sb = prog["super_blocks"].next.value_()
    ihash, dhash = prog["inode_hashtable"].value_(), prog["dentry_hashtable"].value_()
    imask, ishift = prog["i_hash_mask"].value_(), prog["i_hash_shift"].value_()
    dmask, dshift = prog["d_hash_mask"].value_(), prog["d_hash_shift"].value_()
    inodes = _walk(prog, prog["inode_in_use"].address_of_(), "struct inode", "i_list")
    assert len(inodes) == cache["inodes"] + cache["directories"] + 1
    pages = unused = 0
    for addr in inodes:
        inode = Object(prog, "struct inode", address=addr)
        assert inode.i_sb.value_() == sb and inode.i_count.counter.value_() == 1
        tmp = inode.i_ino.value_() + sb // 32
        assert addr in _chain(
            prog, ihash + 8 * ((tmp + (tmp >> ishift)) & imask), "struct inode", "i_hash"
        )
        (d,) = _walk(prog, inode.i_dentry.address_of_(), "struct dentry", "d_alias")
        dentry = Object(prog, "struct dentry", address=d)
        assert dentry.d_inode.value_() == addr
        parent = dentry.d_parent.value_()
        if parent == d:  # the root: s_root, unhashed
            assert d == truth["boot"]["root_fs"]["s_root"]
            continue
        name = prog.read(dentry.d_name.name.value_(), dentry.d_name.len.value_())
        assert dentry.d_name.hash.value_() == _name_hash(name)
        h = (_name_hash(name) + parent // 32) & 0xFFFFFFFF
        assert d in _chain(
            prog, dhash + 8 * ((h ^ (h >> dshift)) & dmask), "struct dentry", "d_hash"
        )
        siblings = Object(prog, "struct dentry", address=parent).d_subdirs.address_of_()
        assert d in _walk(prog, siblings, "struct dentry", "d_child")
        unused += dentry.d_count.counter.value_() == 0
        # ext2's i_blocks, in sectors: data blocks, the indirect block past 12, the
        # double-indirect one past 12 + 1024 and an indirect block per 1024 below it
        n = -(-inode.i_size.value_() // 4096)
        meta = (n > 12) + (n > 1036) * (1 + -(-(n - 1036) // 1024))
        assert inode.i_blocks.value_() == 8 * (n + meta)
        for p in _walk(prog, inode.i_data.clean_pages.address_of_(), "struct page", "list"):
            bh = Object(prog, "struct page", address=p).buffers
            assert bh.b_page.value_() == p and bh.b_this_page.value_() == bh.value_()
            pages += 1
    assert pages == cache["cached"] == cache["buffer_heads"]
    lru = _walk(prog, prog["dentry_unused"].address_of_(), "struct dentry", "d_lru")
    assert len(lru) == unused == prog["dentry_stat"].nr_unused.value_()
    free = prog["unused_list"]
    count = 0
    while free.value_():
        assert free.b_dev.value_() == 0xFFFF  # B_FREE
        free, count = free.b_next_free, count + 1
    assert count == prog["nr_unused_buffer_heads"].value_() == cache["unused_buffer_heads"] == 100


def test_the_idle_task_runs_and_the_run_queue_is_empty(gdb, used):
    """A snapshot of an idle uniprocessor: cpu_curr(0) is the idle task, TASK_RUNNING
    but never on the run queue, which is empty; ps marks it as crash does."""
    image, _ = used
    out = run_gdb(
        gdb,
        image,
        [
            "p aligned_data[0].schedule_data.curr == &init_task_union.task",
            "p init_task_union.task.state",
            "p nr_running",
            "p runqueue_head.next == &runqueue_head && runqueue_head.prev == &runqueue_head",
        ],
    )
    assert out == ["1", "0", "0", "1"]
    rows = _vmintro(image, "ps").splitlines()[1:]
    marked = [row for row in rows if row.startswith(">")]
    assert len(marked) == 1 and marked[0].split()[1:2] == ["0"] and " RU " in marked[0]
    assert all(" RU " not in row for row in rows if not row.startswith(">"))
