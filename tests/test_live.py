"""The live kernel: vmintro.live(image), the sim and save commands, bad input as 2.4.20 takes it."""

from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from core_edit import write_phys
from hostile_image import DEMO

import vmintro
from vmintro.cmdline.runner import Runner
from vmintro.errors import EXIT_OK, EXIT_USAGE
from vmintro.generate import generate
from vmintro.helpers import for_each_vm_area
from vmintro.livekernel import LiveError, live
from vmintro.sim.resume import resume


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("live") / "m"
    generate(out, "minimal")
    return out


def _digests(base: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in base.parent.glob(base.name + ".*")
    }


def _session(image: Path, *lines: str) -> tuple[Runner, str, str]:
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(vmintro.open(image), out=out, err=err)
    for line in lines:
        runner.run_line(line)
    return runner, out.getvalue(), err.getvalue()


def _but_log(k, ram: dict[int, bytes]) -> dict[int, bytes]:  # type: ignore[no-untyped-def]
    """``ram`` with printk's ring and indices zeroed."""
    out = {p: bytearray(b) for p, b in ram.items()}
    for name in ("log_buf", "log_start", "con_start", "log_end", "logged_chars"):
        addr, size, _ = k.layout.symbols[name]
        for a in range(addr - 0xC0000000, addr - 0xC0000000 + size):
            if a >> 12 in out:
                out[a >> 12][a & 0xFFF] = 0
    return {p: bytes(b) for p, b in out.items() if any(b)}


def _free_pages(k) -> int:  # type: ignore[no-untyped-def]
    return sum(k.get(zone, "zone_t", "free_pages") for zone in k.buddy.zones)


def test_calls_return_what_the_kernel_returns(image: Path) -> None:
    k = live(image)
    free = _free_pages(k.kernel)
    call = k.vmalloc(64 << 10)
    assert call.kind == "address" and call.value is not None
    assert call.value in k.kernel.vmalloc.records  # a new area, 16 pages + their PTE page
    assert _free_pages(k.kernel) <= free - 16
    assert k.program["vmlist"].value_() != 0
    found = [
        a for a in vmintro.helpers.for_each_vm_area(k.program) if a.addr.value_() == call.value
    ]
    assert found and found[0].size.value_() == 17 * 4096
    assert "areas +1" in call.changes
    page = k.alloc_pages(5)
    assert page.kind == "address"
    freed = k.free_pages(page.value, 5)
    assert freed.kind == "void" and "free pages" in freed.changes
    assert k.alloc_pages(10).kind == "null"  # order >= MAX_ORDER
    obj = k.kmalloc(100)
    assert obj.kind == "address" and k.kfree(obj.value).kind == "void"
    assert k.kmalloc(200 << 10).kind == "null"  # above the largest general cache
    assert k.swapon(8 << 20).value == 0
    assert k.swapoff(0).value == 0
    assert k.insmod("foo", 9000).value == 0
    assert k.insmod("foo", 9000).text == "EEXIST"
    assert k.rmmod("foo").value == 0 and k.rmmod("foo").text == "ENOENT"


def test_bad_input_gets_what_2_4_20_does(image: Path) -> None:
    k = live(image)
    ram = {p: k.kernel.mem.page(p) for p in k.kernel.mem.stored_pfns()}
    assert any(line.startswith("Memory:") for line in k.kernel.log)
    bug = k.vmalloc(0)
    assert (
        bug.kind == "bug" and "__vmalloc" in bug.text and bug.call_path == ("vmalloc", "__vmalloc")
    )
    assert k.vmalloc(k.kernel.config.ram + 4096).kind == "bug"  # more pages than RAM
    span = k.kernel.config.vmalloc_end - k.kernel.config.vmalloc_start
    assert k.get_vm_area(span, 2).kind == "null"  # beyond the vmalloc range
    unaligned = k.vfree(k.kernel.config.vmalloc_start + 1)
    assert unaligned.printk[-1].startswith("Trying to vfree() bad address")
    nothing = k.vfree(0xC0000000 + 0x100000 * 1023)  # an unsigned long: 32 bits
    assert nothing.printk[-1].startswith("Trying to vfree() nonexistent vm area")
    assert k.swapoff(31).text == "EINVAL"
    # a BUG() changed nothing, and a vfree of no area only printed
    assert _but_log(k.kernel, {p: k.kernel.mem.page(p) for p in k.kernel.mem.stored_pfns()}) == (
        _but_log(k.kernel, ram)
    )
    # not a slab page, and no DEBUG CHECK_PAGE: the kernel image's page->list points
    # at itself (INIT_LIST_HEAD), so the page is taken for both cache and slab, written
    # through, and list_add finally follows its NULL mapping: an oops at 0x4
    wild = k.kfree(0xC0100000)
    assert wild.kind == "oops" and "virtual address 00000004" in wild.text
    with pytest.raises(LiveError):
        k.fault("no_such_fault")


def test_save_writes_a_new_image_and_never_the_original(image: Path, tmp_path: Path) -> None:
    before = _digests(image)
    k = live(image)
    addr = k.vmalloc(128 << 10).value
    with pytest.raises(LiveError, match="resumed from"):
        k.save(image)
    k.save(tmp_path / "after")
    assert _digests(image) == before
    again = resume(tmp_path / "after")
    mem = again.kernel.mem
    assert {p: mem.page(p) for p in mem.stored_pfns()} == {
        p: k.kernel.mem.page(p) for p in k.kernel.mem.stored_pfns()
    }
    assert again.kernel.vmalloc.records[addr]["owner"] == "live"
    saved = vmintro.open(tmp_path / "after")
    last = saved.timeline.entries[-1]
    assert (last.call, dict(last.args)) == ("vmalloc", {"size": 128 << 10})
    # the image's own entries come first, unchanged
    original = vmintro.open(image).timeline
    assert saved.timeline.entries[: len(original.entries)] == original.entries


def _starts(vmlist_out: str) -> set[str]:
    """The area start addresses of vmlist's rows."""
    return {r[1] for r in map(str.split, vmlist_out.splitlines()) if len(r) == 5 and r[2] == "-"}


def test_sim_in_a_session_then_every_command_reads_the_new_state(image: Path) -> None:
    runner, out, err = _session(image, "sim vmalloc 64K")
    assert err == "" and runner.status == EXIT_OK
    first = out.splitlines()[0]
    assert first.startswith("vmalloc(size=65536) = 0x")
    addr = first.split(" = ")[1][2:]
    out_len = len(runner.out.getvalue())  # type: ignore[attr-defined]
    runner.run_line("vmlist")
    assert addr in _starts(runner.out.getvalue()[out_len:])  # type: ignore[attr-defined]
    # back undoes it: the area is gone from vmlist; goto end brings it back
    for moves, present in (("back", False), ("goto end", True)):
        out_len = len(runner.out.getvalue())  # type: ignore[attr-defined]
        runner.run_line(moves)
        runner.run_line("vmlist")
        shown = runner.out.getvalue()[out_len:]  # type: ignore[attr-defined]
        assert (addr in _starts(shown)) is present, moves


def test_sim_usage_and_bug_lines(image: Path) -> None:
    runner, out, err = _session(image, "sim vmalloc", "sim nosuch 1", "sim vmalloc 5G")
    lines = err.splitlines()
    assert len(lines) == 3 and all("usage:" in line for line in lines)
    assert runner.status == EXIT_USAGE
    _, out, err = _session(image, "sim vmalloc 0")
    assert err == ""
    assert "kernel BUG at vmalloc.c:242!" in out and "Call path: vmalloc > __vmalloc" in out


def test_vmintro_c_sim_and_save(image: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro", str(image), "-c", f"sim vmalloc 8K; save {tmp_path}/s"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "s.vmcore").is_file() and "saved" in proc.stdout


def test_a_hung_kernel_takes_no_more_calls_and_faults_are_named(image: Path) -> None:
    runner, out, err = _session(image, "sim fault nosuch")
    assert runner.status == EXIT_USAGE and "vmlist_cycle" in err
    k = live(image)
    k.vmalloc(8192)
    k.vmalloc(8192)
    assert k.fault("vmlist_cycle").kind == "void"
    hung = k.vmalloc(1 << 20)  # no hole before the loop holds it
    assert hung.kind == "hang" and "get_vm_area" in (hung.text or "")
    with pytest.raises(LiveError, match="stuck in get_vm_area"):
        k.vmalloc(4096)


def test_an_image_whose_pointers_lead_nowhere_is_refused_in_one_line(
    image: Path, tmp_path: Path
) -> None:
    for ext in ("vmcore", "vmlinux"):
        (tmp_path / f"bad.{ext}").write_bytes(image.with_suffix(f".{ext}").read_bytes())
    prog = vmintro.open(tmp_path / "bad")
    # cache_sizes[0].cs_cachep, which kmalloc follows, points into nothing
    paddr = prog.symbol("cache_sizes").address + 4 - prog.page_offset
    write_phys(tmp_path / "bad.vmcore", paddr, (0xDEAD0000).to_bytes(4, "little"))
    with pytest.raises(LiveError) as e:
        live(tmp_path / "bad")
    assert "\n" not in str(e.value) and "bad.vmcore" in str(e.value)
    _, out, err = _session(tmp_path / "bad", "sim vmalloc 8K")
    assert out == "" and err.count("\n") == 1 and "internal error" not in err


def test_vmintro_live_stays_the_function_once_its_module_is_imported() -> None:
    """Importing the live kernel's module must not put a module where ``vmintro.live`` is."""
    import vmintro.livekernel  # noqa: F401 - what sim and the tests import

    assert vmintro.live is live


def test_what_changed_is_read_from_memory(image: Path) -> None:
    """A call that corrupts vmlist changes no area the simulator recorded; the
    summary still says what memory now holds."""
    _, out, err = _session(image, "sim vmalloc 8K", "sim vmalloc 8K", "sim fault vmlist_cycle")
    assert not err
    last = out.splitlines()[-1]
    assert last.startswith("changed: vmlist loops back to 0x"), out


def test_addresses_are_hex_with_or_without_0x_as_everywhere(image: Path) -> None:
    # 'sim vfree c4985000' was "not a number", and '10000000' would have been read as
    # decimal: an address is hex, as every command reads one and prints it
    runner, out, err = _session(image, "sim vmalloc 8K")
    addr = out.split(" = ")[1].split()[0]  # 0x...
    bare = addr.removeprefix("0x")
    status = runner.run_line(f"sim vfree {bare}")
    assert status == EXIT_OK, runner.err.getvalue()  # type: ignore[attr-defined]
    assert f"vfree(addr={addr})" in runner.out.getvalue()  # type: ignore[attr-defined]
    assert runner.run_line("sim iounmap 10000000") == EXIT_OK
    assert "iounmap(addr=0x10000000)" in runner.out.getvalue()  # type: ignore[attr-defined]
    assert runner.run_line("sim kfree c010000g") == EXIT_USAGE
    assert "ADDR 'c010000g' is not an address" in runner.err.getvalue()  # type: ignore[attr-defined]


def test_a_live_diff_is_headed_by_the_image_resumed(image: Path) -> None:
    # the heading said "<Program 2.4.20 i386 ... at entry 0>@0"
    runner, out, err = _session(image, "sim vmalloc 4K", "diff 0 end -s")
    heading = next(line for line in out.splitlines() if line.startswith("diff "))
    assert heading.startswith(f"diff {image} (live)@0 -> {image} (live)@"), heading
    assert "<Program" not in out


@pytest.mark.parametrize(
    ("kind", "text", "where"),
    [
        ("panic", "Kernel panic: Out of memory and no killable processes...", "panic()"),
        ("hang", "kernel hang in get_vm_area(): vmlist loops", "get_vm_area()"),
    ],
)
def test_a_kernel_resumed_at_a_panic_or_a_hang_takes_no_calls(
    image: Path, tmp_path: Path, kind: str, text: str, where: str
) -> None:
    """2.4.20 spins for ever there: a saved panicked kernel resumed takes no more
    calls than it did live, so no timeline goes on after a panic."""
    from dataclasses import replace

    from vmintro.image.format.timeline import Result, decode_timeline, encode_timeline

    for ext in ("vmcore", "vmlinux", "truth.json"):
        (tmp_path / f"p.{ext}").write_bytes(image.with_suffix(f".{ext}").read_bytes())
    t = decode_timeline(image.with_suffix(".timeline").read_bytes())
    last = replace(t.entries[-1], result=Result(kind, None, text))
    (tmp_path / "p.timeline").write_bytes(
        encode_timeline(replace(t, entries=(*t.entries[:-1], last)))
    )
    k = live(tmp_path / "p")
    with pytest.raises(LiveError, match=rf"vmalloc: the kernel is stuck in {where}"):
        k.vmalloc(4096)
    assert not k.calls


def test_an_argument_no_timeline_holds_is_refused_before_the_call(image: Path) -> None:
    k = live(image)
    for call, words in (
        (lambda: k.vmalloc(10**30), "vmalloc: size (a 31-digit number) does not fit 32 bits"),
        (lambda: k.vfree(1 << 64), "vfree: addr 18446744073709551616 does not fit 32 bits"),
        (lambda: k.insmod("m" * 5000, 1 << 20), "insmod: name of 5000 characters is longer"),
        (lambda: k.spawn("s" * 4092), "spawn: filename of 4097 characters is longer"),
    ):
        with pytest.raises(LiveError) as e:
            call()
        assert str(e.value).startswith(words) and "\n" not in str(e.value)
    assert not k.calls and len(k.timeline.entries) == len(live(image).timeline.entries)


def test_a_swap_device_past_4_gib_is_recorded_by_its_device_not_its_size(
    image: Path, tmp_path: Path
) -> None:
    """sys_swapon's size is the device's (8 GiB here, a 4 MiB swap_map), no argument of
    the call: the timeline records the device, and the image saved is read back."""
    k = live(image)
    call = k.swapon(8 << 30)
    assert (call.kind, call.value) == ("int", 0)
    entry = k.timeline.entries[-1]
    assert (entry.call, entry.args) == ("sys_swapon", (("device", 770),))
    saved = tmp_path / "swap8g"
    k.save(saved)
    assert vmintro.open(saved).timeline.entries[-1].args == (("device", 770),)


def test_a_forged_vmlist_without_truth_is_walked_page_by_page_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resumed without a truth file, a kernel's vmalloc pages are found by walking the
    page tables: each page of the vmalloc range at most once, however many areas of a
    forged vmlist claim it (15 areas of 16 MiB over one another, not 15 x 4,096 walks); a
    page directory entry naming a frame past RAM is a page not mapped; and save refuses
    areas that hold more pages than the range has (an area of 4 GiB), in one line."""
    import vmintro.sim.resume as resume_module

    base = tmp_path / "forged"
    for ext in ("vmcore", "vmlinux"):  # the demo's core and kernel, no truth file
        base.with_suffix(f".{ext}").write_bytes(DEMO.with_suffix(f".{ext}").read_bytes())
    prog = vmintro.open(base)
    areas = [(area.value_(), area.addr.value_()) for area in for_each_vm_area(prog)]
    core = base.with_suffix(".vmcore")
    for n, (vm_struct, _addr) in enumerate(areas):  # vm_struct.size, at offset 8
        size = 0xFFFFF000 if n == 0 else (16 << 20) + 4096
        write_phys(core, vm_struct + 8 - prog.page_offset, struct.pack("<I", size))
    # the page table of 0xc5000000's 4 MiB: a frame past the machine's 64 MiB
    pde = prog.symbol("swapper_pg_dir").address - prog.page_offset + (0xC5000000 >> 22) * 4
    write_phys(core, pde, struct.pack("<I", 0x7FFF0000 | 0x67))
    walked: list[int] = []
    real = resume_module.virt_to_phys_walk

    def counted(k: object, vaddr: int) -> int:
        walked.append(vaddr)
        return real(k, vaddr)  # type: ignore[arg-type]

    monkeypatch.setattr(resume_module, "virt_to_phys_walk", counted)
    k = live(base)
    covered = {addr + off for _s, addr in areas[1:] for off in range(0, 16 << 20, 4096)}
    assert sorted(walked) == sorted(covered)  # each once
    assert 0xC5000000 in covered
    with pytest.raises(LiveError) as e:
        k.save(tmp_path / "saved")
    message = str(e.value)
    assert message.startswith("save: the kernel's 16 vm areas hold")
    assert "more than the 243708 pages of the vmalloc range" in message
    assert "\n" not in message and not list(tmp_path.glob("saved*"))
