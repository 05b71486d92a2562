"""``HOST:PORT`` as people type it, with IMIP's port as the default."""

from __future__ import annotations

import ipaddress

DEFAULT_PORT = 11319
"""The port IMIP servers listen on (docs/protocol.md §1)."""


def parse_server(text: str) -> tuple[str, int]:
    """``example.org``, ``example.org:11319``, ``[::1]:11319`` → (host, port).

    Raises ``ValueError`` with a message for people.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty server address")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad server address {text!r}: expected [IPv6]:PORT")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif ":" in text:
        host, port_text = text, ""  # a bare IPv6 address
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"bad server address {text!r}: expected HOST:PORT, or "
                             "[IPv6]:PORT") from None
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"bad server address {text!r}: no host")
    if any(ch.isspace() or not ch.isprintable() for ch in host):
        raise ValueError(f"bad server address {text!r}: a host name has no spaces")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad server address {text!r}: the port must be 1-65535")
    return host, int(port_text)
