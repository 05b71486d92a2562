"""imip-md5: the login challenge and digest of docs/protocol.md §4.1–§4.2."""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import threading


class DigestOrder(enum.Enum):
    """What MD5 runs over. The captures do not reveal the original formula.

    ``CHALLENGE_PASSWORD`` is imipd's rule; ``PASSWORD_CHALLENGE`` exists for
    clients that were built the other way round and is chosen in the config.
    """

    CHALLENGE_PASSWORD = "challenge-password"
    PASSWORD_CHALLENGE = "password-challenge"


AUTH_TYPE = "imip-md5"

_HEX = frozenset("0123456789abcdefABCDEF")


def new_challenge() -> str:
    """A fresh random unsigned 32-bit number in decimal, without leading zeros.

    # COMPAT(yahoo): at most 10 digits, so a client may read it into a 32-bit integer.
    """
    with _POOL_LOCK:
        if not _POOL:
            _POOL.extend(os.urandom(_POOL_SIZE))
        value = int.from_bytes(_POOL[-4:])
        del _POOL[-4:]
    return str(value)


# Challenges come from the OS's random source 4 KiB at a time: one getrandom() per
# login showed in the login profile. Used bytes are dropped; a forked child starts over
# (with a new lock: another thread may have held the old one at the fork).
_POOL_SIZE = 4096
_POOL = bytearray()
_POOL_LOCK = threading.Lock()


def _start_over_in_child() -> None:
    global _POOL_LOCK
    _POOL.clear()
    _POOL_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_start_over_in_child)


def digest(
    challenge: str, password: str, order: DigestOrder = DigestOrder.CHALLENGE_PASSWORD
) -> str:
    """The 32 lowercase hexadecimal digits a client sends in its ``LOGN`` body."""
    c = challenge.encode("ascii")
    p = password.encode("utf-8")
    data = c + p if order is DigestOrder.CHALLENGE_PASSWORD else p + c
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def verify(
    challenge: str,
    password: str,
    response: bytes | str,
    order: DigestOrder = DigestOrder.CHALLENGE_PASSWORD,
) -> bool:
    """Whether ``response`` is the right digest; either hex case is accepted.

    Anything that is not 32 hexadecimal digits is simply wrong. The comparison
    takes the same time wherever the digests differ.
    """
    if isinstance(response, bytes):
        try:
            response = response.decode("ascii")
        except UnicodeDecodeError:
            return False
    if len(response) != 32 or not _HEX.issuperset(response):
        return False
    expected = digest(challenge, password, order)
    return hmac.compare_digest(expected, response.lower())
