"""vmintro inside gdb: the ``vm`` commands and the ``$vm_*`` convenience functions.

Imported by the file that ``vmintro gdb-script`` prints (it only works inside
gdb, whose Python has the ``gdb`` module)::

    gdb -x "$(vmintro gdb-script)" images/demo.vmlinux images/demo.vmcore
    (gdb) vm vmlist
    (gdb) vm vtop c4800000
    (gdb) vm rd c4800000 8          # gdb itself: "Cannot access memory at address 0xc4800000"
    (gdb) p/x $vm_vmalloc_to_pfn(vmlist->addr)
    (gdb) p *$vm_vmalloc_to_page(vmlist->addr)
    (gdb) help vm

Every vmintro command is a ``vm`` subcommand and runs through the same runner
as vmintro's REPL and ``vmintro -c`` (:class:`~vmintro.cmdline.runner.Runner`), so
its output is the same, byte for byte; ``;``, ``> FILE``, ``| SHELL`` and
``pipe CMD | SHELL`` work as there, with the same rule for C operators (``vm
help pipe``). A failing command raises a gdb error with vmintro's one-line message,
so a gdb script stops there as it would on any gdb error.

The program behind them reads the files gdb has open
(:class:`~vmintro.backends.gdb.GdbBackend`); it is made on first use and again
whenever gdb opens another core or vmlinux.
"""

from __future__ import annotations

import io
from typing import TextIO, cast

import gdb

from vmintro.backends.gdb import GdbBackend, GdbMemoryBackend, NoCoreError, session_files
from vmintro.cmdline.runner import Runner
from vmintro.commands.discovery import load_plugins
from vmintro.commands.registry import QuitRequested, commands, names
from vmintro.errors import VmintroError
from vmintro.program import Program

__all__ = ["current_program", "install", "run_line", "session_program"]

# vmintro commands that make no sense inside gdb: leaving vmintro is leaving gdb
_SKIPPED = {"quit"}
# gdb-only spellings: the issue's `vm kmem-f` for the buddy free areas
_EXTRA = {"kmem-f": ("kmem -f", "the buddy free areas of every zone (vm kmem -f)")}

_program: tuple[tuple[object, ...], Program] | None = None
# The moment of the image's timeline the session reads (vm goto), or the image itself
_moment: Program | None = None


class VmSource(gdb.Parameter):
    """Where vm commands read memory: auto, core or memory.

    core: the core file gdb has open, every frame of RAM (the default when there
    is one). memory: gdb's own reads of the target (gdb.selected_inferior()
    .read_memory), as for a live kernel; only RAM below high_memory is reachable
    that way. auto: the core when there is one, else memory."""

    set_doc = "Set where vm commands read memory (auto, core, memory)."
    show_doc = "Show where vm commands read memory."

    def __init__(self) -> None:
        super().__init__("vm-source", gdb.COMMAND_DATA, gdb.PARAM_ENUM, ["auto", "core", "memory"])
        self.value = "auto"

    def get_set_string(self) -> str:
        return ""


def _memory_program() -> tuple[tuple[object, ...], Program]:
    exe = gdb.current_progspace().filename
    if not exe:
        raise NoCoreError("no vmlinux: load one with 'file NAME.vmlinux'")
    key = ("memory", exe, gdb.selected_inferior().num)
    if _program is not None and _program[0] == key:
        return _program
    return key, Program(GdbMemoryBackend(exe))


def current_program() -> Program:
    """The program of the target gdb has open now: its core file, or its memory.

    :raises gdb.GdbError: no core file (with vm-source core), or files vmintro cannot read.
    """
    global _program
    source = str(gdb.parameter("vm-source") or "auto")
    try:
        if source == "memory":
            _program = _memory_program()
        else:
            try:
                files = session_files()
            except NoCoreError:
                if source == "core":
                    raise
                if gdb.selected_inferior().pid == 0:
                    # no process either: reads would come from the vmlinux file itself
                    raise NoCoreError(
                        "no core file and no live target: open the image with "
                        "'core-file NAME.vmcore' (or connect to a target)"
                    ) from None
                _program = _memory_program()
            else:
                if _program is None or _program[0] != files:
                    _program = (files, Program(GdbBackend(*files)))
    except VmintroError as e:
        raise gdb.GdbError(str(e)) from None
    return _program[1]


class _GdbStream(io.TextIOBase):
    """A text stream writing through ``gdb.write`` (so gdb's pager and logging see it)."""

    def __init__(self, stream: int) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        gdb.write(text, self._stream)
        return len(text)

    def flush(self) -> None:
        gdb.flush()


def _gdb_stream(stream: int) -> TextIO:
    """gdb's ``stream`` as the text file the runner and the plugin loader write to: of
    TextIO they use write, flush and fileno, which raises UnsupportedOperation here
    (a pipe's output is then copied through gdb.write)."""
    return cast(TextIO, _GdbStream(stream))


def session_program() -> Program:
    """:func:`current_program`, or the moment of its timeline that ``vm goto`` (``step``,
    ``back``) moved this gdb session to: the moment lasts from one ``vm`` command to the
    next, as in the REPL, until the session moves again or gdb opens another image."""
    prog = current_program()
    if _moment is not None and _image_of(_moment) is prog:
        return _moment
    return prog


def _image_of(prog: Program) -> Program:
    """The image's Program that ``prog`` comes from: through the moments of its
    timeline, and through the live kernels (``vm sim``) resumed from it."""
    from vmintro.timeline.moments import root_of

    while True:
        prog = root_of(prog)
        live = getattr(prog, "_live", None)  # a live kernel's program (vmintro.livekernel)
        if live is None:
            return prog
        prog = live.source


def run_line(line: str) -> None:
    """Run a vmintro command line on :func:`session_program`, printing as the REPL prints.

    :raises gdb.GdbError: carrying the error lines of the commands that failed.
    """
    global _moment
    from vmintro.exercises.session import ExerciseRunner, image_policy

    errors = io.StringIO()
    prog, out = session_program(), _gdb_stream(gdb.STDOUT)
    policy = image_policy(_image_of(prog))  # an exercise's image: its commands only
    runner = (
        Runner(prog, out=out, err=errors)
        if policy is None
        else ExerciseRunner(prog, policy, out=out, err=errors)
    )
    try:
        runner.run_line(line)
    except QuitRequested:
        pass
    finally:
        _moment = runner.prog
    if errors.getvalue():
        raise gdb.GdbError(errors.getvalue().rstrip("\n"))


class VmPrefix(gdb.Command):
    """vmintro: the Linux 2.4.20 memory manager of the core gdb has open.

    vmintro walks swapper_pg_dir itself, so these commands read vmalloc and
    ioremap addresses, which gdb cannot read from a core. Their output is
    that of vmintro's REPL. Several commands: vm vmlist; vtop c4800000.
    Output to a file or a shell command: vm vmlist > areas.txt, vm vmlist | wc -l,
    vm pipe p vmlist->size >> 12 | cat; a line where > or | could also be C
    (vm p vmlist > 4096) is refused with both readings: vm help pipe.

    Convenience functions for gdb expressions:
      $vm_translate(ADDR)         physical address of kernel virtual ADDR
      $vm_vmalloc_to_pfn(ADDR)    frame number behind ADDR
      $vm_vmalloc_to_page(ADDR)   its struct page * (p *$vm_vmalloc_to_page(vmlist->addr))
      $vm_find_task(PID)          find_task_by_pid: struct task_struct * (p $vm_find_task(1)->comm)

    "vm help" is vmintro's own list, "help vm COMMAND" the manual of one."""

    def __init__(self) -> None:
        super().__init__("vm", gdb.COMMAND_DATA, gdb.COMPLETE_COMMAND, prefix=True)

    def invoke(self, argument: str, from_tty: bool) -> None:
        self.dont_repeat()
        if argument.strip():
            run_line(argument)  # a word gdb does not know: vmintro names it
        else:
            gdb.execute("help vm", from_tty)


class VmSubcommand(gdb.Command):
    """Runs one vmintro command; each instance's class carries that command's manual."""

    line_prefix = ""

    def __init__(self, word: str) -> None:
        super().__init__(f"vm {word}", gdb.COMMAND_DATA, gdb.COMPLETE_SYMBOL)

    def invoke(self, argument: str, from_tty: bool) -> None:
        self.dont_repeat()
        run_line(f"{self.line_prefix} {argument}".strip())


class VmHelp(VmSubcommand):
    """Complete vmintro command names after 'vm help'."""

    def complete(self, text: str, word: str) -> list[str]:
        return [n for n in names() if n.startswith(word or "")]


def _doc(summary: str, body: str) -> str:
    # gdb shows the first line in 'help vm' and the whole text in 'help vm CMD'
    return f"{summary}\n\n{body}" if body else summary


def _subcommand(word: str, line: str, doc: str, base: type[VmSubcommand]) -> None:
    cls = type(f"Vm_{word.replace('-', '_')}", (base,), {"__doc__": doc, "line_prefix": line})
    cls(word)


class _ValueFunction(gdb.Function):
    """Base of the ``$vm_*`` functions: one address in, a gdb value out."""

    function_name = ""

    def __init__(self) -> None:
        super().__init__(self.function_name)

    def invoke(self, address: gdb.Value) -> gdb.Value:
        from vmintro.exercises.policy import NOT_AVAILABLE, image_policy

        prog = session_program()
        policy = image_policy(_image_of(prog))  # each would walk what an exercise asks for
        if policy is not None:
            raise gdb.GdbError(f"${self.function_name}: {NOT_AVAILABLE} ({policy.exercise})")
        try:
            return self.compute(prog, int(address))
        except VmintroError as e:
            raise gdb.GdbError(f"${self.function_name}: {e}") from None

    def compute(self, prog: Program, address: int) -> gdb.Value:
        raise NotImplementedError


class VmTranslate(_ValueFunction):
    """$vm_translate(ADDR): the physical address of kernel virtual address ADDR.

    Lowmem by __pa, everything else by vmintro's walk of swapper_pg_dir.
    Usage: p/x $vm_translate(0xc4800000)"""

    function_name = "vm_translate"

    def compute(self, prog: Program, address: int) -> gdb.Value:
        return gdb.Value(prog.translate(address)).cast(gdb.lookup_type("unsigned long long"))


class VmVmallocToPfn(_ValueFunction):
    """$vm_vmalloc_to_pfn(ADDR): vmalloc_to_pfn, the frame number behind ADDR.

    Where vmalloc_to_page is NULL (no page mapped) it is an error naming the entry.
    Usage: p/x $vm_vmalloc_to_pfn(vmlist->addr)"""

    function_name = "vm_vmalloc_to_pfn"

    def compute(self, prog: Program, address: int) -> gdb.Value:
        from vmintro.helpers.vmalloc import vmalloc_to_pfn

        pfn = vmalloc_to_pfn(prog, address)
        if pfn is None:
            fault = prog.follow_pte(address).fault
            why = fault if fault is not None else f"{address:#x}: vmalloc_to_page is NULL"
            raise gdb.GdbError(f"${self.function_name}: {why}")
        return gdb.Value(pfn).cast(gdb.lookup_type("unsigned long"))


class VmVmallocToPage(_ValueFunction):
    """$vm_vmalloc_to_page(ADDR): vmalloc_to_page, the struct page * of the frame behind ADDR.

    NULL where 2.4.20's vmalloc_to_page returns NULL (no page mapped). mem_map is
    lowmem, so gdb reads the page itself:
    Usage: p *$vm_vmalloc_to_page(vmlist->addr)"""

    function_name = "vm_vmalloc_to_page"

    def compute(self, prog: Program, address: int) -> gdb.Value:
        from vmintro.helpers.vmalloc import vmalloc_to_page

        found = vmalloc_to_page(prog, address)
        page = 0 if found is None else found.value_()
        return gdb.Value(page).cast(gdb.lookup_type("struct page").pointer())


class VmFindTask(_ValueFunction):
    """$vm_find_task(PID): find_task_by_pid, the struct task_struct * of PID (pidhash).

    NULL for a pid no task has (and for 0: init_task is never hashed; it is
    &init_task_union.task). The task is lowmem, so gdb reads it itself:
    Usage: p $vm_find_task(1)->comm"""

    function_name = "vm_find_task"

    def compute(self, prog: Program, address: int) -> gdb.Value:
        from vmintro.helpers.pid import find_task

        found = find_task(prog, address)
        task = 0 if found is None else found.value_()
        return gdb.Value(task).cast(gdb.lookup_type("struct task_struct").pointer())


def install() -> None:
    """Add ``vm`` and its subcommands (one per vmintro command and alias) and the functions.

    The plugins load first, as in the REPL, so their commands are ``vm`` commands
    too. Safe to call again: gdb replaces a command of the same name.
    """
    load_plugins(err=_gdb_stream(gdb.STDERR))
    VmSource()
    VmPrefix()
    for cmd in commands():
        if cmd.name in _SKIPPED:
            continue
        doc = _doc(cmd.help, cmd.help_text())
        base = VmHelp if cmd.name == "help" else VmSubcommand
        _subcommand(cmd.name, cmd.name, doc, base)
        for alias in cmd.aliases:
            _subcommand(alias, alias, _doc(f"{cmd.help} (same as vm {cmd.name})", ""), base)
    for word, (line, summary) in _EXTRA.items():
        _subcommand(word, line, _doc(summary, f"Runs 'vm {line}'."), VmSubcommand)
    VmTranslate()
    VmVmallocToPfn()
    VmVmallocToPage()
    VmFindTask()
