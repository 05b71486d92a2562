"""The Block value type validates when built, so the serializer can trust it."""

from __future__ import annotations

import dataclasses

import pytest

from imipd.protocol import Block, has_control, is_valid_header_name


@pytest.mark.parametrize("verb", ["", "helo", "Helo", "HE LO", "HE\tLO", "HELO\r", "A\x7f", "A:\n"])
def test_invalid_verb(verb: str) -> None:
    with pytest.raises(ValueError):
        Block(verb)


@pytest.mark.parametrize("verb", ["HELO", "X-CUSTOM", "LIST", "ÄÖÜ", "123"])
def test_valid_verb(verb: str) -> None:
    assert Block(verb).verb == verb


@pytest.mark.parametrize("arg", ["", "a b", "a\tb", "a\r", "a\nb", "\x00", "x\x7f"])
def test_invalid_argument(arg: str) -> None:
    with pytest.raises(ValueError):
        Block("STAT", (arg,))


@pytest.mark.parametrize("name", ["", "A B", "A:B", ":", "A\t", "A\r", "\x00", " ID", "ID "])
def test_invalid_header_name(name: str) -> None:
    assert not is_valid_header_name(name)
    with pytest.raises(ValueError):
        Block("PING", (), ((name, "1"),))


@pytest.mark.parametrize(
    "value", ["a\r\nb", "a\nb", "a\rb", "\x00", "a\x1b[0m", "\x7f", " a", "a ", "\ta", "a\t"]
)
def test_invalid_header_value(value: str) -> None:
    with pytest.raises(ValueError):
        Block("PING", (), (("X", value),))


def test_valid_header_values() -> None:
    block = Block("PING", (), (("X", ""), ("Y", "a\tb"), ("Z", "ü ü")))
    assert block.header("y") == "a\tb"


def test_body_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        Block("MESG", (), (), "text")  # type: ignore[arg-type]


def test_has_control() -> None:
    assert has_control("a\x00")
    assert has_control("\x1f")
    assert has_control("\x7f")
    assert not has_control("a\tb")
    assert not has_control("ü €")


def test_frozen_and_slotted() -> None:
    block = Block("PING")
    with pytest.raises(dataclasses.FrozenInstanceError):
        block.verb = "DISC"  # type: ignore[misc]
    assert not hasattr(block, "__dict__")


def test_header_lookup_first_match_and_with_headers() -> None:
    block = Block("MESG", (), (("To", "bob"),)).with_headers(("ID", "5"))
    assert block.headers == (("To", "bob"), ("ID", "5"))
    assert block.header("id") == "5"
    assert block.header("nope") is None


def test_type_line() -> None:
    assert Block("LIST", ("ADD", "1000099")).type_line == "LIST ADD 1000099"
    assert Block("PING").type_line == "PING"
