"""vmintro's helpers and plugin on a real drgn ``Program`` (drgn runs in child processes)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from drgn_child import drgn_child_json

import vmintro
from vmintro.cmdline.runner import Runner
from vmintro.helpers import (
    decode_page_flags,
    find_task,
    for_each_slab_cache,
    for_each_vm_area,
    for_each_vma,
    identify_address,
    search_memory,
    slab_object_info,
    vmalloc_to_page,
    vmalloc_to_pfn,
)

HERE = Path(__file__).resolve().parent
DRGN_ENV = {**os.environ, "DRGN_USE_LIBKDUMPFILE_FOR_ELF": "1"}


def helpers_view(base: Path) -> dict:
    return drgn_child_json("drgn_helpers_dump.py", base)


def repl_output(prog: vmintro.Program, line: str) -> str:
    out = io.StringIO()
    Runner(prog, out=out, err=out).run_line(line)
    return out.getvalue()


@pytest.mark.parametrize("name", ["demo", pytest.param("highmem", marks=pytest.mark.slow), "pae"])
def test_drgn_helpers_agree_with_the_library_and_with_drgn(
    drgn_available: bool, image_set: dict[str, Path], name: str
) -> None:
    base = image_set[name]
    view = helpers_view(base)
    prog = vmintro.open(f"{base}.vmcore")
    ours = list(for_each_vm_area(prog))
    assert [(a["vm_struct"], a["addr"], a["size"]) for a in view["areas"]] == [
        (a.value_(), a.addr.value_(), a.size.value_()) for a in ours
    ]
    compared = 0
    for area in view["areas"]:
        for p in area["pages"]:
            va = p["va"]
            page = vmalloc_to_page(prog, va)
            assert p["pfn"] == vmalloc_to_pfn(prog, va) == p["walk"] >> 12
            assert p["walk"] == prog.translate(va)
            assert p["page"] == page.value_()
            assert p["flags"] == p["flags_of_struct"] == decode_page_flags(page[0])
            # drgn's own read of the page, vmintro's read of the frame it found, and
            # drgn's physical read of that frame: one content
            data = hashlib.sha1(prog.read(p["walk"], 4096, physical=True)).hexdigest()
            assert p["drgn_physical"] == data
            if not p["drgn_virtual"].startswith("fault"):
                assert p["drgn_virtual"] == data, hex(va)
                compared += 1
    assert compared > 50
    if name == "highmem":  # 1 GiB: frames above 896 MiB, which no lowmem address reaches
        assert any(p["pfn"] >= (896 << 20) >> 12 for a in view["areas"] for p in a["pages"])
    assert view["drgn_vmalloc_to_page"] == (
        "NotImplementedError: virtual address translation is not implemented for i386 architecture"
    )
    assert view["unstored_frame_is_zeros"]
    # the guard page: 2.4.20's vmalloc_to_page returns NULL there, and so do the helpers
    assert view["guard"] == {"pfn": None, "page": 0}
    first = ours[0].addr.value_()
    assert view["vm_command"] == repl_output(prog, f"vmlist; vtop {first:#x}; vm 1")
    init_mm = find_task(prog, 1).mm
    assert view["init_vmas"] == [
        [v.value_(), v.vm_start.value_(), v.vm_end.value_()] for v in for_each_vma(init_mm)
    ]
    # the slab and address helpers hand back what the library finds
    vm_struct = ours[0].value_()
    info = slab_object_info(prog, vm_struct)
    assert info is not None
    assert view["slab"] == {
        "cache": int(info.slab_cache),
        "cache_name": "size-32",
        "slab": int(info.slab),
        "address": vm_struct,
        "allocated": True,
    }
    assert view["identified"] == [identify_address(prog, a) for a in (vm_struct, first, first + 8)]
    assert view["caches"] == [int(c) for c in for_each_slab_cache(prog)]
    assert view["found"] == list(search_memory(prog, vm_struct))


def test_plugin_entry_point_is_installed() -> None:
    names = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="drgn.plugins")}
    assert names.get("vmintro") == "vmintro.hosts.drgn"


def drgn_script(base: Path, tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    """``drgn -q -c BASE.vmcore SCRIPT`` (no ``-s``: the plugin finds the vmlinux), the
    script being ``body`` after an import of ``run_command``, run in ``tmp_path``."""
    script = tmp_path / "script.py"
    script.write_text("from drgn.commands import run_command\n" + body)
    return subprocess.run(
        [sys.executable, "-m", "drgn", "-q", "-c", f"{base}.vmcore", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=DRGN_ENV,
        cwd=tmp_path,
    )


def test_drgn_finds_the_vmlinux_beside_the_core(
    drgn_available: bool, image_set: dict[str, Path], tmp_path: Path
) -> None:
    """``drgn -c NAME.vmcore``, no ``-s``: the plugin's finder loads ``NAME.vmlinux``."""
    base = image_set["pae"]
    proc = drgn_script(
        base,
        tmp_path,
        "print(prog.main_module().debug_file_path)\n"
        "print(hex(prog['vmlist'].addr.value_()))\n"
        "print('vmintro' in prog.enabled_debug_info_finders())\n"
        "run_command(prog, 'vm vmlist')\n",
    )
    assert proc.returncode == 0, proc.stderr
    prog = vmintro.open(f"{base}.vmcore")
    lines = proc.stdout.splitlines()
    assert lines[0] == str(Path(f"{base}.vmlinux").resolve())
    assert lines[1] == hex(prog["vmlist"].addr.value_())
    assert lines[2] == "True"
    assert "\n".join(lines[3:]) + "\n" == repl_output(prog, "vmlist")
    assert "missing debugging symbols" not in proc.stderr


def test_vm_goto_moves_the_drgn_session(
    drgn_available: bool, image_set: dict[str, Path], tmp_path: Path
) -> None:
    """``vm goto 0`` in drgn: the next ``vm`` command reads the booted kernel."""
    base = image_set["pae"]
    proc = drgn_script(
        base,
        tmp_path,
        "run_command(prog, 'vm goto 0')\n"
        "run_command(prog, 'vm vmlist')\n"
        "run_command(prog, 'vm goto end')\n"
        "run_command(prog, 'vm vmlist')\n",
    )
    assert proc.returncode == 0, proc.stderr
    prog = vmintro.open(f"{base}.vmcore")
    booted, _, end = proc.stdout.partition("entry ")[2].partition("entry ")
    assert booted.startswith("0/") and "VM_STRUCT" in booted
    assert len([ln for ln in booted.splitlines() if ln.startswith("c")]) == 0  # no area yet
    assert end.split("\n", 1)[1] == repl_output(prog, "vmlist")
