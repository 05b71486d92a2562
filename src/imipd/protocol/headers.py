"""Header names of IMIP, written once (values as the Odigo server spelled them)."""

from __future__ import annotations

ACK_TYPE = "ACK-Type"
AUTH_TYPE = "Auth-Type"
CAPABILITIES = "Capabilities"
CLIENT = "Client"
DATE = "Date"
FROM = "From"
ID = "ID"
KEEP_ALIVE = "Keep-Alive"
LIST = "List"
PROTOCOL = "Protocol"
REFERENCE = "Reference"
REGISTRATION = "Registration"
SERVICE = "Service"
SERVICE_DISPLAY_NAME = "ServiceDisplayName"
TO = "To"

PROTOCOL_VERSION = "IMIP/1.0"

# Keys of ``Block.header_map`` (names in lower case) for the headers of every message.
ID_KEY = "id"
TO_KEY = "to"
ACK_TYPE_KEY = "ack-type"
