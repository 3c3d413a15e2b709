"""vmintro export: volatility3's symbol table and the physical memory containers, read
back by the real volatility3 (its framework and its vol command with the linux24
plugin pack), in 2-level and PAE."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from oracles import import_oracle

import vmintro
from vmintro.helpers import for_each_vm_area

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "images" / "demo"
PLUGINS = ROOT / "vmintro" / "interop" / "vol3plugins"


def export(kind: str, image: Path, out: Path) -> Path:
    """What ``vmintro export --KIND IMAGE -o OUT`` writes (cmd_export, in this process)."""
    from vmintro.cli.export import parser

    args = parser().parse_args([f"--{kind}", str(image), "-o", str(out)])
    assert args.func(args) == 0
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo image (2-level) and a small PAE one, each with its ISF and containers."""
    d = tmp_path_factory.mktemp("export")
    pae = d / "pae"
    subprocess.run(
        [sys.executable, "-m", "vmintro", "generate", "--ram", "64M", "--pae", "--seed", "3",
         "--no-timeline", "-o", str(pae)],
        check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    out = {"demo": DEMO, "pae": pae}
    kinds = {"demo": ("isf", "elf64", "lime", "raw"), "pae": ("isf", "elf64")}
    for name, base in list(out.items()):
        for kind in kinds[name]:
            out[f"{name}.{kind}"] = export(kind, base, d / f"{name}.{kind}")
    return out


def _areas(base: Path) -> list[tuple[int, int, int, int]]:
    prog = vmintro.open(base)
    return [
        (int(a), a.addr.value_(), a.size.value_(), a.flags.value_()) for a in for_each_vm_area(prog)
    ]


@pytest.mark.parametrize(
    ("name", "kind"), [("demo", "elf64"), ("demo", "lime"), ("demo", "raw"), ("pae", "elf64")]
)
def test_volatility3_reads_vmlist_through_the_isf(images, name: str, kind: str) -> None:
    import_oracle("volatility3")
    import volatility3.framework.symbols.linux.extensions.network  # noqa: F401 - set_type_class
    from volatility3.framework import contexts
    from volatility3.framework.layers import elf, intel, lime, physical
    from volatility3.framework.symbols import linux

    ctx = contexts.Context()
    ctx.config["file.location"] = images[f"{name}.{kind}"].as_uri()
    ctx.layers.add_layer(physical.FileLayer(ctx, "file", "file"))
    container = {"elf64": elf.Elf64Layer, "lime": lime.LimeLayer}.get(kind)
    memory = "file"
    if container is not None:
        ctx.config["mem.base_layer"] = "file"
        ctx.layers.add_layer(container(ctx, "mem", "mem"))
        memory = "mem"
    # volatility3's own Linux loader takes the table: the stand-ins it needs are there
    table = linux.LinuxKernelIntermedSymbols(
        ctx, "tbl", name="kernel", isf_url=images[f"{name}.isf"].as_uri()
    )
    ctx.symbol_space.append(table)
    ctx.config["virt.memory_layer"] = memory
    ctx.config["virt.page_map_offset"] = table.get_symbol("swapper_pg_dir").address - 0xC0000000
    pae = table.get_type("pte_t").size == 8
    assert pae == (name == "pae")
    ctx.layers.add_layer((intel.LinuxIntelPAE if pae else intel.LinuxIntel)(ctx, "virt", "virt"))
    kernel = ctx.module("kernel", "virt", 0)
    node = kernel.object_from_symbol("vmlist")
    theirs = []
    while node:
        area = node.dereference()
        theirs.append((int(node), int(area.addr), int(area.size), int(area.flags)))
        node = area.next
    ours = _areas(images[name])
    assert theirs == ours and len(ours) > 5
    prog = vmintro.open(images[name])
    for _vs, addr, _size, _flags in ours[:4]:
        assert ctx.layers["virt"].translate(addr + 0x10)[0] == prog.translate(addr + 0x10)
    struct_page = table.get_type("page")
    assert struct_page.size == prog.type("struct page").size
    assert struct_page.vol.members["flags"][0] == prog.type("struct page").offsetof("flags")


def test_isf_is_volatility3s_format_with_the_24_banner(images) -> None:
    jsonschema = import_oracle("jsonschema")
    volatility3 = import_oracle("volatility3")
    doc = json.loads(images["demo.isf"].read_text())
    schema = Path(volatility3.__file__).parent / "schemas" / "schema-6.2.0.json"
    jsonschema.validate(doc, json.loads(schema.read_text()))
    import base64

    banner = base64.b64decode(doc["symbols"]["linux_banner"]["constant_data"])
    assert banner.startswith(b"Linux version 2.4.20 ") and banner.endswith(b"\n\0")
    prog = vmintro.open(DEMO)
    assert doc["symbols"]["vmlist"]["address"] == prog.symbol("vmlist").address
    assert doc["user_types"]["vm_struct"]["size"] == 16
    assert doc["user_types"]["pte_t"]["size"] == 4  # the anonymous struct, by its typedef


def test_containers_hold_the_images_ram(images) -> None:
    prog = vmintro.open(DEMO)
    ram = prog.ram_size
    raw = images["demo.raw"].read_bytes()
    assert len(raw) == ram
    for paddr in (0, 0x10B4000, ram - 4096):
        assert raw[paddr : paddr + 4096] == prog.read(paddr, 4096, physical=True)
    data = images["demo.lime"].read_bytes()
    at, ranges = 0, []
    while at < len(data):
        magic, version, start, end = struct.unpack_from("<IIQQ", data, at)
        assert (magic, version) == (0x4C694D45, 1)
        ranges.append((start, end + 1))
        body = data[at + 32 : at + 32 + end + 1 - start]
        assert body == raw[start : end + 1]
        at += 32 + end + 1 - start
    from elftools.elf.elffile import ELFFile

    with images["demo.elf64"].open("rb") as f:
        elf = ELFFile(f)
        assert elf.elfclass == 64 and elf["e_type"] == "ET_CORE"
        loads = [(s["p_paddr"], s["p_paddr"] + s["p_memsz"]) for s in elf.iter_segments()]
        assert loads == ranges
        for seg in elf.iter_segments():
            start, head = seg["p_paddr"], seg.data()[:8192]
            assert head == raw[start : start + len(head)]


def test_export_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    out = str(tmp_path / "no" / "x")
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro", "export", "--raw", str(DEMO), "-o", out],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "x" in proc.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["demo", "pae"])
def test_the_linux24_plugins_agree_with_vmintro(images, name: str) -> None:
    import_oracle("volatility3")
    vol = shutil.which("vol")
    assert vol is not None
    base = [vol, "-q", "-r", "json", "-f", str(images[f"{name}.elf64"]), "-p", str(PLUGINS)]
    isf = ["--isf", str(images[f"{name}.isf"])]
    rows = json.loads(
        subprocess.run(
            [*base, "linux24.vmlist", *isf], capture_output=True, text=True, check=True
        ).stdout  # fmt: skip
    )
    theirs = [(r["VM_STRUCT"], r["START"], r["END"] - r["START"], r["FLAGS"]) for r in rows]
    assert theirs == _areas(images[name])
    if name != "pae":
        return  # one vtop is enough: it is the same walk over the same layer class
    prog = vmintro.open(images[name])
    first = theirs[0][1]
    rows = json.loads(
        subprocess.run(
            [*base, "linux24.vtop", *isf, "--address", f"{first + 16:x}", "1000"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # fmt: skip
    )
    assert [r["PHYSICAL"] for r in rows] == [prog.translate(first + 16), None]
