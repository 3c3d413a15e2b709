"""Write the mutated image of a failure: ``python3 -m tests.hostile.reproduce SEED INDEX DIR``.

Prints what was changed and the image's path (``DIR/NAME``, without extension), ready
for the command the failure names.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .mutate import mutation


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 -m tests.hostile.reproduce")
    parser.add_argument("seed", type=int)
    parser.add_argument("index", type=int)
    parser.add_argument("directory", type=Path)
    args = parser.parse_args()
    m = mutation(args.seed, args.index)
    args.directory.mkdir(parents=True, exist_ok=True)
    stem = m.write(args.directory)
    print(m.label)
    print(stem)


if __name__ == "__main__":
    main()
