"""What the terminal client shows of its own session: one value, drawn in two places.

A person must never read ``alice: Online`` while the client is reconnecting or
signed out, nor lose the server's reason for ending the session. So the state, why
it is so and what the person can do about it live in one :class:`SessionState`;
the own-presence line shows its word, and a banner across the screen its sentence.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..client import Disconnected, ImipError, LoginFailed
from ..client.goodbyes import may_try_again
from ..client.wording import explain
from ..protocol import reasons

SIGN_IN_AGAIN = "F5 signs in again"


class State(enum.Enum):
    """The session's state."""

    CONNECTING = enum.auto()
    ONLINE = enum.auto()
    RECONNECTING = enum.auto()
    RETURNING = enum.auto()
    """Replaced by another login of the same user: signing in again shortly."""
    SIGNED_OUT = enum.auto()

    @property
    def word(self) -> str:
        """As the own-presence line says it."""
        return WORDS[self]


WORDS = {State.CONNECTING: "connecting…", State.ONLINE: "online",
         State.RECONNECTING: "reconnecting…", State.RETURNING: "signed out",
         State.SIGNED_OUT: "signed out"}


class F5(enum.Enum):
    """What F5 does once the session has ended."""

    NOTHING = "nothing"
    """Not offered: signing in cannot work (the account is gone)."""
    SIGN_IN = "sign in"
    NEW_PASSWORD = "ask for a password, then sign in"


SIGNED_OUT_BECAUSE: dict[str, tuple[str, str, F5]] = {
    reasons.REPLACED: ("you logged in from another place", "F5 signs in here again", F5.SIGN_IN),
    reasons.PASSWORD_CHANGED: ("your password was changed", "F5 signs in with the new one",
                               F5.NEW_PASSWORD),
    reasons.ACCOUNT_DELETED: ("your account was deleted", "", F5.NOTHING),
    reasons.OPERATOR: ("an operator disconnected you", SIGN_IN_AGAIN, F5.SIGN_IN),
}
"""For a server ``DISC`` that is not retried: why, what the person can do, and F5."""


@dataclass(frozen=True, slots=True)
class SessionState:
    """The state, why (for people), what can be done (empty: nothing), and what F5 does."""

    state: State
    why: str = ""
    hint: str = ""
    f5: F5 = F5.NOTHING

    @property
    def online(self) -> bool:
        return self.state is State.ONLINE

    @property
    def can_sign_in(self) -> bool:
        """Whether F5 is offered now."""
        return self.state is State.SIGNED_OUT and self.f5 is not F5.NOTHING

    def banner(self) -> str:
        """The sentence across the screen (empty when all is well)."""
        match self.state:
            case State.ONLINE:
                return ""
            case State.CONNECTING:
                return f"Connecting to {self.why}…"
            case State.RECONNECTING:
                return f"Connection lost ({self.why}). Reconnecting; nothing can be sent meanwhile."
            case _:
                ending = f" {self.hint[0].upper()}{self.hint[1:]}." if self.hint else ""
                return f"Signed out: {self.why}.{ending}"


def ended(event: Disconnected, *, server: str, user: str,
          back_in: float | None = None) -> SessionState:
    """The state after the client's last :class:`Disconnected` (no reconnect follows).

    Replaced by another login of the same user, the chat comes back after ``back_in``
    seconds (None: it does not, it was replaced again too soon).
    """
    if event.error is not None:
        # reconnecting was refused (a password changed while the server was down)
        return refused(event.error, server=server, user=user)
    said = (event.server_reason or "").lower()
    if said == reasons.REPLACED and back_in is not None:
        why, _, _ = SIGNED_OUT_BECAUSE[said]
        return SessionState(State.RETURNING, why, f"signing in here again in {back_in:g} s")
    if said in SIGNED_OUT_BECAUSE:
        return SessionState(State.SIGNED_OUT, *SIGNED_OUT_BECAUSE[said])
    if said and not may_try_again(said):
        return SessionState(State.SIGNED_OUT,
                            f"an operator disconnected you: {event.server_reason}",
                            SIGN_IN_AGAIN, F5.SIGN_IN)
    return SessionState(State.SIGNED_OUT, event.reason, SIGN_IN_AGAIN, F5.SIGN_IN)


def refused(error: ImipError, *, server: str, user: str) -> SessionState:
    """The state after signing in again failed, in the words of ``imip send``."""
    why = explain(error, server=server, user=user)[0]
    if isinstance(error, LoginFailed):
        return SessionState(State.SIGNED_OUT, why, "F5 signs in with another password",
                            F5.NEW_PASSWORD)
    return SessionState(State.SIGNED_OUT, why, SIGN_IN_AGAIN, F5.SIGN_IN)
