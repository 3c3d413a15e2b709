"""The filesystem helpers against the generator's truth and gdb: the root super
block, the cached files' paths as the simulator names them, the cached pages' one
buffer head each. On the session's HIGHMEM and PAE images (the bundled demo may
predate the filesystem)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_gdb_oracle import run_gdb

import vmintro
from vmintro.helpers import (
    dentry_path,
    for_each_super_block,
    get_super,
    inode_path,
    list_for_each_entry,
    page_buffers,
)
from vmintro.object import Object

ROOT_DEV = 0x0301  # /dev/hda1
EXT2_ROOT_INO = 2
DIRECTORIES = {"bin", "etc", "lib", "sbin", "usr", "var"}
SAMPLE = 40  # inodes whose pages are walked


@pytest.fixture(scope="module", params=["highmem", "pae"])
def fs(request: pytest.FixtureRequest, image_set: dict[str, Path]):
    base = image_set[request.param]
    prog = vmintro.open(base)
    truth = json.loads(Path(f"{base}.truth.json").read_text())["boot"]
    inodes = list(list_for_each_entry("struct inode", prog["inode_in_use"].address_of_(), "i_list"))
    return base, prog, truth, inodes


def test_the_root_super_block(fs) -> None:
    _, prog, truth, _ = fs
    (sb,) = for_each_super_block(prog)
    assert sb.value_() == truth["root_fs"]["super_block"]
    assert sb.s_root.value_() == truth["root_fs"]["s_root"]
    assert get_super(prog, ROOT_DEV).value_() == sb.value_()
    assert get_super(prog, 0x0302) is None


def test_each_file_has_its_path_and_each_cached_page_its_buffer_head(fs) -> None:
    _, prog, truth, inodes = fs
    files = pages = 0
    for inode in inodes:
        path, ino = inode_path(inode), inode.i_ino.value_()
        if ino == EXT2_ROOT_INO:
            assert path == b"/"
            continue
        parts = path.decode().split("/")
        assert parts[0] == "" and parts[1] in DIRECTORIES
        if len(parts) == 2:  # a directory
            continue
        assert parts[2:] == [f"file{ino}"]
        files += 1
        pages += inode.i_data.nrpages.value_()
        if files > SAMPLE:
            continue
        head = inode.i_data.clean_pages.address_of_()
        for page in list_for_each_entry("struct page", head, "list"):
            (bh,) = page_buffers(page)
            assert bh.b_page.value_() == page.value_()
    assert files == truth["page_cache"]["inodes"]
    assert pages == truth["page_cache"]["cached"]


def test_paths_agree_with_gdb(fs, gdb) -> None:
    """gdb reads a few files' names and their directories' by itself."""
    base, _, _, inodes = fs
    files = [i for i in inodes if i.i_mode.value_() & 0o170000 == 0o100000][-3:]  # S_IFREG
    commands = []
    for inode in files:
        alias = inode.i_dentry.next.value_()
        d = f"((struct dentry *)({alias:#x} - (unsigned long)&((struct dentry *)0)->d_alias))"
        commands += [f"p {d}->d_name.name", f"p {d}->d_parent->d_name.name"]
    out = run_gdb(gdb, base, commands)
    for n, inode in enumerate(files):
        name, parent = (re.search(r'"(.*)"', out[2 * n + i]).group(1) for i in (0, 1))
        assert inode_path(inode) == f"/{parent}/{name}".encode()


def test_the_root_dentry_and_a_page_without_buffers(fs) -> None:
    _, prog, truth, _ = fs
    root = Object(prog, "struct dentry", address=truth["root_fs"]["s_root"])
    assert dentry_path(root) == b"/"
    assert list(page_buffers(prog["mem_map"][0])) == []  # a reserved page
