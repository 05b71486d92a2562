"""Account rules and operations, shared by ``imipd user`` and the web side.

The command line, the JSON admin API and the registration page must agree on
what a valid account is and on what follows a change (a deleted account or a
new password drops the user's live session). So the rules and the operations
live here, once, over the ``Store`` interface; each caller only turns an
``AccountError`` into its own kind of answer (a CLI message, an HTTP status).

How a live session is dropped depends on where the caller runs: the CLI asks a
running server through its control socket, the web side calls ``Service.kick``.
Operations therefore take a ``DropSessions`` callable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..protocol import reasons
from ..store import Account, AccountSummary, Store, UserExists, name_key
from .names import valid_nick, valid_user_name

MAX_PASSWORD = 128
"""Longest password, in characters (every way of setting one)."""
MIN_PASSWORD_LENGTH = 6
"""Default of the ``min_password_length`` option: the shortest password, in characters."""

DropSessions = Callable[[str, str], Awaitable[int | None]]
"""``(user key, reason) → sessions dropped``; None when no running server could be told."""


class AccountError(Exception):
    """An account operation the rules refuse; the message is for people."""


class InvalidAccount(AccountError):
    """A name, nickname or password breaks the rules."""


class AccountExists(AccountError):
    """The name is taken (in any casing)."""


class NoSuchAccount(AccountError):
    """No account has this name."""


# -- the rules ------------------------------------------------------------------


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a user name, or None."""
    if valid_user_name(name):
        return None
    return f"invalid user name {name!r}: 1-64 characters of A-Z a-z 0-9 . _ -"


def nick_problem(nick: str) -> str | None:
    """Why ``nick`` cannot be a nickname, or None."""
    if valid_nick(nick):
        return None
    return f"invalid nickname {nick!r}: 1-64 characters, no \" and no control characters"


def password_problem(password: str, nick: str | None = None, *,
                     min_length: int = MIN_PASSWORD_LENGTH) -> str | None:
    """Why ``password`` cannot be set, or None: the one password rule of every way an
    account is made or its password changed (``imipd user``, the admin API, the sign-up
    page). At least ``min_length`` characters (the ``min_password_length`` option), at most
    ``MAX_PASSWORD``, no control characters, and not the nickname ``nick`` in any casing."""
    if len(password) < min_length:
        return f"the password needs at least {min_length} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password may have at most {MAX_PASSWORD} characters"
    if any(ch < " " or ch == "\x7f" for ch in password):
        return "the password may not contain control characters"
    if nick and password.casefold() == nick.casefold():
        return "the password may not be the nickname"
    return None


@dataclass(frozen=True, slots=True)
class SignupProblems:
    """What is wrong with a sign-up form, per field; all None when it may go ahead."""

    nick: str | None = None
    password: str | None = None
    again: str | None = None

    def __bool__(self) -> bool:
        return any((self.nick, self.password, self.again))


def signup_problems(nick: str, password: str, again: str, *,
                    min_length: int = MIN_PASSWORD_LENGTH) -> SignupProblems:
    """The sign-up form's problems; the password rule is ``password_problem``'s."""
    nick_text: str | None = None
    if not nick:
        nick_text = "Enter a nickname."
    elif len(nick) > 64:
        nick_text = "The nickname is longer than 64 characters."
    elif not valid_nick(nick):
        nick_text = "The nickname may not contain \" or control characters."
    problem = password_problem(password, nick, min_length=min_length)
    password_text = None if problem is None else problem[0].upper() + problem[1:] + "."
    again_text = None if password == again else "The two passwords differ."
    return SignupProblems(nick_text, password_text, again_text)


def _check(*problems: str | None) -> None:
    for problem in problems:
        if problem is not None:
            raise InvalidAccount(problem)


def check_new(name: str, password: str, nick: str | None = None, *,
              min_length: int = MIN_PASSWORD_LENGTH) -> None:
    """Raise ``InvalidAccount`` unless ``create`` would accept these values."""
    nick = name if nick is None else nick
    _check(name_problem(name), nick_problem(nick),
           password_problem(password, nick, min_length=min_length))


def check_password(password: str, nick: str | None = None, *,
                   min_length: int = MIN_PASSWORD_LENGTH) -> None:
    """Raise ``InvalidAccount`` unless ``password`` may be set (for the nickname ``nick``)."""
    _check(password_problem(password, nick, min_length=min_length))


# -- the operations -------------------------------------------------------------


async def create(store: Store, name: str, password: str, nick: str | None = None, *,
                 min_length: int = MIN_PASSWORD_LENGTH) -> Account:
    """Create the account ``name`` (nickname: the name unless given); ``min_length`` is the
    ``min_password_length`` option.

    Raises ``InvalidAccount``, ``AccountExists``."""
    check_new(name, password, nick, min_length=min_length)
    try:
        return await store.create_user(name, password, name if nick is None else nick)
    except UserExists:
        raise AccountExists(f"user {name} already exists") from None


async def create_numbered(store: Store, password: str, nick: str, first: int, *,
                          min_length: int = MIN_PASSWORD_LENGTH) -> Account:
    """Create an account named by the next free number from ``first``.

    Raises ``InvalidAccount``."""
    _check(nick_problem(nick), password_problem(password, nick, min_length=min_length))
    return await store.create_numbered_user(password, nick, first)


async def set_password(store: Store, name: str, password: str, drop: DropSessions, *,
                       min_length: int = MIN_PASSWORD_LENGTH) -> int | None:
    """Change ``name``'s password, then drop their live session; returns what ``drop`` did.

    Raises ``InvalidAccount``, ``NoSuchAccount``."""
    check_password(password, min_length=min_length)
    account = await store.get_user(name) if valid_user_name(name) else None
    if account is None:
        raise NoSuchAccount(f"no such user {name}")
    check_password(password, account.nick, min_length=min_length)
    if not await store.set_password(name, password):
        raise NoSuchAccount(f"no such user {name}")
    return await drop(name_key(name), reasons.PASSWORD_CHANGED)


async def delete(store: Store, name: str, drop: DropSessions) -> int | None:
    """Delete ``name`` with their contacts and waiting messages, then drop their live session.

    Raises ``NoSuchAccount``."""
    if not await store.delete_user(name):
        raise NoSuchAccount(f"no such user {name}")
    return await drop(name_key(name), reasons.ACCOUNT_DELETED)


async def summaries(store: Store) -> list[AccountSummary]:
    """Every account with its count of waiting messages, ordered by key."""
    return await store.account_summaries()


async def summary(store: Store, name: str) -> AccountSummary:
    """One account's summary. Raises ``NoSuchAccount``."""
    found = await store.account_summary(name) if valid_user_name(name) else None
    if found is None:
        raise NoSuchAccount(f"no such user {name}")
    return found
