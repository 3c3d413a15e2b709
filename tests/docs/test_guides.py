"""The post-mortem guide covers every kind of fault a scenario can inject: an image of its own
(``docs/guides/images/KIND.toml`` with that one fault), a transcript on it, and the finding
``check`` reports for it shown there. A fault kind added to the simulator fails this until the
guide shows it."""

from __future__ import annotations

import sys
from pathlib import Path

from vmintro_transcripts import parse_blocks, parse_steps

from vmintro.check import FAULT_FINDINGS
from vmintro.sim.faults import FAULTS

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guides" / "postmortem.rst"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_every_fault_kind_has_its_image_and_its_finding_in_the_guide() -> None:
    blocks = {b.image: b for b in parse_blocks(GUIDE)}
    text = GUIDE.read_text(encoding="utf-8")
    for kind in FAULTS:
        image = f"docs/guides/images/{kind.replace('_', '-')}.toml"
        scenario = tomllib.loads((ROOT / image).read_text(encoding="utf-8"))
        assert [s.get("kind") for s in scenario["step"] if s["op"] == "fault"] == [kind], image
        assert f"``{kind}``" in text, f"the guide does not name {kind}"
        assert image in blocks, f"no transcript on {image}"
        shown = "\n".join(line for step in parse_steps(blocks[image]) for line in step.output)
        assert any(f in shown for f in FAULT_FINDINGS[kind]), (kind, FAULT_FINDINGS[kind])
