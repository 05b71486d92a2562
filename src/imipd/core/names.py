"""What a user name and a nickname may be (docs/protocol.md §4.2)."""

from __future__ import annotations

import re

_USER = re.compile(r"[A-Za-z0-9._-]{1,64}")


def valid_user_name(name: str) -> bool:
    """1–64 characters of ``A–Z a–z 0–9 . _ -``."""
    return _USER.fullmatch(name) is not None


def valid_nick(nick: str) -> bool:
    """1–64 characters, no double quote, no control characters."""
    return (
        0 < len(nick) <= 64
        and '"' not in nick
        and not any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in nick)
    )
