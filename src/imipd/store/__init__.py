"""Durable state behind one interface: accounts, contacts, requests, stored messages.

``Store`` is the interface (a ``typing.Protocol``); ``sqlite`` is the embedded
default. Nothing here knows about sockets or the meaning of blocks.
"""

from .base import (
    Account,
    BlockedEntry,
    ContactEntry,
    PendingRequest,
    SchemaError,
    Store,
    StoredMessage,
    UserExists,
    WatchState,
    name_key,
)

__all__ = [
    "Account",
    "BlockedEntry",
    "ContactEntry",
    "PendingRequest",
    "SchemaError",
    "Store",
    "StoredMessage",
    "UserExists",
    "WatchState",
    "name_key",
]
