"""An image whose ``max_mapnr`` reads 0: ``map --area -o`` still draws its picture.

The physical bar of the SVG was scaled by ``max_mapnr`` alone, a division by zero
here. Found by the fuzzer: seed 50, index 648 (``max_mapnr 0x1000 -> 0``) and seed 10,
index 46 (a .debug_info byte that moves ``max_mapnr``'s location).
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from .bases import base_images
from .mutate import _put


def test_map_area_svg_with_max_mapnr_zero(tmp_path: Path) -> None:
    base = base_images()[0]
    field = next(f for f in base.fields["mm"] if f.path == "max_mapnr")
    core = bytearray(base.core)
    _put(core, field.offset, field.size, 0)
    (tmp_path / "img.vmcore").write_bytes(core)
    (tmp_path / "img.vmlinux").write_bytes(base.vmlinux)
    out = tmp_path / "out.svg"
    area = f"{base.facts.area:x}"
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "map", str(tmp_path / "img"), "--area", area]
        + ["-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    frames = [e for e in ET.parse(out).iter() if e.get("class") == "pframe"]
    # every frame of the area is drawn, inside the picture
    assert len(frames) == base.prog.read_u32(base.facts.vm_struct + 8) // 4096 - 1
    assert all(0 <= float(e.get("x", "-1")) <= 1000 for e in frames)
