"""The Sphinx extension of vmintro's docs.

* Before reading any page it writes the generated reference
  (:mod:`vmintro_reference`) into ``reference/generated/``.
* It renders the transcript blocks (:mod:`vmintro_transcripts`) that the test
  suite runs: ``vmintro-repl``, ``vmintro-script`` and ``vmintro-shell``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx.application import Sphinx
from vmintro_reference import generate
from vmintro_transcripts import OUTPUT_MARK


def _literal(text: str, language: str) -> nodes.literal_block:
    node = nodes.literal_block(text, text)
    node["language"] = language
    return node


def _image_note(image: str) -> nodes.paragraph:
    para = nodes.paragraph(classes=["vmintro-image"])
    if image.endswith(".toml"):
        name = Path(image).stem
        command = f"vmintro generate --scenario {image} -o {name}"
        para += nodes.Text("On the image ")
        para += nodes.literal(name, name)
        para += nodes.Text(", made with ")
        para += nodes.literal(command, command)
        para += nodes.Text(":")
    else:
        para += nodes.Text("On the image ")
        para += nodes.literal(image, image)
        para += nodes.Text(":")
    return para


class _Transcript(Directive):
    has_content = True
    optional_arguments = 1
    final_argument_whitespace = False
    option_spec: dict[str, Any] = {"hide-image": directives.flag}
    language = "text"

    def run(self) -> list[nodes.Node]:
        image = self.arguments[0] if self.arguments else ""
        result: list[nodes.Node] = []
        # the image is named where a page's blocks move to another one, not at every block
        seen = self.state.document.settings.env.temp_data
        if image and image != seen.get("vmintro-image") and "hide-image" not in self.options:
            result.append(_image_note(image))
        seen["vmintro-image"] = image
        result.extend(self.body(list(self.content)))
        return result

    def body(self, lines: list[str]) -> list[nodes.Node]:
        return [_literal("\n".join(lines), self.language)]


class ReplTranscript(_Transcript):
    """``vmintro-repl IMAGE``: a session at vmintro's prompt."""


class ShellTranscript(_Transcript):
    """``vmintro-shell``: ``$ vmintro ...`` lines and what they print."""

    language = "console"


class ScriptTranscript(_Transcript):
    """``vmintro-script IMAGE``: a library script, then what it prints."""

    def body(self, lines: list[str]) -> list[nodes.Node]:
        at = lines.index(OUTPUT_MARK) if OUTPUT_MARK in lines else len(lines)
        code = "\n".join(lines[:at]).strip("\n")
        out: list[nodes.Node] = [_literal(code, "python")]
        printed = "\n".join(lines[at + 1 :]).strip("\n")
        if printed:
            label = nodes.paragraph(classes=["vmintro-prints"])
            label += nodes.Text("It prints:")
            out.extend([label, _literal(printed, "text")])
        return out


def _generate(app: Sphinx) -> None:
    generate(Path(app.srcdir))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", _generate)
    app.add_directive("vmintro-repl", ReplTranscript)
    app.add_directive("vmintro-shell", ShellTranscript)
    app.add_directive("vmintro-script", ScriptTranscript)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
