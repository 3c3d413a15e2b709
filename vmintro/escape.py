"""Text from an image, made safe to show: the one escaping function.

A zone or module name is whatever bytes the image holds at its address. Shown
raw, an escape sequence in it retitles or clears the terminal, a control byte
makes an SVG invalid XML, and bytes that are not UTF-8 fail to encode. Every
name or string read from image memory goes through :func:`escape_text` before
it reaches a terminal, a file or a browser, and comes out as crash and gdb
show such strings: printable text as it is, anything else C-style as ``\\xNN``
per byte (``"\\x1b]0;owned\\x07"``). JSON carries the escaped string.

The result holds only printable characters, so escaping it again changes
nothing: a front end may escape what a helper already escaped. (For that
reason a backslash is left as it is rather than doubled.)

This module imports nothing from vmintro: every layer may use it.
"""

from __future__ import annotations

__all__ = ["escape_text"]


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        # a byte that was not UTF-8, carried through by "surrogateescape"
        return f"\\x{code - 0xDC00:02x}"
    return "".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))


def escape_text(text: bytes | bytearray | str) -> str:
    """``text`` with every non-printable character or non-UTF-8 byte as ``\\xNN``.

    ``bytes`` are decoded as UTF-8 where they can be; printable characters
    (``str.isprintable``: letters, digits, punctuation, spaces, accented
    letters) stay, control characters, format characters (such as U+202E,
    which reverses text), line and paragraph separators and undecodable bytes
    become one ``\\xNN`` per byte.

    >>> escape_text(b"Normal")
    'Normal'
    >>> escape_text(b"\\x1b[2J\\xff")
    '\\\\x1b[2J\\\\xff'
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "surrogateescape")
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in text)
