"""The status table of docs/protocol.md §9, every code with its number."""

from __future__ import annotations

import pytest

from imipd.protocol import Status


# code -> (member, observed in the captures)
def status_of(code: int) -> Status:
    """``Status(code)``: the lookup by value (mypy sees only the member constructor)."""
    return Status(code)  # type: ignore[call-arg]


IMIP_MD_TABLE: dict[int, tuple[str, bool]] = {
    600: ("OK", True),
    601: ("STORED", False),
    800: ("MALFORMED", False),
    801: ("UNKNOWN_TYPE", False),
    802: ("WRONG_STATE", False),
    803: ("BAD_HEADER", False),
    810: ("BAD_PROTOCOL", False),
    811: ("LOGIN_FAILED", True),
    812: ("TOO_MANY_FAILURES", False),
    813: ("BAD_AUTH_TYPE", False),
    820: ("NO_SUCH_USER", False),
    821: ("NOT_PERMITTED", False),
    822: ("DECLINED", False),
    830: ("RATE_LIMITED", False),
    850: ("TOO_LARGE", False),
    890: ("SERVER_ERROR", False),
}


@pytest.mark.parametrize("code", sorted(IMIP_MD_TABLE))
def test_every_code_present(code: int) -> None:
    name, observed = IMIP_MD_TABLE[code]
    status = status_of(code)
    assert status.name == name
    assert status == code and int(status) == code
    assert str(int(status)) == str(code)
    assert status.meaning
    assert status.observed is observed
    assert status.is_error is (code >= 800)


def test_no_code_beyond_the_table() -> None:
    assert sorted(int(status) for status in Status) == sorted(IMIP_MD_TABLE)


def test_meanings_follow_imip_md() -> None:
    assert Status.OK.meaning == "OK"
    assert Status.MALFORMED.meaning == "malformed block"
    assert Status.UNKNOWN_TYPE.meaning == "unknown block type"
    assert Status.TOO_LARGE.meaning == "block or body too large"
    assert Status.LOGIN_FAILED.meaning == "login failed: wrong user or password"
    assert Status.SERVER_ERROR.meaning.startswith("server error")


def test_unknown_code() -> None:
    with pytest.raises(ValueError):
        status_of(700)
