"""The tasks and a process's page directory as gdb, drgn and volatility3 read them, on the
images of ``process_images.py``: gdb's own DWARF and core reading of ``init_task_union``
and a process's pgd entry before and after its ``touch``, vmintro's drgn helpers on a
drgn ``Program``, volatility3's Intel / IntelPAE layer built on the process's page
directory, and the ``linux24.pslist`` plugin against ``ps``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import test_gdb_extension
from oracles import import_oracle

import vmintro
from vmintro.arch.x86 import PAGE_OFFSET
from vmintro.commands import run
from vmintro.helpers import find_task, for_each_task, task_pgd

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "vmintro" / "interop" / "vol3plugins"


# the loader ``vmintro gdb-script`` writes, as test_gdb_extension makes it (its fixture)
loader = test_gdb_extension.loader


def gdb_lines(gdb: str, script: Path, base: Path, commands: list[str]) -> list[str]:
    """Each gdb command's output, stripped (test_gdb_extension's run_gdb)."""
    return [part.strip() for part in test_gdb_extension.run_gdb(gdb, script, base, commands)[0]]


def test_gdb_reads_the_tasks_and_the_lazily_synced_pgd_entry(
    gdb: str, loader: Path, process_images
) -> None:
    image = process_images["2level"]
    index = (image.probe >> 22) & 1023
    bash, cron = image.tasks[image.bash]["task"], image.tasks[image.cron]["task"]
    out = gdb_lines(
        gdb,
        loader,
        image.base,
        [
            "p init_task_union.task.comm",
            "p init_task_union.task.active_mm == &init_mm",
            "p init_task_union.task.prev_task->comm",
            f"p/x ((struct task_struct *){bash:#x})->mm->pgd[{index}].pgd",
            f"p/x ((struct task_struct *){cron:#x})->mm->pgd[{index}].pgd",
            f"p/x swapper_pg_dir[{index}].pgd",
            f"p $vm_find_task({image.bash})->comm",
            "p $vm_find_task(0)",
            "ptype struct task_struct",
        ],
    )
    assert out[0].startswith('$1 = "swapper\\000')
    assert out[1].endswith("= 1")
    assert '"cron"' in out[2]  # the ring: the newest task sits before init_task
    # bash took the vmalloc fault: init_mm's entry; cron did not: nothing there
    assert out[3].endswith(f"= {image.entries['bash'][1]:#x}")
    assert out[4].endswith("= 0x0") and image.entries["cron"][1] == 0
    assert out[5].endswith(f"= {image.entries['init_mm'][1]:#x}")
    assert '"bash"' in out[6]
    assert out[7].endswith("(struct task_struct *) 0x0")
    for member in ("next_task", "prev_task", "active_mm", "pidhash_next", "comm[16]"):
        assert member in out[8], member


DRGN_SCRIPT = r"""
import json, os, sys
os.environ["DRGN_USE_LIBKDUMPFILE_FOR_ELF"] = "1"
import drgn
from vmintro.hosts.drgn_helpers import find_task, follow_pte, for_each_task, task_pgd

prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.main_module("kernel", create=True).try_file(sys.argv[2], force=True)
probe = int(sys.argv[3])
tasks = [(t.pid.value_(), t.value_(), t.type_.type_name()) for t in for_each_task(prog, idle=True)]
out = {"tasks": tasks, "walks": {}, "pgds": {}}
for pid, _, _ in tasks:
    task = find_task(prog, pid)
    pgd = task_pgd(task) if pid else task_pgd(prog["init_task_union"].task.address_of_())
    out["pgds"][pid] = None if pgd is None else pgd.value_()
    if pgd is not None:
        walk = follow_pte(prog, pgd, probe)
        out["walks"][pid] = [walk.paddr, [s.value for s in walk.steps]]
out["null"] = find_task(prog, 4242).value_()
out["swapper_walk"] = follow_pte(prog, probe).paddr
print(json.dumps(out))
"""


@pytest.mark.slow
def test_drgn_helpers_read_the_tasks(drgn_available: bool, process_images, tmp_path: Path) -> None:
    image = process_images["2level"]
    script = tmp_path / "tasks.py"
    script.write_text(DRGN_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), f"{image.base}.vmcore", f"{image.base}.vmlinux"]
        + [str(image.probe)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DRGN_USE_LIBKDUMPFILE_FOR_ELF": "1", "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    view = json.loads(proc.stdout)
    prog = vmintro.open(image.base)
    ours = list(for_each_task(prog, idle=True))
    assert view["tasks"] == [[t.pid.value_(), int(t), "struct task_struct *"] for t in ours]
    for t in ours:
        pid = t.pid.value_()
        pgd = task_pgd(t)
        assert view["pgds"][str(pid)] == (None if pgd is None else int(pgd))
        if pgd is not None:
            walk = vmintro.helpers.follow_pte(prog, pgd, image.probe)
            assert view["walks"][str(pid)] == [walk.paddr, [s.value for s in walk.steps]]
    assert view["walks"][str(image.cron)][0] is None  # not synced yet
    assert view["walks"][str(image.bash)][0] == prog.translate(image.probe)
    assert view["null"] == 0
    assert view["swapper_walk"] == prog.translate(image.probe)


def _export(kind: str, base: Path, out: Path) -> Path:
    from vmintro.cli.export import parser

    args = parser().parse_args([f"--{kind}", str(base), "-o", str(out)])
    assert args.func(args) == 0
    return out


@pytest.fixture(scope="module")
def exported(process_images, tmp_path_factory: pytest.TempPathFactory):
    """``exported(name)``: the ISF and the ELF64 core of a process image, written once."""
    d = tmp_path_factory.mktemp("vol3")
    done: dict[str, Path] = {}

    def get(name: str) -> dict[str, Path]:
        for kind in ("isf", "elf64"):
            if f"{name}.{kind}" not in done:
                base = process_images[name].base
                done[f"{name}.{kind}"] = _export(kind, base, d / f"{name}.{kind}")
        return done

    return get


@pytest.mark.parametrize("name", ["2level", pytest.param("pae", marks=pytest.mark.slow)])
def test_volatility3_walks_a_process_page_directory_as_vtop_c(
    process_images, exported, name: str
) -> None:
    import_oracle("volatility3")
    from volatility3.framework import contexts, exceptions
    from volatility3.framework.layers import elf, intel, physical
    from volatility3.framework.symbols import intermed

    image = process_images[name]
    prog = vmintro.open(image.base)
    ctx = contexts.Context()
    files = exported(name)
    ctx.config["file.location"] = files[f"{name}.elf64"].as_uri()
    ctx.layers.add_layer(physical.FileLayer(ctx, "file", "file"))
    ctx.config["mem.base_layer"] = "file"
    ctx.layers.add_layer(elf.Elf64Layer(ctx, "mem", "mem"))
    table = intermed.IntermediateSymbolTable(
        ctx, "tbl", name="kernel", isf_url=files[f"{name}.isf"].as_uri()
    )
    ctx.symbol_space.append(table)
    # the ISF has 2.4.20's task_struct and mm_struct, not stand-ins
    task_type = table.get_type("task_struct")
    assert task_type.size == prog.type("struct task_struct").size
    for member in ("pid", "next_task", "mm", "active_mm", "comm"):
        assert task_type.vol.members[member][0] == prog.type("struct task_struct").offsetof(member)
    assert table.get_type("mm_struct").vol.members["pgd"][0] == prog.type(
        "struct mm_struct"
    ).offsetof("pgd")
    cls = intel.IntelPAE if image.pae else intel.Intel
    for pid in (image.bash, image.cron):
        layer = f"task{pid}"
        # volatility3's own read of the task and its mm: the page directory is mm->pgd
        kernel_dtb = table.get_symbol("swapper_pg_dir").address - PAGE_OFFSET
        ctx.config[f"{layer}k.memory_layer"] = "mem"
        ctx.config[f"{layer}k.page_map_offset"] = kernel_dtb
        ctx.layers.add_layer(cls(ctx, f"{layer}k", f"{layer}k"))
        task = ctx.object("kernel!task_struct", f"{layer}k", offset=image.tasks[pid]["task"])
        pgd = int(task.mm.dereference().pgd)
        assert pgd == image.tasks[pid]["pgd"]
        ctx.config[f"{layer}.memory_layer"] = "mem"
        ctx.config[f"{layer}.page_map_offset"] = pgd - PAGE_OFFSET  # __pa(pgd): CR3
        ctx.layers.add_layer(cls(ctx, layer, layer))
        [vtop] = [p for p in run(prog, f"vtop -c {pid} {image.probe:x}") if p.name == "vtop"]
        [row] = vtop.rows
        try:
            theirs = ctx.layers[layer].translate(image.probe)[0]
        except exceptions.InvalidAddressException:
            theirs = None
        assert theirs == row["physical"], pid
    if not image.pae:
        assert row["physical"] is None  # cron: the entry the fault would copy is missing


def _ps_rows(base: Path) -> list[tuple]:
    prog = vmintro.open(base)
    [part] = run(prog, "ps")
    return [
        (r["pid"], r["ppid"], r["cpu"], r["task"], r["state"], round(r["pct_mem"], 1))
        + (r["vsz"], r["rss"], f"[{r['comm']}]" if r["kernel_thread"] else r["comm"], r["active"])
        for r in part.rows
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["2level", "pae"])
def test_linux24_pslist_is_ps(process_images, exported, name: str) -> None:
    import_oracle("volatility3")
    vol = shutil.which("vol")
    assert vol is not None
    files = exported(name)
    proc = subprocess.run(
        [vol, "-q", "-r", "json", "-f", str(files[f"{name}.elf64"]), "-p", str(PLUGINS)]
        + ["linux24.pslist", "--isf", str(files[f"{name}.isf"])],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(proc.stdout)
    keys = ("PID", "PPID", "CPU", "TASK", "ST", "MEM%", "VSZ", "RSS", "COMM", "ACTIVE")
    theirs = [tuple(r[k] for k in keys) for r in rows]
    assert theirs == _ps_rows(process_images[name].base)
    assert len(theirs) == len(process_images[name].tasks)
    assert find_task(vmintro.open(process_images[name].base), 1) is not None
