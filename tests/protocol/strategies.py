"""Hypothesis strategies for valid blocks, streams and garbage."""

from __future__ import annotations

from hypothesis import strategies as st

from imipd.protocol import Block, ascii_lower, ascii_upper

# Any character but surrogates (they cannot be written as UTF-8) and controls.
_PRINTABLE = st.characters(exclude_categories=["Cs"], min_codepoint=0x21, exclude_characters="\x7f")

verbs = st.one_of(
    st.sampled_from(["HELO", "LOGN", "STAT", "LIST", "MESG", "PING", "DISC", "ACK"]),
    st.text(_PRINTABLE, min_size=1, max_size=8)
    .map(ascii_upper),
)

args = st.text(_PRINTABLE, min_size=1, max_size=10)

header_names = st.one_of(
    st.sampled_from(["ID", "Reference", "From", "To", "ACK-Type", "List", "id", "to"]),
    st.text(
        st.characters(exclude_categories=["Cs"], min_codepoint=0x21, exclude_characters=":\x7f"),
        min_size=1,
        max_size=16,
    ),
)

_VALUE_CHAR = st.one_of(
    st.sampled_from(" \t\x85\xa0\u3000"),  # white space, C1 NEL included
    st.characters(exclude_categories=["Cs", "Cc"]),
    st.characters(min_codepoint=0x80, max_codepoint=0x9F),  # C1 controls are allowed
)
header_values = st.text(_VALUE_CHAR, max_size=30).map(str.strip)

headers = st.lists(
    st.tuples(header_names, header_values), max_size=8, unique_by=lambda item: ascii_lower(item[0])
).map(tuple)

bodies = st.one_of(
    st.binary(max_size=256),
    st.lists(
        st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"\xff\xfe", b"\x00", b"x", b" "]),
        max_size=40,
    ).map(lambda parts: b"".join(parts)[:256]),
    st.text(max_size=60).map(lambda text: text.encode("utf-8", "surrogatepass")[:256]),
)


@st.composite
def blocks(draw: st.DrawFn) -> Block:
    """Any valid block within the default limits."""
    return Block(
        draw(verbs),
        tuple(draw(st.lists(args, max_size=5))),
        draw(headers),
        draw(bodies),
        draw(st.booleans()),
    )


def as_parsed(block: Block, *, sort_headers: bool = False) -> Block:
    """What parsing ``block.to_bytes(sort_headers=...)`` gives back."""
    fields = list(block.headers)
    if sort_headers:
        fields.sort(key=lambda item: ascii_lower(item[0]))
    return Block(
        block.verb, block.args, tuple(fields), block.body, block.empty_line or bool(block.body)
    )


line_endings_before = st.sampled_from([b"", b"", b"", b"\r\n", b"\n", b"\r\n\n"])

_ATOMS = st.sampled_from(
    [
        b"\r\n",
        b"\n",
        b"\r",
        b" ",
        b"  ",
        b":",
        b": ",
        b"ID: 1",
        b"ID",
        b"MESG",
        b"mesg",
        b"STAT",
        b"LIST ADD",
        b"LIST",
        b"PING",
        b"ACK 600",
        b"0",
        b"00",
        b"1",
        b"7",
        b"9",
        b"12",
        b"65536",
        b"99999999",
        b"\xff",
        b"\xc3",
        b"\x00",
        b"\t",
        b"\x7f",
        b"x",
        "ü".encode(),
    ]
)
garbage = st.one_of(
    st.binary(max_size=400),
    st.lists(st.one_of(_ATOMS, _ATOMS, st.binary(max_size=4)), max_size=80).map(b"".join),
)


_EOL = st.sampled_from([b"\r\n", b"\n", b"\r", b""])


@st.composite
def near_blocks(draw: st.DrawFn) -> bytes:
    """Bytes shaped almost like a block, to reach every state of the parser."""
    type_line = draw(
        st.one_of(
            st.sampled_from(
                [b"MESG", b"STAT AWAY", b"LIST ADD x", b"list add", b"PING", b"", b" "]
            ),
            st.binary(max_size=20),
        )
    )
    content = b"".join(
        draw(st.sampled_from([b"ID: 1", b"ID: 2", b"id:1", b"X", b":", b"A: \x01", b"\xff: x"]))
        + draw(_EOL)
        for _ in range(draw(st.integers(0, 6)))
    )
    if draw(st.booleans()):
        content += draw(_EOL) + draw(st.binary(max_size=40))
    true_size = b"%d" % len(content)
    size = draw(
        st.one_of(
            st.just(true_size),
            st.just(true_size),
            st.integers(0, 200).map(lambda n: b"%d" % n),
            st.sampled_from([b"", b"0", b"00012", b"999999x", b"99999x", b"1x", b"9" * 50]),
            st.binary(max_size=8),
        )
    )
    return type_line + draw(_EOL) + size + draw(_EOL) + content


near_streams = st.lists(st.one_of(near_blocks(), garbage), min_size=1, max_size=4).map(b"".join)


_PAD = st.sampled_from([b"", b"", b" ", b"\t", b"  \t"])
_ASCII_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12).map(
    str.encode
)


@st.composite
def ascii_blocks(draw: st.DrawFn) -> bytes:
    """Blocks in plain ASCII with white space around names and values, in the shapes
    the parser's fast path takes (and a few it must hand over): both against the
    state machine alone."""
    type_line = draw(st.sampled_from([b"MESG", b"STAT AWAY", b"LIST  ADD x", b"ack 600", b" PING"]))
    lines = b""
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.sampled_from([b"ID", b"To", b"to", b"ACK-Type", b"X-A;b", b"a:b", b""]))
        value = draw(st.one_of(_ASCII_VALUE, st.sampled_from([b"1", b"bob", b"a \t b", b"x\x01"])))
        lines += draw(_PAD) + name + draw(_PAD) + b":" + draw(_PAD) + value + draw(_PAD)
        lines += draw(st.sampled_from([b"\r\n", b"\n", b"\r\n", b"\r"]))
    content = lines + draw(st.sampled_from([b"", b"\r\n", b"\n"])) + draw(st.binary(max_size=20))
    size = len(content) + draw(st.sampled_from([0, 0, 0, -1, 1]))
    return type_line + b"\r\n" + b"%d" % max(size, 0) + b"\r\n" + content
