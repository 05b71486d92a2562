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

A form that created an account leaves a *receipt* in a second signed cookie
(``RECEIPTS``): the account number and a digest of the form's token, for the
last few sign-ups of this browser. A form sent again (a reload of the POST,
back and submit) is recognised by it and answered with the same account
instead of a second one or a claim that nothing was created.
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
RECEIPTS = "imipd_signup"
RECEIPTS_MAX_AGE = 7 * 24 * 3600
"""Seconds a browser remembers the accounts its forms created (far longer than a form lives,
so a form sent again after it expired is still recognised)."""
MAX_RECEIPTS = 10
"""Sign-ups remembered per browser (more than the default limit per hour)."""

_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_PURPOSE = b"imipd web csrf v1"
_RECEIPT = re.compile(r"([0-9A-Za-z_.-]{1,64}):([0-9a-f]{16})")


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

    def _form_digest(self, token: str) -> str:
        return hmac.new(self._key, f"form {token}".encode(), hashlib.sha256).hexdigest()[:16]

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, f"receipts {body}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def receipts(self, cookie: str | None) -> list[tuple[str, str]]:
        """The ``(account, form digest)`` pairs of a receipts cookie; none if it was forged."""
        if not cookie:
            return []
        body, _, mac = cookie.rpartition("~")
        if not body or not hmac.compare_digest(mac.encode(), self._sign(body).encode()):
            return []
        pairs = [_RECEIPT.fullmatch(item) for item in body.split("/")]
        return [(match.group(1), match.group(2)) for match in pairs if match]

    def add_receipt(self, cookie: str | None, account: str, token: str) -> str:
        """The receipts cookie with ``account``, made by the form with ``token``, added."""
        pairs = [(account, self._form_digest(token)), *self.receipts(cookie)][:MAX_RECEIPTS]
        body = "/".join(f"{name}:{digest}" for name, digest in pairs)
        return f"{body}~{self._sign(body)}"

    def created_by(self, cookie: str | None, token: str | None) -> str | None:
        """The account the form with ``token`` already created, per the receipts cookie."""
        if not token:
            return None
        digest = self._form_digest(token)
        for account, made_by in self.receipts(cookie):
            if hmac.compare_digest(made_by, digest):
                return account
        return None

    def has_receipt(self, cookie: str | None, account: str) -> bool:
        """Whether this browser created ``account`` (may see its welcome page)."""
        return any(name == account for name, _ in self.receipts(cookie))
