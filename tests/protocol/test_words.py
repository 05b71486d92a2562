"""Protocol words match in ASCII case only (docs/protocol.md §2.3): no Unicode case mapping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imipd.protocol import Block, ProtocolError, Status, ascii_lower, ascii_upper, parse_all

# Characters whose Unicode case mapping lands on an ASCII letter, and their kin.
TRICKY = "\u0131\u0130\u017f\u212a\u212b\ufb00\ufb01\u1e9e\u00df\u0345\u03c2\u1fbe"


@given(st.text())
def test_only_ascii_letters_change_case(text: str) -> None:
    upper, lower = ascii_upper(text), ascii_lower(text)
    assert len(upper) == len(lower) == len(text)
    for original, up, low in zip(text, upper, lower, strict=True):
        if "a" <= original <= "z" or "A" <= original <= "Z":
            assert (up, low) == (original.upper(), original.lower())
        else:
            assert up == low == original


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_text_is_mapped_as_str_does(text: str) -> None:
    assert (ascii_upper(text), ascii_lower(text)) == (text.upper(), text.lower())


@pytest.mark.parametrize("char", TRICKY)
def test_no_character_maps_onto_a_word(char: str) -> None:
    for word in ("PING", "DISC", "STAT", "ONLINE", "BLOCK", "KATE", "ACK-TYPE"):
        spelled = word.replace(word[1], char, 1)
        assert ascii_upper(spelled) != word
        assert ascii_lower(spelled) != word.lower()


@pytest.mark.parametrize("verb", ["p\u0131ng", "d\u0131sc", "\u017ftat", "S\u0130GN"])
def test_a_verb_with_a_non_ascii_letter_is_not_a_known_verb(verb: str) -> None:
    raw = verb.encode() + b"\r\n7\r\nID: 1\r\n"
    (block,) = parse_all(raw)
    assert block.verb == ascii_upper(verb)
    assert block.verb not in ("PING", "DISC", "STAT", "SIGN")


def test_a_header_name_with_a_kelvin_sign_is_another_header() -> None:
    raw = "MESG\r\n37\r\nID: 1\r\nAC\u212a-Type: always\r\n".encode()
    raw = raw.replace(b"37", b"%d" % (len(raw.split(b"\r\n", 2)[2])), 1)
    (block,) = parse_all(raw)
    assert block.header("ACK-Type") is None
    assert block.header("AC\u212a-TYPE") == "always"


def test_a_block_verb_must_be_ascii_upper_case() -> None:
    Block("P\u0131NG")  # upper case as far as ASCII goes
    with pytest.raises(ValueError):
        Block("Ping")


def test_list_add_text_limit_needs_ascii_add() -> None:
    body = b"x" * 2000
    raw = b"LIST \xc3\xa4DD bob\r\n%d\r\nID: 1\r\n\r\n%s" % (len(body) + 9, body)
    (block,) = parse_all(raw)  # not LIST ADD: only the block size applies
    assert block.args[0] == "\u00e4DD"
    with pytest.raises(ProtocolError) as caught:
        parse_all(b"LIST add bob\r\n%d\r\nID: 1\r\n\r\n%s" % (len(body) + 9, body))
    assert caught.value.status is Status.TOO_LARGE
