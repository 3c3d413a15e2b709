"""A generated PAE machine with RAM above 4 GiB: its core is ELF64, and gdb, drgn and
volatility3 read it.

Frames above 4 GiB are written only once the free lists hand them out, which needs
more than 4 GiB of RAM and a page cache that scattered free memory (boot alone leaves
the lowest HighMem frames first). The cheapest machine found: 4352 MiB, PAE, the
default page cache. A first run's 4 MiB vmalloc shows where in the allocation order
the first frame above 4 GiB comes; the second run vmallocs just the frames before it
and then loads a module, whose image (bytes the simulator writes) lands in frames above
4 GiB. Both runs take seconds: the tests are ``slow``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from drgn_child import drgn_child_json
from generate_cli import vmintro_cli
from oracles import import_oracle, need_oracle

import vmintro
from vmintro.image.reader.core import CoreFile

pytestmark = pytest.mark.slow

RAM = "4352M"
FOUR_G_PFN = 1 << 20
PAGE_OFFSET = 0xC0000000


@dataclass(frozen=True)
class HighImage:
    base: Path
    truth: dict
    module: dict  # the module's vm area in the truth
    high: list[tuple[int, int]]  # (virtual address, pfn) of its pages above 4 GiB


def _generate(out: Path, steps: list[str]) -> dict:
    scenario = out.with_suffix(".toml")
    body = "".join(f"[[step]]\n{s}\n" for s in steps)
    scenario.write_text(f'name = "high-frames"\n{body}')
    proc = vmintro_cli(
        "generate", "-q", "--no-timeline", "--pae", "--ram", RAM, "--scenario", str(scenario),
        "-o", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.with_suffix(".truth.json").read_text())


@pytest.fixture(scope="module")
def high(tmp_path_factory: pytest.TempPathFactory) -> HighImage:
    out = tmp_path_factory.mktemp("elf64")
    probe = _generate(out / "probe", ['op = "vmalloc"\nsize = "4M"\nlabel = "fill"'])
    pages = probe["areas"][0]["pages"]
    first = next((i for i, pfn in enumerate(pages) if pfn >= FOUR_G_PFN), None)
    assert first is not None, f"no frame above 4 GiB among the first {len(pages)} vmalloc takes"
    steps = [f'op = "vmalloc"\nsize = {first * 4096}\nlabel = "fill"'] if first else []
    steps.append('op = "insmod"\nname = "e100"\nsize = 20000')
    base = out / "high"
    truth = _generate(base, steps)
    (module,) = [a for a in truth["areas"] if a["owner"] != "fill"]
    high = [
        (module["addr"] + i * 4096, pfn)
        for i, pfn in enumerate(module["pages"])
        if pfn >= FOUR_G_PFN
    ]
    assert high, "no frame of the module lies above 4 GiB: the probe's order did not hold"
    return HighImage(base, truth, module, high)


def test_the_core_is_elf64_and_vmintro_reads_above_4g(high: HighImage) -> None:
    with CoreFile(f"{high.base}.vmcore") as core:
        assert core.elf_class == 64
        assert max(p + n for p, n, _ in core.segments) > 1 << 32
    prog = vmintro.open(high.base)
    for vaddr, pfn in high.high:
        assert prog.translate(vaddr) == pfn << 12  # the truth's frame
        assert any(prog.read(vaddr, 4096))  # the module image, not a zero page
    vaddr, pfn = high.high[0]
    lines = f"vtop {vaddr:x}; rd -p {pfn << 12:x} 4; kmem -p {pfn << 12:x}; page {pfn << 12:x}"
    shown = vmintro_cli(str(high.base), "-q", "-c", lines)
    assert f"{vaddr:x}  {pfn << 12:x}" in shown.stdout and shown.stderr == ""
    # vtop's struct page row, and kmem -p's and page's: both take an address past 32
    # bits as physical, as crash does
    page = prog["mem_map"].value_() + pfn * prog.type("struct page").size
    assert len(re.findall(rf"^{page:x}\s+{pfn << 12:x}\s", shown.stdout, re.M)) == 3
    data = prog.read(vaddr, 16)
    words = " ".join(f"{int.from_bytes(data[i : i + 4], 'little'):08x}" for i in range(0, 16, 4))
    assert f"{pfn << 12:x}:  {words}" in shown.stdout


def test_drgn_reads_the_module_above_4g(drgn_available: bool, high: HighImage) -> None:
    """drgn (libkdumpfile) walks the PAE tables and reads the ELF64 core itself."""
    view = drgn_child_json("drgn_dump.py", high.base)
    assert view["platform"] == "Architecture.I386"
    (theirs,) = [a for a in view["areas"] if a["addr"] == high.module["addr"]]
    prog = vmintro.open(high.base)
    for vaddr, _pfn in high.high:
        i = (vaddr - high.module["addr"]) // 4096
        assert theirs["pages"][i] == hashlib.sha1(prog.read(vaddr, 4096)).hexdigest()


def test_vm_inside_drgn_reads_above_4g(
    drgn_available: bool, high: HighImage, tmp_path: Path
) -> None:
    """``drgn -c NAME.vmcore``: vmintro's ``vm`` commands over drgn's memory (DrgnBackend)
    print what vmintro prints over the core file."""
    vaddr, _pfn = high.high[0]
    lines = [f"vtop {vaddr:x}", f"rd {vaddr:x} 8"]
    script = tmp_path / "script.py"
    script.write_text(
        "from drgn.commands import run_command\n"
        + "".join(f"run_command(prog, 'vm {line}')\n" for line in lines)
    )
    proc = subprocess.run(
        [sys.executable, "-m", "drgn", "-q", "-c", f"{high.base}.vmcore", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DRGN_USE_LIBKDUMPFILE_FOR_ELF": "1"},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    ours = vmintro_cli(str(high.base), "-q", "-c", "; ".join(lines))
    assert proc.stdout == ours.stdout and "Traceback" not in proc.stderr


def test_volatility3_opens_the_core_with_its_own_elf64_layer(high: HighImage) -> None:
    """No export needed: volatility3's Elf64Layer reads the core file, IntelPAE walks
    swapper_pg_dir from it, and both reach the module's frames above 4 GiB."""
    import_oracle("volatility3")
    from volatility3.framework import contexts
    from volatility3.framework.layers import elf, intel, physical

    prog = vmintro.open(high.base)
    ctx = contexts.Context()
    ctx.config["file.location"] = Path(f"{high.base}.vmcore").resolve().as_uri()
    ctx.layers.add_layer(physical.FileLayer(ctx, "file", "file"))
    ctx.config["mem.base_layer"] = "file"
    ctx.layers.add_layer(elf.Elf64Layer(ctx, "mem", "mem"))
    ctx.config["virt.memory_layer"] = "mem"
    ctx.config["virt.page_map_offset"] = prog["swapper_pg_dir"].address_ - PAGE_OFFSET
    ctx.layers.add_layer(intel.IntelPAE(ctx, "virt", "virt"))
    for vaddr, pfn in high.high:
        assert ctx.layers["virt"].translate(vaddr)[0] == pfn << 12
        ours = prog.read(vaddr, 4096)
        assert ctx.layers["virt"].read(vaddr, 4096) == ours
        assert ctx.layers["mem"].read(pfn << 12, 4096) == ours


def test_gdb_opens_the_elf64_core(gdb_loader: tuple[str, Path], high: HighImage) -> None:
    """gdb (BFD has no elf64-i386) opens an EM_386 ELF64 core as ``elf64-little``, says
    the core "may not match" the elf32-i386 vmlinux, and reads lowmem through the
    segments' p_vaddr; frames above 4 GiB are highmem, which no p_vaddr maps (as in an
    ELF32 core), so the ``vm`` extension, which reads the core file itself, reaches them."""
    gdb, loader = gdb_loader  # the file 'vmintro gdb-script' writes (tests/conftest.py)
    vaddr, pfn = high.high[0]
    mark = "@@elf64@@"
    commands = ["info target", "p vmlist->addr", f"vm vtop {vaddr:x}", f"vm rd -p {pfn << 12:x} 4"]
    args = [gdb, "-batch", "-nx", "-x", str(loader), f"{high.base}.vmlinux", f"{high.base}.vmcore"]
    for c in commands:
        args += ["-ex", f"echo {mark}\\n", "-ex", c]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    missing = re.search(r"ImportError: (vmintro needs .*)", proc.stderr)
    need_oracle(f"gdb's Python with vmintro's dependencies ({missing and missing[1]})", not missing)
    info, addr, vtop, rd = proc.stdout.split(f"{mark}\n")[1:]
    assert f"`{high.base}.vmcore', file type elf64-little." in info
    assert "warning: core file may not match specified executable file." in proc.stderr
    assert "Python Exception" not in proc.stderr
    first = min(a["addr"] for a in high.truth["areas"])
    assert addr.strip().endswith(f"{first:#x}")
    assert f"{vaddr:x}  {pfn << 12:x}" in vtop
    prog = vmintro.open(high.base)
    word = int.from_bytes(prog.read(vaddr, 4), "little")
    assert rd.startswith(f"{pfn << 12:x}:  {word:08x}")


def test_the_explorer_draws_the_frames_above_4g(high: HighImage) -> None:
    """The browser explorer's data: the module's area lists the truth's frames, above
    4 GiB included, and its vtop of one of them ends there."""
    from vmintro.explorer.data import snapshot, vtop

    prog = vmintro.open(high.base)
    data = snapshot(prog)
    assert data["errors"] == []
    (area,) = [a for a in data["areas"] if a["addr"] == high.module["addr"]]
    assert [pfn for _vaddr, pfn, _state in area["pages"]] == high.module["pages"]
    vaddr, pfn = high.high[0]
    [rows] = [r["rows"] for r in vtop(prog, vaddr)["results"] if r["name"] == "vtop"]
    assert rows == [{"virtual": vaddr, "physical": pfn << 12}]
