"""imipd: an open implementation of IMIP, the IMUnified instant messaging protocol.

The package holds the server (``imipd``) and the client side (``imip``); see
``docs/`` for the protocol, configuration and operations.
"""

__version__ = "0.1.0"
