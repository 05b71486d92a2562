"""imip-md5 (docs/protocol.md §4.2): challenge, digest, verification."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imipd.protocol import AUTH_TYPE, DigestOrder, _auth, digest, new_challenge, verify

CHALLENGE = "2718281828"
PASSWORD = "s3cret"
GOOD = "acf2b771b12e380f6001573415913b2e"


def test_auth_type_name() -> None:
    assert AUTH_TYPE == "imip-md5"


def test_digest_of_the_worked_example() -> None:
    assert digest(CHALLENGE, PASSWORD) == GOOD
    assert digest(CHALLENGE, PASSWORD, DigestOrder.CHALLENGE_PASSWORD) == GOOD


@settings(max_examples=100, deadline=None)
@given(
    challenge=st.integers(0, 2**32 - 1).map(str),
    password=st.text(st.characters(exclude_categories=["Cs"])),
)
def test_digest_formula(challenge: str, password: str) -> None:
    expected = hashlib.md5(challenge.encode("ascii") + password.encode("utf-8")).hexdigest()
    result = digest(challenge, password)
    assert result == expected
    assert len(result) == 32 and result == result.lower()
    reverse = hashlib.md5(password.encode("utf-8") + challenge.encode("ascii")).hexdigest()
    assert digest(challenge, password, DigestOrder.PASSWORD_CHALLENGE) == reverse
    assert verify(challenge, password, result)
    assert verify(challenge, password, reverse, DigestOrder.PASSWORD_CHALLENGE)


def test_password_is_utf8() -> None:
    expected = hashlib.md5(b"42" + "pässwörd €".encode()).hexdigest()
    assert digest("42", "pässwörd €") == expected
    assert (
        digest("42", "pässwörd €")
        != hashlib.md5("42pässwörd €".encode("latin-1", "replace")).hexdigest()
    )


def test_password_challenge_order() -> None:
    expected = hashlib.md5(b"s3cret2718281828").hexdigest()
    assert digest(CHALLENGE, PASSWORD, DigestOrder.PASSWORD_CHALLENGE) == expected
    assert expected != GOOD
    assert verify(CHALLENGE, PASSWORD, expected, DigestOrder.PASSWORD_CHALLENGE)
    assert not verify(CHALLENGE, PASSWORD, expected)
    assert not verify(CHALLENGE, PASSWORD, GOOD, DigestOrder.PASSWORD_CHALLENGE)


def test_digest_order_config_values() -> None:
    assert DigestOrder("challenge-password") is DigestOrder.CHALLENGE_PASSWORD
    assert DigestOrder("password-challenge") is DigestOrder.PASSWORD_CHALLENGE


@pytest.mark.parametrize("response", [GOOD, GOOD.upper(), GOOD[:16].upper() + GOOD[16:]])
def test_verify_accepts_either_case(response: str) -> None:
    assert verify(CHALLENGE, PASSWORD, response)
    assert verify(CHALLENGE, PASSWORD, response.encode("ascii"))


@pytest.mark.parametrize(
    "response",
    [
        "",
        GOOD[:31],
        GOOD + "0",
        GOOD + "\r\n",
        " " + GOOD[1:],
        GOOD[:-1] + "g",
        GOOD[:-1] + "G",
        "z" * 32,
        "0x" + GOOD[2:],
        GOOD[:-1] + "é",  # non-ASCII text of the right length
        "\uff10" * 32,  # full-width digits are no hex digits
        "0" * 32,
        digest(CHALLENGE, "wrong"),
        digest("2718281829", PASSWORD),
    ],
)
def test_verify_rejects(response: str) -> None:
    assert not verify(CHALLENGE, PASSWORD, response)


@pytest.mark.parametrize(
    "response",
    [
        b"",
        GOOD.encode()[:31],
        GOOD.encode() + b"\n",
        b"\xff" * 32,
        GOOD.encode()[:-1] + b"\xe9",
        "é".encode() * 16,  # 32 bytes, not ASCII
        b"\x00" * 32,
    ],
)
def test_verify_rejects_bytes(response: bytes) -> None:
    assert not verify(CHALLENGE, PASSWORD, response)


def test_verify_is_exact_about_password_and_challenge() -> None:
    assert not verify(CHALLENGE, PASSWORD + " ", GOOD)
    assert not verify(CHALLENGE, PASSWORD.upper(), GOOD)
    assert not verify("0" + CHALLENGE, PASSWORD, GOOD)


def check_challenge(challenge: str) -> None:
    assert challenge.isascii() and challenge.isdigit()
    assert challenge == "0" or not challenge.startswith("0")
    assert str(int(challenge)) == challenge
    assert 0 <= int(challenge) < 2**32
    assert 1 <= len(challenge) <= 10


def test_new_challenge_is_decimal_without_leading_zeros() -> None:
    seen = {new_challenge() for _ in range(500)}
    for challenge in seen:
        check_challenge(challenge)
    assert len(seen) > 490  # random, not a counter or a constant
    assert any(len(challenge) == 10 for challenge in seen)


@pytest.mark.parametrize("value", [0, 1, 7, 10, 4096, 2**31, 2**32 - 1])
def test_new_challenge_extremes(monkeypatch: pytest.MonkeyPatch, value: int) -> None:
    calls: list[int] = []

    def urandom(n: int) -> bytes:
        calls.append(n)
        return value.to_bytes(4) * (n // 4)

    monkeypatch.setattr(os, "urandom", urandom)
    _auth._POOL.clear()
    challenges = [new_challenge() for _ in range(1025)]
    assert calls == [4096, 4096]  # 4 KiB of the OS's randomness per 1024 challenges
    assert set(challenges) == {str(value)}
    check_challenge(challenges[0])
    _auth._POOL.clear()
