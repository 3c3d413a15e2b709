"""Pictures of the kernel address space: SVG for a browser, a bar for a terminal."""

from vmintro.mapview.layout import address_space, area_frames
from vmintro.mapview.svg import render_svg
from vmintro.mapview.text import render_frames_text, render_text

__all__ = ["address_space", "area_frames", "render_frames_text", "render_svg", "render_text"]
