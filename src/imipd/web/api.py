"""``/api/``: a small JSON admin API for operators and their scripts.

It does what ``imipd user`` does (through the same ``core.accounts``, so the
rules cannot differ) plus what only a running server knows: the live sessions.
Every request needs ``Authorization: Bearer <admin_token>``; with no token
configured the API does not exist (404), a wrong or missing token is 401.

    GET    /api/users                    every account
    POST   /api/users                    {"name"?, "password", "nick"?} → 201
    GET    /api/users/{name}             one account
    DELETE /api/users/{name}             delete it; its live session is dropped
    PUT    /api/users/{name}/password    {"password"}; the live session is dropped
    GET    /api/sessions                 the live sessions
    DELETE /api/sessions/{name}          drop a user's session (?reason=...)

Errors are ``{"error": "..."}`` with 400, 401, 404 or 409.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..core import accounts
from ..protocol import reasons
from ..store import Account, AccountSummary, name_key
from .context import WebContext, client_address, context

log = logging.getLogger("imipd.web.api")

MAX_REASON = 200
"""Longest reason sent in the DISC of a dropped session."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def _authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = context(request).settings.admin_token
    if not token:
        return _error(404, "not found")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        log.info("admin API: refused %s %s from %s (bad token)", request.method,
                 request.path, client_address(request))
        return _error(401, "a valid bearer token is needed",
                      {"WWW-Authenticate": 'Bearer realm="imipd admin"'})
    try:
        response = await handler(request)
    except web.HTTPException as error:
        if error.status >= 400:
            return _error(error.status, error.reason.lower())
        raise
    except accounts.NoSuchAccount as error:
        return _error(404, str(error))
    except accounts.AccountExists as error:
        return _error(409, str(error))
    except accounts.AccountError as error:
        return _error(400, str(error))
    response.headers["Cache-Control"] = "no-store"
    return response


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise accounts.InvalidAccount("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise accounts.InvalidAccount("the body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise accounts.InvalidAccount(f"{key!r} must be a string")
    return value


def _drop(ctx: WebContext) -> accounts.DropSessions:
    return ctx.service.kick


def _account_json(summary: AccountSummary, online: frozenset[str]) -> dict[str, Any]:
    return {"name": summary.name, "nick": summary.nick, "waiting": summary.waiting,
            "created_at": summary.created_at, "online": name_key(summary.name) in online}


def _online(ctx: WebContext) -> frozenset[str]:
    """Keys of the users with a live session on this node."""
    return frozenset(name_key(info.name) for info in ctx.service.router.sessions())


def _created_json(account: Account) -> dict[str, Any]:
    return {"name": account.name, "nick": account.nick, "created_at": account.created_at}


async def list_users(request: web.Request) -> web.Response:
    ctx = context(request)
    online = _online(ctx)
    users = [_account_json(s, online) for s in await accounts.summaries(ctx.service.store)]
    return web.json_response({"users": users})


async def create_user(request: web.Request) -> web.Response:
    """Create a named account, or a numbered one (as sign-up does) when no name is given."""
    ctx = context(request)
    data = await _json_object(request)
    name = _text(data, "name", required=False)
    password = _text(data, "password", required=True)
    nick = _text(data, "nick", required=False)
    assert password is not None
    store = ctx.service.store
    if name is None:
        account = await accounts.create_numbered(store, password, nick or "",
                                                 ctx.settings.first_number,
                                                 min_length=ctx.settings.min_password_length)
    else:
        account = await accounts.create(store, name, password, nick,
                                        min_length=ctx.settings.min_password_length)
    log.info("admin API: created %s (from %s)", account.name, client_address(request))
    return web.json_response(_created_json(account), status=201)


async def get_user(request: web.Request) -> web.Response:
    ctx = context(request)
    summary = await accounts.summary(ctx.service.store, request.match_info["name"])
    return web.json_response(_account_json(summary, _online(ctx)))


async def delete_user(request: web.Request) -> web.Response:
    ctx = context(request)
    name = request.match_info["name"]
    dropped = await accounts.delete(ctx.service.store, name, _drop(ctx))
    log.info("admin API: deleted %s (from %s)", name, client_address(request))
    return web.json_response({"deleted": name, "sessions_dropped": dropped or 0})


async def set_password(request: web.Request) -> web.Response:
    ctx = context(request)
    name = request.match_info["name"]
    password = _text(await _json_object(request), "password", required=True)
    assert password is not None
    dropped = await accounts.set_password(ctx.service.store, name, password, _drop(ctx),
                                          min_length=ctx.settings.min_password_length)
    log.info("admin API: changed the password of %s (from %s)", name, client_address(request))
    return web.json_response({"name": name, "sessions_dropped": dropped or 0})


async def list_sessions(request: web.Request) -> web.Response:
    ctx = context(request)
    sessions = [{
        "name": info.name,
        "nick": info.nick,
        "online": info.online,
        "presence": info.presence,
        "peer": info.origin,
        "connection": info.connection,
    } for info in ctx.service.router.sessions()]
    return web.json_response({"sessions": sorted(sessions, key=lambda s: str(s["name"]).lower())})


async def kick_session(request: web.Request) -> web.Response:
    ctx = context(request)
    name = request.match_info["name"]
    reason = request.query.get("reason", "").strip() or reasons.OPERATOR
    reason = "".join(ch for ch in reason if ch >= " ")[:MAX_REASON]
    dropped = await ctx.service.kick(name_key(name), reason)
    if not dropped:
        raise accounts.NoSuchAccount(f"{name} has no live session")
    log.info("admin API: dropped the session of %s (from %s)", name, client_address(request))
    return web.json_response({"name": name, "sessions_dropped": dropped})


def application() -> web.Application:
    """The API as a sub-application (mounted at ``/api/``), behind its token check."""
    api = web.Application(middlewares=[_authorize])
    api.add_routes([
        web.get("/users", list_users),
        web.post("/users", create_user),
        web.get("/users/{name}", get_user),
        web.delete("/users/{name}", delete_user),
        web.put("/users/{name}/password", set_password),
        web.get("/sessions", list_sessions),
        web.delete("/sessions/{name}", kick_session),
    ])
    return api

