"""imipd.client: an asyncio IMIP client library for programs and the terminal client.

It speaks IMIP exactly as docs/protocol.md describes, over the sans-IO
``imipd.protocol`` layer, and nothing else of imipd (no server, no store, no UI)::

    import asyncio
    from imipd.client import MessageReceived, PermissionRequested, connect

    async def main() -> None:
        async with connect("localhost", 11319, "alice", "s3cret") as client:
            await client.set_presence("AWAY", "at lunch")      # now online to watchers
            print(await client.send_message("bob", "Hi Bob"))  # Delivery.DELIVERED or STORED
            async for event in client.events():
                match event:
                    case MessageReceived(sender=sender, text=text):
                        await client.send_message(sender, f"you said: {text}")
                    case PermissionRequested():
                        await client.grant(event)

    asyncio.run(main())

``connect`` greets, logs in (imip-md5), pings at the server's Keep-Alive, and says
``DISC`` on exit; ``connect(..., reconnect=Backoff())`` reconnects after a lost
connection (re-login, presence re-sent). Requests raise the typed errors of
``imipd.client.errors`` (all subclasses of :class:`ImipError`, with ``.status`` and
``.reason``). See docs/client.md.
"""

from .backoff import Backoff
from .client import CLIENT_NAME, Client
from .errors import (
    ConnectFailed,
    ConnectionClosed,
    Declined,
    ImipError,
    LoginFailed,
    NoSuchUser,
    NotPermitted,
    RateLimited,
    RequestRejected,
    RequestTimeout,
    ServerError,
    TooLarge,
    UnsupportedProtocol,
    error_for,
)
from .events import (
    Disconnected,
    Event,
    MessageReceived,
    PermissionRequested,
    PresenceChanged,
    Reconnected,
)
from .server_address import DEFAULT_PORT, parse_server
from .values import AckType, BlockedUser, Contact, Delivery, Presence, ServerInfo

__all__ = [
    "CLIENT_NAME",
    "DEFAULT_PORT",
    "AckType",
    "Backoff",
    "BlockedUser",
    "Client",
    "ConnectFailed",
    "ConnectionClosed",
    "Contact",
    "Declined",
    "Delivery",
    "Disconnected",
    "Event",
    "ImipError",
    "LoginFailed",
    "MessageReceived",
    "NoSuchUser",
    "NotPermitted",
    "PermissionRequested",
    "Presence",
    "PresenceChanged",
    "RateLimited",
    "Reconnected",
    "RequestRejected",
    "RequestTimeout",
    "ServerError",
    "ServerInfo",
    "TooLarge",
    "UnsupportedProtocol",
    "connect",
    "error_for",
    "parse_server",
]


def connect(host: str, port: int, user: str, password: str, *,
            presence: Presence | str | None = None, status_text: str = "",
            reconnect: Backoff | None = None, keep_alive: bool = True,
            timeout: float = 15.0, client_name: str = CLIENT_NAME) -> Client:
    """A :class:`Client` to use as ``async with connect(...) as client`` (or call
    ``await client.open()`` / ``await client.close()`` yourself).

    ``presence`` (with ``status_text``) is set right after login; without it the
    session is logged in but not online (messages to the user are still stored,
    which suits a program that only sends). ``reconnect`` enables reconnecting with
    that backoff; ``keep_alive`` sends ``PING`` at the server's Keep-Alive;
    ``timeout`` bounds connecting and each request, in seconds.
    """
    return Client(host, port, user, password, presence=presence, status_text=status_text,
                  reconnect=reconnect, keep_alive=keep_alive, timeout=timeout,
                  client_name=client_name)
