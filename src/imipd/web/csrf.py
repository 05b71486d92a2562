"""CSRF protection of the sign-up form: a signed double-submit token.

A page elsewhere must not be able to make a visitor's browser create
accounts (each one counts against the visitor's address). The form page sets a
random *nonce* in a ``SameSite=Strict``, ``HttpOnly`` cookie and puts into the
form a token ``<time>.<HMAC(secret, nonce, time)>``. A sign-up is accepted only
when the cookie's nonce and the form's token match and the token is fresh. A
forger can neither read the cookie nor compute the HMAC.

The secret is derived from the data directory's ``secret.key``, so forms stay
valid across restarts and on every node that shares the key; without it, a
random per-process secret works the same until the process ends.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import time

COOKIE = "imipd_csrf"
FIELD = "csrf_token"
MAX_AGE = 2 * 3600
"""Seconds a form stays valid."""

_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_PURPOSE = b"imipd web csrf v1"


def derive_secret(key: bytes) -> bytes:
    """The CSRF key for a master key (HMAC with a fixed label: the key itself never leaves)."""
    return hmac.new(key, _PURPOSE, hashlib.sha256).digest()


class Verdict(enum.Enum):
    """What a submitted token is worth."""

    OK = "ok"
    MISSING = "missing"
    WRONG = "wrong"
    EXPIRED = "expired"


class CsrfGuard:
    """Issues and checks the tokens of one web side."""

    def __init__(self, secret: bytes = b"", max_age: int = MAX_AGE) -> None:
        self._key = secret or secrets.token_bytes(32)
        self.max_age = max_age

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    @staticmethod
    def valid_nonce(nonce: str | None) -> bool:
        """Whether a cookie value looks like a nonce this guard issues."""
        return nonce is not None and _NONCE.fullmatch(nonce) is not None

    def _mac(self, nonce: str, issued: int) -> str:
        digest = hmac.new(self._key, f"{nonce}.{issued}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, nonce: str, now: float | None = None) -> str:
        """The form token for the cookie ``nonce``."""
        issued = int(time.time() if now is None else now)
        return f"{issued}.{self._mac(nonce, issued)}"

    def check(self, nonce: str | None, token: str | None, now: float | None = None) -> Verdict:
        """Whether ``token`` (from the form) belongs to ``nonce`` (from the cookie)."""
        if not nonce or not token:
            return Verdict.MISSING
        issued_text, _, mac = token.partition(".")
        if not self.valid_nonce(nonce) or not issued_text.isdigit() or len(issued_text) > 12:
            return Verdict.WRONG
        issued = int(issued_text)
        if not hmac.compare_digest(mac.encode(), self._mac(nonce, issued).encode()):
            return Verdict.WRONG
        age = (time.time() if now is None else now) - issued
        if not -60 <= age <= self.max_age:
            return Verdict.EXPIRED
        return Verdict.OK
