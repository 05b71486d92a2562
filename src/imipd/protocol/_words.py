"""Case-insensitive matching of protocol words, in ASCII only (docs/protocol.md §2.3, §4.2).

Verbs, header names, presences, ``List`` values and user names are matched
without regard to case, but only the 26 ASCII letters have a case here. Python's
``str.upper`` and ``str.lower`` follow Unicode and map other characters onto
ASCII letters: ``"ı".upper()`` is ``"I"``, ``"ſ".upper()`` is ``"S"`` and the
Kelvin sign ``"\u212a".lower()`` is ``"k"``, so ``pıng`` would be taken for
``PING`` and ``\u212aate`` for the user ``kate``. Every case-insensitive comparison
of a protocol word goes through these two functions instead.

ASCII text (nearly all of it) takes ``str.upper``/``str.lower`` directly: for
ASCII they are exact, and ``str.isascii`` costs nothing.
"""

from __future__ import annotations

_UPPER = {code: code - 32 for code in range(ord("a"), ord("z") + 1)}
_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def ascii_upper(text: str) -> str:
    """``text`` with the ASCII letters a–z in upper case and every other character kept."""
    return text.upper() if text.isascii() else text.translate(_UPPER)


def ascii_lower(text: str) -> str:
    """``text`` with the ASCII letters A–Z in lower case and every other character kept."""
    return text.lower() if text.isascii() else text.translate(_LOWER)
