"""Signing in: the password check, the failed-login throttle, and taking over a session
left open elsewhere (docs/protocol.md §4.2)."""

from __future__ import annotations

from collections.abc import Callable

from ..protocol import reasons
from ..router import KickEvent
from ..store import Account
from .errors import LoginFailed, LoginThrottled
from .names import valid_user_name
from .service import Service
from .session import Outlet, Session


async def authenticate(service: Service, name: str, check: Callable[[str], bool],
                       origin: str) -> Account:
    """The account ``name`` if ``check`` accepts its password (a front's proof, such as an
    imip-md5 digest). Only here are passwords read.

    Raises ``LoginThrottled`` (too many failed logins from ``origin``: nothing checked) and
    ``LoginFailed`` (wrong user or password, counted against ``origin``). Waits while as many
    logins from ``origin`` are being checked as the failed-login limit allows."""
    throttle = service.throttle
    if not await throttle.begin(origin):
        raise LoginThrottled("too many failed logins from this address")
    failed = False
    try:
        credentials = await service.store.credentials(name) if valid_user_name(name) else None
        if credentials is None or not check(credentials.password):
            failed = True
            raise LoginFailed("wrong user or password")
        return credentials.account
    finally:
        throttle.end(origin, failed=failed)


async def start(service: Service, account: Account, outlet: Outlet, origin: str,
                conn_id: str) -> Session:
    """The user's new live session. One that was open elsewhere is told why and ends;
    the new one carries on what watchers were shown, so they see no gap."""
    session = Session(service, account, outlet, origin, conn_id)
    if await service.router.attach(account.key, session, KickEvent(reasons.REPLACED)):
        session.replaced_another()
        session.log.info("took over the session open elsewhere")
    return session
