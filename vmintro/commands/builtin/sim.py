"""``sim CALL ARGS...`` and ``save NAME``: call into the kernel of the image (or of the
moment the session shows), and save what it becomes.

The first call resumes the kernel on the simulator (:mod:`vmintro.livekernel`); from
then on every command reads the kernel as the last call left it, and the calls
are entries of the session's timeline after the image's own (``back`` undoes
one, ``goto`` moves across them). A call from an earlier moment resumes that
moment: the entries after it are left behind, as an edit after an undo.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from vmintro.arch.x86 import parse_size
from vmintro.commands.argtypes import hex_number
from vmintro.commands.registry import CommandError, UsageError, arg, command
from vmintro.commands.result import Move, Text
from vmintro.escape import escape_text
from vmintro.image.format.timeline import STOPS
from vmintro.types.flags import (
    GFP_DMA,
    GFP_HIGHMEM,
    GFP_KERNEL,
    GFP_USER,
    PID_MAX,
    VM_ALLOC,
    VM_IOREMAP,
)

if TYPE_CHECKING:
    from vmintro.livekernel import Call, LiveKernel
    from vmintro.program import Program

ULONG_MAX = 0xFFFFFFFF
# the gfp masks a call may name (include/linux/mm.h); GFP_ATOMIC is __GFP_HIGH
GFP_NAMES = {
    "GFP_KERNEL": GFP_KERNEL,
    "GFP_USER": GFP_USER,
    "GFP_ATOMIC": 0x20,
    "GFP_DMA": GFP_DMA,
    "__GFP_DMA": GFP_DMA,
    "GFP_HIGHMEM": GFP_HIGHMEM,
    "__GFP_HIGHMEM": GFP_HIGHMEM,
}
VM_FLAGS = {"VM_IOREMAP": VM_IOREMAP, "VM_ALLOC": VM_ALLOC}


def _number(text: str, what: str, limit: int = ULONG_MAX) -> int:
    """A size or a count: decimal unless ``0x``, or with ``K``, ``M`` or ``G``."""
    try:
        value = parse_size(text) if text[-1:].upper() in "KMG" else int(text, 0)
    except (ValueError, IndexError):
        raise UsageError(f"{what} '{text}' is not a number") from None
    if not 0 <= value <= limit:
        raise UsageError(f"{what} {text} does not fit an unsigned long")
    return value


def _address(text: str, what: str) -> int:
    """An address, virtual or physical: hex with or without ``0x``, as every command
    reads one and prints it (:func:`~vmintro.commands.argtypes.hex_number`)."""
    value = hex_number(text)
    if value is None:
        raise UsageError(f"{what} '{text}' is not an address (hex, with or without 0x)")
    if value > ULONG_MAX:
        raise UsageError(f"{what} {text} does not fit an unsigned long")
    return value


def _mask(text: str, names: dict[str, int], what: str) -> int:
    value = 0
    for part in text.split("|"):
        part = part.strip()
        value |= names[part] if part in names else _number(part, what)
    return value


# call -> (usage, how the words become the LiveKernel method's arguments)
_CALLS: dict[str, tuple[str, Callable[[list[str]], tuple[list[Any], dict[str, Any]]]]] = {}


def _call(name: str, usage: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(parse: Callable[..., Any]) -> Callable[..., Any]:
        _CALLS[name] = (usage, parse)
        return parse

    return register


def _words(words: list[str], count: int, optional: int = 0) -> list[str]:
    if not count <= len(words) <= count + optional:
        raise UsageError("wrong number of arguments")
    return words


for _name in ("vmalloc", "vmalloc_dma", "vmalloc_32", "kmalloc"):
    _call(_name, f"sim {_name} SIZE")(lambda w: ([_number(_words(w, 1)[0], "SIZE")], {}))
for _name, _what in (("vfree", "ADDR"), ("iounmap", "ADDR"), ("kfree", "ADDR")):
    _call(_name, f"sim {_name} {_what}")(lambda w: ([_address(_words(w, 1)[0], "ADDR")], {}))


@_call("get_vm_area", "sim get_vm_area SIZE [FLAGS]  (FLAGS: VM_ALLOC (default), VM_IOREMAP)")
def _get_vm_area(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    w = _words(w, 1, 1)
    flags = _mask(w[1], VM_FLAGS, "FLAGS") if len(w) > 1 else VM_ALLOC
    return [_number(w[0], "SIZE"), flags], {}


@_call("ioremap", "sim ioremap PHYS SIZE [--nocache]")
def _ioremap(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    w = _words(w, 2)
    return [_address(w[0], "PHYS"), _number(w[1], "SIZE")], {}


@_call("alloc_pages", "sim alloc_pages ORDER [--gfp FLAGS]  (FLAGS: GFP_KERNEL, GFP_DMA|...)")
def _alloc_pages(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    return [_number(_words(w, 1)[0], "ORDER")], {}


@_call("free_pages", "sim free_pages PAGE ORDER  (PAGE: a struct page address)")
def _free_pages(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    w = _words(w, 2)
    return [_address(w[0], "PAGE"), _number(w[1], "ORDER")], {}


@_call("swapon", "sim swapon SIZE [BADPAGE...]  (BADPAGE: mkswap's bad-page list)")
def _swapon(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    w = _words(w, 1, len(w))  # more than the header holds: the kernel says -EINVAL
    bad = tuple(_number(b, "BADPAGE") for b in w[1:])
    return [_number(w[0], "SIZE")], {"bad_pages": bad} if bad else {}


@_call("swapoff", "sim swapoff N  (N: the area's index in swap_info)")
def _swapoff(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    return [_number(_words(w, 1)[0], "N")], {}


@_call("insmod", "sim insmod NAME SIZE")
def _insmod(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    w = _words(w, 2)
    if not w[0] or len(w[0]) > 55 or not w[0].isprintable():
        raise UsageError("NAME must be 1 to 55 printable characters (a module's name)")
    return [w[0], _number(w[1], "SIZE")], {}


@_call("rmmod", "sim rmmod NAME")
def _rmmod(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    return [_words(w, 1)[0]], {}


def _pid(text: str) -> int:
    value = _number(text, "PID")
    if value >= PID_MAX:
        raise UsageError(f"PID {text} is not a pid (below {PID_MAX})")
    return value


@_call("fork", "sim fork [PID]  (PID: the parent, 1 by default)")
def _fork(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    return [_pid(p) for p in _words(w, 0, 1)], {}


@_call("spawn", "sim spawn NAME [PID]  (fork in PID, 1 by default, then exec NAME)")
def _spawn(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    w = _words(w, 1, 1)
    if not w[0] or len(w[0]) > 15 or not w[0].isprintable() or "/" in w[0]:
        raise UsageError("NAME must be 1 to 15 printable characters without '/' (a comm)")
    return [w[0], *(_pid(p) for p in w[1:])], {}


@_call("exit", "sim exit PID")
def _exit(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    return [_pid(_words(w, 1)[0])], {}


@_call("touch", "sim touch PID ADDR  (a kernel-mode read in PID's context)")
def _touch(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    w = _words(w, 2)
    return [_pid(w[0]), _address(w[1], "ADDR")], {}


@_call("mmap", "sim mmap PID SIZE [ADDR]  (anonymous, read-write, private; ADDR a hint)")
def _mmap(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    w = _words(w, 2, 1)
    addr = {"addr": _address(w[2], "ADDR")} if len(w) > 2 else {}
    return [_pid(w[0]), _number(w[1], "SIZE")], addr


@_call("brk", "sim brk PID ADDR  (the new break: above grows the heap, below unmaps)")
def _brk(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    w = _words(w, 2)
    return [_pid(w[0]), _address(w[1], "ADDR")], {}


@_call("munmap", "sim munmap PID ADDR SIZE")
def _munmap(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    w = _words(w, 3)
    return [_pid(w[0]), _address(w[1], "ADDR"), _number(w[2], "SIZE")], {}


@_call("fault", "sim fault KIND [KEY=VALUE...]  ('sim fault list' names the kinds)")
def _fault(w: list[str]) -> tuple[list[Any], dict[str, Any]]:
    if not w:
        raise UsageError("wrong number of arguments")
    from vmintro.sim.faults import FAULTS

    if w[0] not in FAULTS:
        raise UsageError(f"no fault kind '{escape_text(w[0])}' (kinds: {', '.join(FAULTS)})")
    extra: dict[str, Any] = {}
    for word in w[1:]:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise UsageError(f"'{word}' is not KEY=VALUE")
        extra[key] = value
    return [w[0]], extra


def _usage() -> str:
    return "usage: " + " | ".join(usage.split("  (")[0] for usage, _ in _CALLS.values())


def live_kernel(prog: Program) -> LiveKernel:
    """The session's live kernel for ``prog``: the one its calls made, when ``prog``
    is its last moment; else ``prog``'s kernel resumed (the image, or a moment)."""
    from vmintro.livekernel import LiveError, LiveKernel
    from vmintro.sim.resume import ResumeError
    from vmintro.timeline.moments import root_of

    root = root_of(prog)
    current = getattr(root, "_live", None)
    if current is not None and (prog is root or prog.moment == current.last_entry):
        return current
    try:
        made = LiveKernel(prog)
    except (ResumeError, LiveError) as e:
        raise CommandError(str(e)) from None
    if current is not None:
        made.origin = current.origin  # the image first resumed, which save never replaces
    return made


# what a successful swapon leaves unlike 2.4.20, said where the user reads the call
SWAP_FILE_NOTE = (
    "note: swap_file and swap_vfsmnt are NULL: the simulation has no VFS; 2.4.20's path "
    "lookup points them at the device's dentry and vfsmount, allocating nothing"
)

# what the OOM killer did without the clock 2.4.20's out_of_memory waits on
OOM_NOTE = (
    "note: out_of_memory() acted on the tenth failed reclaim in a row; the simulation has "
    "no clock, so its wait of a second (and of five after a kill) is taken as passed"
)
OOM_LINES = ("Out of Memory: Killed process", "Kernel panic: Out of memory")

TOUCH_OUTCOMES = {
    "mapped": "mapped: the process's page directory maps it, no fault",
    "synced": "vmalloc fault: do_page_fault copied the missing entry from init_mm.pgd",
    "fault": "page fault: inside one of the process's areas, handle_mm_fault mapped it "
    "(a read of a page never written maps empty_zero_page)",
}


def _lines(done: Call) -> Iterator[str]:
    yield escape_text(str(done).split("  ", 1)[0])
    if done.kind in STOPS and done.text:
        yield escape_text(done.text)
        if done.call_path:
            yield "Call path: " + " > ".join(done.call_path)
    for line in done.printk:
        if done.text is None or line != done.text:
            yield "printk: " + escape_text(line)
    if done.call == "sys_swapon" and done.kind == "int":
        yield SWAP_FILE_NOTE
    if any(line.startswith(OOM_LINES) for line in (*done.printk, done.text or "")):
        yield OOM_NOTE
    if done.call == "touch" and done.text in TOUCH_OUTCOMES:
        yield TOUCH_OUTCOMES[done.text]
    yield "changed: " + escape_text(done.changes)


def _sim_py(prog: Program, args: argparse.Namespace) -> str:
    if args.call == "fault" and args.words == ["list"]:
        return "from vmintro.sim.faults import FAULTS\n\nprint('fault kinds:', ', '.join(FAULTS))\n"
    positional, options = _parsed(args)
    shown = [hex(v) if isinstance(v, int) and v > 0xFFFF else repr(v) for v in positional]
    shown += [f"{name}={value!r}" for name, value in options.items()]
    return (
        "k = prog.resume()  # the kernel prog reads, resumed on the simulator\n"
        f"done = k.{args.call}({', '.join(shown)})  # one kernel call\n"
        "print(done)  # what the kernel returned, and what changed\n"
        "prog = k.refresh()  # the kernel after the call: read it as any other\n"
    )


def _save_py(prog: Program, args: argparse.Namespace) -> str:
    return (
        "k = prog.resume()  # the kernel prog reads, as a live kernel (vmintro.livekernel)\n"
        f"paths = k.save({args.name!r})  # core, vmlinux, truth and timeline, atomically\n"
        "print('saved', ', '.join(str(p) for p in paths.values()))\n"
    )


def _parsed(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    """The call's positional and keyword arguments, from ``sim CALL ARGS``."""
    entry = _CALLS.get(args.call)
    if entry is None:
        raise UsageError(f"sim: no call '{escape_text(args.call)}'; {_usage()}")
    usage, parse = entry
    try:
        if args.nocache and args.call != "ioremap":
            raise UsageError("--nocache is ioremap's")
        if args.gfp is not None and args.call != "alloc_pages":
            raise UsageError("--gfp is alloc_pages'")
        positional, options = parse(list(args.words))
        if args.call == "ioremap":
            options["nocache"] = args.nocache
        if args.call == "alloc_pages" and args.gfp is not None:
            options["gfp_mask"] = _mask(args.gfp, GFP_NAMES, "FLAGS")
    except UsageError as e:
        raise UsageError(f"{args.call}: {e}; usage: {usage}") from None
    return positional, options


@command(
    "sim",
    crash="none: crash reads dumps, it runs no kernel code",
    gdb="`call FUNC(ARGS)` on a live kernel through kgdb",
    help="call into the kernel: sim vmalloc 64K, sim vfree ADDR, sim alloc_pages 5, ...",
    args=[
        arg("call", metavar="CALL", help="the kernel call: " + ", ".join(_CALLS)),
        arg("words", nargs="*", metavar="ARGS", synopsis="[ARGS]", help="its arguments"),
        arg("--nocache", action="store_true", help="ioremap: ioremap_nocache"),
        arg("--gfp", metavar="FLAGS", help="alloc_pages: the gfp mask (default GFP_KERNEL)"),
    ],
    py=_sim_py,
)
def sim(prog: Program, args: argparse.Namespace) -> Iterator[Move | Text]:
    """Make one kernel call on the simulator, resumed from the image (or the moment the
    session shows), and print what the kernel returned (an address, NULL, -errno, a
    BUG() with its call path) and what changed; every command after it reads the
    new state, and the call is an entry of the timeline (back undoes it).

    Calls: vmalloc SIZE, vmalloc_dma SIZE, vmalloc_32 SIZE, vfree ADDR,
    get_vm_area SIZE [FLAGS], ioremap PHYS SIZE [--nocache], iounmap ADDR,
    alloc_pages ORDER [--gfp FLAGS], free_pages PAGE ORDER, kmalloc SIZE,
    kfree ADDR, swapon SIZE [BADPAGE...], swapoff N, insmod NAME SIZE, rmmod NAME,
    fork [PID], spawn NAME [PID], exit PID, touch PID ADDR (a kernel-mode read
    from PID's context: mapped, synced by the vmalloc fault, a user address
    mapped by handle_mm_fault, or an oops), mmap PID SIZE [ADDR] (anonymous
    memory: the address or -errno), brk PID ADDR (the new break), munmap PID
    ADDR SIZE (0 or -EINVAL), fault KIND [KEY=VALUE...]. Sizes take K, M, G.
    """
    if args.call == "fault" and args.words == ["list"]:
        from vmintro.sim.faults import FAULTS

        yield Text("fault kinds: " + ", ".join(FAULTS), name="faults", data=list(FAULTS))
        return
    positional, options = _parsed(args)
    k = live_kernel(prog)
    method = getattr(k, args.call)
    from vmintro.livekernel import LiveError

    try:
        done = method(*positional, **options)
    except LiveError as e:
        raise CommandError(str(e)) from None
    data = {
        "call": done.call,
        "args": dict(done.args),
        "kind": done.kind,
        "value": done.value,
        "text": done.text,
        "call_path": list(done.call_path),
        "printk": list(done.printk),
        "changed": done.changes,
        "entries": list(done.entries),
    }
    yield Move("\n".join(_lines(done)), name="sim", data=data, program=k.refresh())


@command(
    "save",
    crash="none: crash writes no dump",
    gdb="`gcore` (a live process's core)",
    help="write the kernel as the session shows it as a new image NAME",
    args=[arg("name", metavar="NAME", help="the new image: DIR/NAME (.vmcore, .vmlinux, ...)")],
    py=_save_py,
)
def save(prog: Program, args: argparse.Namespace) -> Text:
    """Write the kernel the session shows (after its sim calls, or a moment) as image
    NAME: core, vmlinux, truth and timeline, atomically; the image the session
    opened is never modified."""
    from vmintro.livekernel import LiveError

    k = live_kernel(prog)
    try:
        paths = k.save(args.name)
    except LiveError as e:
        raise CommandError(str(e)) from None
    files = ", ".join(escape_text(str(p)) for p in paths.values())
    return Text(f"saved {files}", name="saved", data={k: str(p) for k, p in paths.items()})
