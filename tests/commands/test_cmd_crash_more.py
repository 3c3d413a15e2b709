"""x (against gdb's own x), search, rd -s, struct -x/-d, eval, hex/dec and mod."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vmintro.commands import CommandError, UsageError, run
from vmintro.commands.render import render_text

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "images" / "demo"

X_LINES = [
    "x/4wx vmlist",
    "x/8xb vmlist",
    "x/2a &vmlist",
    "x/3dw vmlist",
    "x/3uw vmlist",
    "x/2ow vmlist",
    "x/2tb vmlist",
    "x/s contig_page_data.node_zones[1].name",
    "x/4c contig_page_data.node_zones[1].name",
    "x/2xh vmlist",
    "x/2xg vmlist",
    "x/4wx &contig_page_data",
    "x/9xb mem_map",
]


def text_of(prog, line: str) -> str:
    return "\n".join(render_text(run(prog, line)))


def test_x_prints_what_gdb_prints(prog, gdb: str) -> None:
    command = [gdb, "-batch", "-nx", f"{DEMO}.vmlinux", f"{DEMO}.vmcore"]
    for line in X_LINES:
        command += ["-ex", f"echo ==={line}\\n", "-ex", line]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    chunks = out.split("===")[1:]
    assert len(chunks) == len(X_LINES)
    for line, chunk in zip(X_LINES, chunks, strict=True):
        expected = [row.expandtabs(8) for row in chunk.splitlines()[1:] if row.strip()]
        assert text_of(prog, line).splitlines() == expected, line


def test_x_reads_vmalloc_addresses_gdb_cannot(prog, truth) -> None:
    area = truth["areas"][0]
    lines = text_of(prog, f"x/4wx {area['addr']:#x}").splitlines()
    words = [int(w, 16) for w in lines[0].split()[1:]]
    assert words == [int.from_bytes(prog.read(area["addr"] + 4 * i, 4), "little") for i in range(4)]


@pytest.mark.parametrize("line", ["x/4q vmlist", "x/0x vmlist", "x/4wx", "x/4y vmlist"])
def test_x_bad_formats_are_usage_errors(prog, line: str) -> None:
    with pytest.raises(UsageError):
        run(prog, line)


def test_search_finds_every_pointer_to_the_first_vm_struct(prog, truth) -> None:
    first = truth["areas"][0]["vm_struct"]
    rows = [r for p in run(prog, f"search {first:#x}") for r in p.rows]
    found = {r["address"] for r in rows}
    # vmlist itself holds it (gdb-verifiable: a kernel symbol), and it is aligned
    assert prog.symbol("vmlist").address in found
    assert all(r["value"] == first and r["address"] % 4 == 0 for r in rows)
    physical = [r["address"] for p in run(prog, f"search -p {first:#x}") for r in p.rows]
    lowmem = sorted(a - 0xC0000000 for a in found if a < prog.layout.lowmem_end)
    assert physical == lowmem
    text = text_of(prog, f"search {first:#x}")
    assert text.splitlines()[0].split() == [f"{min(found):x}:", f"{first:08x}"]


def test_search_limits_mask_and_strings(prog, truth) -> None:
    first = truth["areas"][0]["vm_struct"]
    vmlist = prog.symbol("vmlist").address
    rows = lambda line: [r["address"] for p in run(prog, line) for r in p.rows]  # noqa: E731
    assert rows(f"search -s {vmlist:x} -l 4 {first:#x}") == [vmlist]
    assert rows(f"search -s {vmlist + 4:x} -e {vmlist + 0x100:x} {first:#x}") == []
    # -m ignores the low 12 bits: every pointer into the vm_struct's page
    assert set(rows(f"search {first:#x}")) <= set(rows(f"search -m 0xfff {first:#x}"))
    names = [r for p in run(prog, "search -c size-128") for r in p.rows]
    assert names and all(r["text"] == "size-128" for r in names)
    # a value in a vmalloc area, found through the page tables
    area = truth["areas"][0]
    head = int.from_bytes(prog.read(area["addr"], 4), "little")
    end = area["addr"] + 4
    assert area["addr"] in rows(f"search -s {area['addr']:x} -e {end:x} {head:#x}")


def test_search_errors(prog) -> None:
    with pytest.raises(UsageError):
        run(prog, "search -s c4800000 -e c4000000 1")
    with pytest.raises(CommandError, match="more than 16 bits"):
        run(prog, "search -h 0x10000")


def test_rd_s_names_symbols(prog) -> None:
    line = text_of(prog, "rd -s zone_table 3")
    zone = prog.type("zone_t").size
    address = prog.symbol("zone_table").address
    assert line.split() == [
        f"{address:x}:",
        "contig_page_data",
        f"contig_page_data+{zone}",
        f"contig_page_data+{2 * zone}",
    ]


def test_struct_x_and_d_override_the_radix(prog) -> None:
    hexed = text_of(prog, "struct -x vm_struct *vmlist")
    assert "  size = 0x11000," in hexed
    run(prog, "hex")
    try:
        assert "  size = 69632," in text_of(prog, "struct -d vm_struct *vmlist")
        assert text_of(prog, "p vmlist->size").endswith("= 0x11000")
    finally:
        run(prog, "dec")
    assert text_of(prog, "p vmlist->size").endswith("= 69632")


def test_eval_in_every_base(prog) -> None:
    assert text_of(prog, "eval 1024*1024").splitlines() == [
        "hexadecimal: 100000  (1MB)",
        "    decimal: 1048576",
        "      octal: 4000000",
        "     binary: 00000000000100000000000000000000",
    ]
    lines = text_of(prog, "eval -b 0x12").splitlines()
    assert lines[-1] == "   bits set: 4 1"
    vmlist = prog["vmlist"].value_()
    assert text_of(prog, "eval vmlist").splitlines()[0] == f"hexadecimal: {vmlist:x}"


def test_mod_lists_the_loaded_modules(prog, truth) -> None:
    loaded = {e["name"]: e["addr"] for e in truth["events"] if e["op"] == "insmod"}
    for freed in truth["freed"]:  # rmmod's vfree of the module's memory
        if freed["owner"].startswith("module "):
            loaded.pop(freed["owner"].removeprefix("module "), None)
    rows = [r for p in run(prog, "mod") for r in p.rows]
    assert {r["name"]: r["module"] for r in rows} == loaded
    text = text_of(prog, "mod").splitlines()
    assert text[0].split() == ["MODULE", "NAME", "SIZE", "OBJECT", "FILE"]
    name = rows[0]["name"]
    assert [r["name"] for p in run(prog, f"mod {name}") for r in p.rows] == [name]
    with pytest.raises(CommandError, match="no such module"):
        run(prog, "mod nosuch")
