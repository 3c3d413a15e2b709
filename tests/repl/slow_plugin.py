"""A test-only plugin: ``slowwalk`` yields a row every 10 ms, for ever, until stopped."""

from __future__ import annotations

import itertools
import time

from vmintro.commands import Column, Row, Table, command


@command("slowwalk", help="a walk that never ends (tests of Ctrl-C)")
def slowwalk(prog, args):
    def rows():
        for i in itertools.count():
            time.sleep(0.01)
            yield Row(step=i)

    return Table([Column("step", "STEP", "d")], rows(), name="slowwalk")
