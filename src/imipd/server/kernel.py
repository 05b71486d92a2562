"""What the kernel knows of a TCP connection that asyncio does not tell: how many of the
bytes written the peer's TCP has acknowledged, and whether input waits unread.

Linux answers the first with ``TCP_INFO``'s ``tcpi_bytes_acked`` (Linux ≥ 4.1): a count
that only grows, that the kernel keeps after the connection closed or was reset, and that
counts our FIN as one byte once the peer acknowledged it. So it is exact for as long as
the socket is open, whatever happened to the connection. The second is ``FIONREAD``.
A connection cut at once is closed with a reset (``SO_LINGER`` zero), so that the kernel
sends nothing more after what was counted.
Elsewhere the answers are unknown (None): imipd then counts nothing as acknowledged
that it cannot prove, and nothing as waiting.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import termios

_TCP_INFO = getattr(socket, "TCP_INFO", None)
_BYTES_ACKED = struct.Struct("=Q")
_BYTES_ACKED_AT = 120
"""Offset of ``tcpi_bytes_acked`` in ``struct tcp_info``."""
_INFO_SIZE = _BYTES_ACKED_AT + _BYTES_ACKED.size
_FIONREAD = getattr(termios, "FIONREAD", None)
_LINGER_NOT = struct.pack("ii", 1, 0)
"""``struct linger`` on, zero seconds: a close resets."""


def acknowledged(sock: socket.socket | None) -> int | None:
    """Bytes written to ``sock`` that the peer's TCP has acknowledged (our FIN counts as one
    more); None when that cannot be known (no such option here, a closed socket)."""
    if sock is None or _TCP_INFO is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _INFO_SIZE)
    except (OSError, ValueError):
        return None
    if len(info) < _INFO_SIZE:  # a kernel older than the field
        return None
    return int(_BYTES_ACKED.unpack_from(info, _BYTES_ACKED_AT)[0])


def reset_on_close(sock: socket.socket | None) -> None:
    """Make closing ``sock`` reset the connection: what its send queue holds is dropped,
    never sent after the close (a plain close sends it all, then a FIN)."""
    if sock is None:
        return
    with contextlib.suppress(OSError, ValueError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NOT)


def waiting(sock: socket.socket | None) -> int:
    """Bytes received on ``sock`` and not read yet (0 when that cannot be known)."""
    if sock is None or _FIONREAD is None:
        return 0
    try:
        (count,) = struct.unpack("i", fcntl.ioctl(sock.fileno(), _FIONREAD, b"\0\0\0\0"))
    except (OSError, ValueError):
        return 0
    return int(count)
