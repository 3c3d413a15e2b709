"""bigareas: vmalloc areas of at least a given size."""

from vmintro.commands import Column, CommandError, Row, Table, arg, command
from vmintro.helpers import for_each_vm_area


@command(
    "bigareas",
    help="vmalloc areas of at least a given size",  # the line `help` shows
    args=[arg("min_size", type=int, nargs="?", default=0, help="bytes")],
    aliases=["ba"],
)
def bigareas(prog, args):
    """Each area on vmlist whose size (its guard page included) is at least MIN_SIZE."""
    if args.min_size < 0:
        raise CommandError("the size cannot be negative")  # one line, as any command's error
    rows = (
        Row(addr=a.addr.value_(), size=a.size.value_())
        for a in for_each_vm_area(prog)
        if a.size.value_() >= args.min_size
    )
    return Table(
        [Column("addr", "ADDRESS", "08x"), Column("size", "SIZE", "d", 9, ">")],
        rows,
        name="bigareas",
    )
