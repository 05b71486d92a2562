"""What the kernel knows of a TCP connection that asyncio does not tell: how many of the
bytes written the peer's TCP has not acknowledged yet.

Linux answers with ``SIOCOUTQ`` (the bytes in the send queue, sent or not, that the
peer has not acknowledged) and ``TCP_INFO`` (the connection's state: after a reset the
queue is emptied without the peer having anything, so an empty queue then proves
nothing). Elsewhere the answer is unknown (None), and imipd counts nothing as
acknowledged that it cannot prove.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios

_SIOCOUTQ = getattr(termios, "TIOCOUTQ", None)  # the same request as SIOCOUTQ on Linux
_TCP_INFO = getattr(socket, "TCP_INFO", None)
_TCP_CLOSE = 7
"""``tcpi_state`` of a connection that is gone (reset, or closed and done)."""


def unacknowledged(sock: socket.socket | None) -> int | None:
    """Bytes written to ``sock`` that the peer's TCP has not acknowledged; None when that
    cannot be known (no such request here, a closed socket, a reset connection)."""
    if sock is None or _SIOCOUTQ is None:
        return None
    try:
        fd = sock.fileno()
        if _TCP_INFO is not None and sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 1)[0] == (
                _TCP_CLOSE):
            return None
        (count,) = struct.unpack("i", fcntl.ioctl(fd, _SIOCOUTQ, b"\0\0\0\0"))
    except (OSError, ValueError):
        return None
    return int(count)
