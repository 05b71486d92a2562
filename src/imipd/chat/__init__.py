"""imipd.chat: the full-screen terminal client of ``imip chat``, built on Textual.

It is a package of its own, beside ``imipd.client`` rather than inside it, so that
the client library stays free of any UI dependency: programs that only need the
protocol import ``imipd.client`` and never load Textual. This package holds no
protocol logic; it renders a roster fed by the library's events.
"""

from .app import ChatApp
from .roster import Line, Person, Roster

__all__ = ["ChatApp", "Line", "Person", "Roster"]
