"""ONE table of (Block, bytes) pairs: it drives the parser and the serializer tests.

The first four rows are the worked examples of docs/protocol.md byte for byte.
"""

from __future__ import annotations

from typing import NamedTuple

from imipd.protocol import Block


class Example(NamedTuple):
    name: str
    block: Block
    wire: bytes


CLIENT_HELO = Example(
    "client HELO (docs/protocol.md §2.2, 29 bytes, empty line present)",
    Block("HELO", (), (("ID", "1"), ("Protocol", "IMIP/1.0")), b"", empty_line=True),
    b"HELO\r\n29\r\nID: 1\r\nProtocol: IMIP/1.0\r\n\r\n",
)
SERVER_ACK = Example(
    "server ACK 600 (docs/protocol.md §2.2, 21 bytes, no empty line)",
    Block("ACK", ("600",), (("ID", "3"), ("Reference", "3"))),
    b"ACK 600\r\n21\r\nID: 3\r\nReference: 3\r\n",
)
LOGN = Example(
    "LOGN (docs/protocol.md §4.2, 84 bytes)",
    Block(
        "LOGN",
        ("1000042",),
        (("ID", "2"), ("Client", "imip-cli 0.1"), ("Auth-Type", "imip-md5")),
        b"acf2b771b12e380f6001573415913b2e",
        empty_line=True,
    ),
    b"LOGN 1000042\r\n84\r\nID: 2\r\nClient: imip-cli 0.1\r\nAuth-Type: imip-md5\r\n\r\n"
    b"acf2b771b12e380f6001573415913b2e",
)
UTF8_MESG = Example(
    "MESG with the UTF-8 body 'Grüß dich!' (12 bytes)",
    Block("MESG", (), (("ID", "4"), ("To", "bob")), "Grüß dich!".encode(), empty_line=True),
    b"MESG\r\n30\r\nID: 4\r\nTo: bob\r\n\r\nGr\xc3\xbc\xc3\x9f dich!",
)
SERVER_HELO = Example(
    "server HELO (docs/protocol.md §4.1 table, headers sorted)",
    Block(
        "HELO",
        (),
        (
            ("Auth-Type", "imip-md5"),
            ("Capabilities", "server-lists"),
            ("ID", "1"),
            ("Keep-Alive", "60"),
            ("Protocol", "IMIP/1.0"),
            ("Registration", "http://127.0.0.1:8080/register"),
            ("Service", "example.org"),
            ("ServiceDisplayName", "Example IM"),
        ),
        b"2718281828",
        empty_line=True,
    ),
    b"HELO\r\n204\r\n"
    b"Auth-Type: imip-md5\r\n"
    b"Capabilities: server-lists\r\n"
    b"ID: 1\r\n"
    b"Keep-Alive: 60\r\n"
    b"Protocol: IMIP/1.0\r\n"
    b"Registration: http://127.0.0.1:8080/register\r\n"
    b"Service: example.org\r\n"
    b"ServiceDisplayName: Example IM\r\n"
    b"\r\n"
    b"2718281828",
)
SERVER_STAT = Example(
    "server STAT AWAY with a status text",
    Block("STAT", ("AWAY",), (("From", "1000099"), ("ID", "5")), b"lunch", empty_line=True),
    b"STAT AWAY\r\n29\r\nFrom: 1000099\r\nID: 5\r\n\r\nlunch",
)
LIST_ADD_IN = Example(
    "LIST ADD as the asked user receives it (non-ASCII nickname)",
    Block(
        "LIST",
        ("ADD",),
        (("From", '1000042 "Jürgen"'), ("ID", "6"), ("List", "Buddy")),
        b"may I?",
        empty_line=True,
    ),
    b'LIST ADD\r\n53\r\nFrom: 1000042 "J\xc3\xbcrgen"\r\nID: 6\r\nList: Buddy\r\n\r\nmay I?',
)
LIST_ANSWER = Example(
    "LIST answer: body lines ended by CR LF, and a blank line, kept as they are",
    Block(
        "LIST",
        (),
        (("ID", "8"), ("List", "Buddy"), ("Reference", "7")),
        b'1000099 "Bob" ONLINE\r\n\r\n1000100 "Eve" PENDING\r\n',
        empty_line=True,
    ),
    b"LIST\r\n83\r\nID: 8\r\nList: Buddy\r\nReference: 7\r\n\r\n"
    b'1000099 "Bob" ONLINE\r\n\r\n1000100 "Eve" PENDING\r\n',
)
BINARY_MESG = Example(
    "MESG with a body that is not UTF-8 and holds bare CR and LF",
    Block("MESG", (), (("ID", "9"),), b"\xff\xfe\x00\r\n\n\r", empty_line=True),
    b"MESG\r\n16\r\nID: 9\r\n\r\n\xff\xfe\x00\r\n\n\r",
)
BODY_ONLY = Example(
    "a body and no headers",
    Block("DISC", (), (), b"idle timeout", empty_line=True),
    b"DISC\r\n14\r\n\r\nidle timeout",
)
EMPTY_LINE_ONLY = Example(
    "headers and an empty line, written because empty_line is set",
    Block("DISC", (), (("ID", "7"),), b"", empty_line=True),
    b"DISC\r\n9\r\nID: 7\r\n\r\n",
)
NOTHING = Example(
    "a block of size 0",
    Block("PING"),
    b"PING\r\n0\r\n",
)
TAB_IN_VALUE = Example(
    "a header value with a TAB and a space inside",
    Block("MESG", (), (("ID", "10"), ("X-Note", "a\tb c")), b"x", empty_line=True),
    b"MESG\r\n26\r\nID: 10\r\nX-Note: a\tb c\r\n\r\nx",
)

EXAMPLES: list[Example] = [
    CLIENT_HELO,
    SERVER_ACK,
    LOGN,
    UTF8_MESG,
    SERVER_HELO,
    SERVER_STAT,
    LIST_ADD_IN,
    LIST_ANSWER,
    BINARY_MESG,
    BODY_ONLY,
    EMPTY_LINE_ONLY,
    NOTHING,
    TAB_IN_VALUE,
]
