"""The IMIP wire format, sans-IO: bytes in, blocks out; blocks in, bytes out.

Nothing here touches a socket, the event loop or storage (like h11). The public
names are listed in ``__all__``; the modules behind them are private.
"""

from . import headers, reasons
from ._auth import AUTH_TYPE, DigestOrder, digest, new_challenge, verify
from ._block import Block, has_control, is_valid_header_name, message_bytes, serialize
from ._errors import ProtocolError
from ._limits import KIB, Limits
from ._parser import END, NEED_DATA, Parser, Signal, parse_all
from ._status import Status
from ._words import ascii_lower, ascii_upper

__all__ = [
    "AUTH_TYPE",
    "END",
    "KIB",
    "NEED_DATA",
    "Block",
    "DigestOrder",
    "Limits",
    "Parser",
    "ProtocolError",
    "Signal",
    "Status",
    "ascii_lower",
    "ascii_upper",
    "digest",
    "has_control",
    "headers",
    "is_valid_header_name",
    "message_bytes",
    "new_challenge",
    "parse_all",
    "reasons",
    "serialize",
    "verify",
]
