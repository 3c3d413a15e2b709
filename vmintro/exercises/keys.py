"""Keys: where a variant's seed, and so its answer, comes from.

Every variant's seed is HMAC-SHA256(key, student NUL exercise): a student's graded
variant under the teacher's course key, the practice variant (student ``""``)
under a *practice key*. No key is in the source or in an exercise's files, so
neither the seed nor the answer follows from them without solving the exercise:

- the shipped practice images (``images/exercises``) come from a key their
  maintainers keep outside the repository (``python -m vmintro.exercises.build
  --key FILE`` rebuilds them byte for byte);
- an exercise built on first use, into the user's cache, comes from a fresh random
  key (:func:`fresh_key`) that is never written down: only the slow hash of its
  answer is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from vmintro.files import read_regular

__all__ = [
    "MAX_KEY",
    "MIN_KEY",
    "SALT_BYTES",
    "KeyFileError",
    "fresh_key",
    "read_key",
    "salt_of",
    "variant_seed",
]

MIN_KEY = 16
# a key file holds a key (64 hex digits made as the message below says), not a document
MAX_KEY = 4096
# the salt of a practice answer's hash (answer.json holds it in hex)
SALT_BYTES = 16


class KeyFileError(ValueError):
    """A key file that cannot be used: one line naming it."""


def read_key(path: Path) -> bytes:
    """A key: the file's bytes, surrounding whitespace aside (at least 16, at most
    :data:`MAX_KEY`); a FIFO, a directory or a device is refused before it is read."""
    try:
        key = read_regular(path, MAX_KEY).strip()
    except OSError as e:  # more than MAX_KEY bytes too: a key file holds one key
        raise KeyFileError(f"{path}: {e.strerror}") from None
    if len(key) < MIN_KEY:
        raise KeyFileError(
            f"{path}: a key of {len(key)} bytes; at least {MIN_KEY} "
            "(make one: python3 -c 'import secrets; print(secrets.token_hex(32))' > course.key)"
        )
    return key


def fresh_key() -> bytes:
    """A random key for variants nobody will rebuild (it is not kept)."""
    return secrets.token_hex(32).encode()


def variant_seed(key: bytes, student: str, exercise: str) -> int:
    """The seed of ``student``'s variant of ``exercise`` (``""``: the practice one):
    HMAC-SHA256 of both under ``key``."""
    mac = hmac.new(key, f"{student}\0{exercise}".encode(), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big")


def salt_of(key: bytes, exercise: str) -> str:
    """The salt of the practice answer's hash: from the key, so the same key rebuilds
    the same ``answer.json``, and unrelated to the seed (another HMAC message)."""
    mac = hmac.new(key, f"answer salt\0{exercise}".encode(), hashlib.sha256).digest()
    return mac[:SALT_BYTES].hex()
