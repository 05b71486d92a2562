"""Durable state behind one interface: accounts, contacts, requests, stored messages.

``Store`` is the interface (a ``typing.Protocol``); ``sqlite`` is the embedded
default. Nothing here knows about sockets or the meaning of blocks.
"""

from .base import (
    Accepted,
    Account,
    AccountSummary,
    Asked,
    BlockChange,
    BlockedEntry,
    ContactEntry,
    Credentials,
    Granted,
    InFlight,
    Journal,
    KeptMessage,
    PendingRequest,
    SchemaError,
    Snapshot,
    Store,
    StoredMessage,
    Unavailable,
    UserExists,
    WatchState,
    name_key,
)

__all__ = [
    "Accepted",
    "Account",
    "AccountSummary",
    "Asked",
    "BlockChange",
    "BlockedEntry",
    "ContactEntry",
    "Credentials",
    "Granted",
    "InFlight",
    "Journal",
    "KeptMessage",
    "PendingRequest",
    "SchemaError",
    "Snapshot",
    "Store",
    "StoredMessage",
    "Unavailable",
    "UserExists",
    "WatchState",
    "name_key",
]
