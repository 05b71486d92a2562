"""``/register``: the page HELO's ``Registration`` header points people to.

A person picks a nickname and a password and gets an account *number*, as on
Odigo, and is told how to connect. The form works without JavaScript, and
every refusal is a page that says what to do: a wrong field (400), a stale or
forged form (403, CSRF), too many sign-ups from one address (429), sign-up
switched off (the page says so; a POST gets 403).

Post/Redirect/Get: a sign-up answers ``303 See Other`` to
``register?welcome=<number>``, and the welcome page is that GET, so reloading it
never posts the form again. The POST leaves a receipt (``csrf.RECEIPTS``)
mapping the form's token to the account it created: the same form sent again
(a resubmitted POST, back and submit) is redirected to the same welcome page
and creates nothing. The welcome page is shown only to a browser holding the
receipt of that account.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp import web

from ..core import accounts
from ..store import Account
from . import csrf
from .context import WebContext, client_address, context, is_https
from .pages import esc, message_page, page

log = logging.getLogger("imipd.web")

FORM_PATH = ""
"""The form posts to the page's own address (so it works under a proxy's path prefix)."""


def _title(ctx: WebContext) -> str:
    return f"Sign up for {ctx.settings.service_display_name}"


def _with_nonce(request: web.Request, response: web.Response, nonce: str,
                fresh: bool) -> web.Response:
    if fresh:
        response.set_cookie(csrf.COOKIE, nonce, httponly=True, samesite="Strict",
                            secure=is_https(request), max_age=csrf.MAX_AGE)
    return response


def _field(name: str, label: str, kind: str, hint: str, error: str | None, *,
           value: str = "", autocomplete: str, maxlength: int) -> str:
    described = f"{name}-hint" + (f" {name}-error" if error else "")
    value_attr = f' value="{esc(value)}"' if value else ""
    invalid = ' aria-invalid="true"' if error else ""
    error_html = f'<p class="error" id="{name}-error">{esc(error)}</p>\n' if error else ""
    return (f'<label for="{name}">{esc(label)}</label>\n'
            f'<p class="hint" id="{name}-hint">{esc(hint)}</p>\n'
            f'<input id="{name}" name="{name}" type="{kind}" autocomplete="{autocomplete}" '
            f'maxlength="{maxlength}" required aria-describedby="{described}"'
            f"{invalid}{value_attr}>\n{error_html}")


def _form_page(request: web.Request, ctx: WebContext, nonce: str, fresh: bool, *,
               nick: str = "", problems: accounts.SignupProblems | None = None,
               status: int = 200) -> web.Response:
    problems = problems or accounts.SignupProblems()
    summary = ""
    if problems:
        items = "".join(f'<li><a href="#{name}">{esc(text)}</a></li>'
                        for name, text in (("nick", problems.nick),
                                           ("password", problems.password),
                                           ("again", problems.again)) if text)
        summary = (f'<div class="summary" role="alert"><h2>Please check the form</h2>'
                   f"<ul>{items}</ul></div>\n")
    name = ctx.settings.service_display_name
    body = (
        f"<h1>{esc(_title(ctx))}</h1>\n"
        '<p class="lead">You get an account number. Sign in with it and your password from '
        "any IMIP instant-messaging program.</p>\n"
        f"{summary}"
        f'<form method="post" novalidate>\n'
        + _field("nick", "Nickname", "text", "What your contacts see, up to 64 characters.",
                 problems.nick, value=nick, autocomplete="nickname", maxlength=64)
        + _field("password", "Password",
                 "password", f"{ctx.settings.min_password_length} to {accounts.MAX_PASSWORD} "
                 "characters, not your nickname.", problems.password,
                 autocomplete="new-password", maxlength=accounts.MAX_PASSWORD)
        + _field("again", "Password again", "password", "Type the same password once more.",
                 problems.again, autocomplete="new-password", maxlength=accounts.MAX_PASSWORD)
        + f'<input type="hidden" name="{csrf.FIELD}" value="{esc(ctx.csrf.token(nonce))}">\n'
        '<button type="submit">Create my account</button>\n'
        "</form>\n"
    )
    response = page("Please check the form" if problems else "Sign up", body,
                    service_name=name, status=status)
    return _with_nonce(request, response, nonce, fresh)


def _closed_page(ctx: WebContext, status: int) -> web.Response:
    return message_page(
        "Sign-up is closed",
        [f"{ctx.settings.service_display_name} does not take new accounts here "
         "at the moment.",
         "If you need an account, ask the people who run this server to create one for you."],
        service_name=ctx.settings.service_display_name, status=status)


def _welcome_page(ctx: WebContext, account: Account) -> web.Response:
    number = esc(account.name)
    host = esc(ctx.public_host)
    port = ctx.settings.imip_port
    body = (
        f"<h1>Welcome, {esc(account.nick)}!</h1>\n"
        "<p>Your account number is</p>\n"
        f'<p class="number" id="number">{number}</p>\n'
        "<p>Write it down: you sign in with this number and the password you just chose. "
        "The number cannot be changed, and nobody can look up your password for you.</p>\n"
        "<h2>How to connect</h2>\n"
        "<p>In your IMIP program, add an account with these settings:</p>\n"
        "<dl>\n"
        f'<dt>Server</dt><dd><code id="host">{host}</code></dd>\n'
        f'<dt>Port</dt><dd><code id="port">{port}</code></dd>\n'
        f"<dt>User name</dt><dd><code>{number}</code></dd>\n"
        "<dt>Password</dt><dd>the one you just chose</dd>\n"
        "<dt>Protocol</dt><dd>IMIP 1.0, login imip-md5</dd>\n"
        "</dl>\n"
        "<p>Your friends add you by your number.</p>\n"
    )
    return page("Welcome", body, service_name=ctx.settings.service_display_name)


def _to_welcome(account: str) -> web.Response:
    """``303 See Other`` to the welcome page of ``account`` (relative: works under a prefix)."""
    return web.Response(status=303, headers={"Location": f"register?welcome={quote(account)}",
                                             "Cache-Control": "no-store"})


def _nonce(request: web.Request, ctx: WebContext) -> tuple[str, bool]:
    """The visitor's nonce, or a new one (True: it must be set as a cookie)."""
    nonce = request.cookies.get(csrf.COOKIE)
    if ctx.csrf.valid_nonce(nonce):
        assert nonce is not None
        return nonce, False
    return ctx.csrf.new_nonce(), True


async def show(request: web.Request) -> web.Response:
    """``GET /register``: the form, or a note that sign-up is closed; with ``?welcome=N``,
    the welcome page of account N to the browser that created it."""
    ctx = context(request)
    number = request.query.get("welcome")
    if number and ctx.csrf.has_receipt(request.cookies.get(csrf.RECEIPTS), number):
        account = await ctx.service.store.get_user(number)
        if account is not None:
            return _welcome_page(ctx, account)
    if not ctx.settings.registration:
        return _closed_page(ctx, 200)
    nonce, fresh = _nonce(request, ctx)
    return _form_page(request, ctx, nonce, fresh)


async def submit(request: web.Request) -> web.Response:
    """``POST /register``: check the form, the token and the limit; create the account."""
    ctx = context(request)
    metrics = ctx.metrics
    name = ctx.settings.service_display_name
    address = client_address(request)
    form = await request.post()
    token = form.get(csrf.FIELD)
    made = ctx.csrf.created_by(request.cookies.get(csrf.RECEIPTS),
                               token if isinstance(token, str) else None)
    if made is not None:  # this form was sent before and created an account: the same answer
        metrics.signup("resent")
        log.info("sign-up form from %s sent again: it created %s", address, made)
        return _to_welcome(made)
    if not ctx.settings.registration:
        metrics.signup("closed")
        return _closed_page(ctx, 403)
    verdict = ctx.csrf.check(request.cookies.get(csrf.COOKIE),
                             token if isinstance(token, str) else None)
    if verdict is not csrf.Verdict.OK:
        metrics.signup("csrf")
        log.info("sign-up from %s refused: CSRF token %s", address, verdict.value)
        return message_page(
            "This form has expired",
            ["Nothing was created. The form was too old, or it was not sent from this site "
             "(your browser must accept cookies from this page).",
             "Open the sign-up form again and fill it in once more."],
            service_name=name, status=403, link=(FORM_PATH, "Open the sign-up form"))
    nick, password, again = (form.get(key, "") for key in ("nick", "password", "again"))
    if not isinstance(nick, str) or not isinstance(password, str) or not isinstance(again, str):
        metrics.signup("invalid")
        raise web.HTTPBadRequest(text="form fields must be text")
    nick = nick.strip()
    problems = accounts.signup_problems(nick, password, again,
                                        min_length=ctx.settings.min_password_length)
    if problems:
        metrics.signup("invalid")
        nonce, fresh = _nonce(request, ctx)
        return _form_page(request, ctx, nonce, fresh, nick=nick, problems=problems, status=400)
    if not ctx.signups.take(address):
        metrics.signup("rate_limited")
        log.info("sign-up from %s refused: over %d per hour", address,
                 ctx.settings.signups_per_hour)
        return message_page(
            "Too many sign-ups",
            ["Nothing was created: your address has created as many accounts as it may "
             "within an hour.", "Please try again in an hour."],
            service_name=name, status=429, headers={"Retry-After": "3600"})
    try:
        account = await accounts.create_numbered(ctx.service.store, password, nick,
                                                 ctx.settings.first_number,
                                                 min_length=ctx.settings.min_password_length)
    except Exception:
        metrics.signup("error")
        log.exception("sign-up from %s failed", address)
        return message_page(
            "Something went wrong", ["Nothing was created. Please try again in a few minutes."],
            service_name=name, status=500, link=(FORM_PATH, "Open the sign-up form"))
    metrics.signup("ok")
    log.info("signed up %s from %s", account.name, address)
    assert isinstance(token, str)  # the CSRF check passed
    response = _to_welcome(account.name)
    response.set_cookie(csrf.RECEIPTS, ctx.csrf.add_receipt(
        request.cookies.get(csrf.RECEIPTS), account.name, token), httponly=True,
        samesite="Strict", secure=is_https(request), max_age=csrf.RECEIPTS_MAX_AGE)
    # a new nonce: another form loaded before this sign-up cannot be sent any more
    return _with_nonce(request, response, ctx.csrf.new_nonce(), True)


def routes() -> list[web.RouteDef]:
    return [web.get("/register", show), web.post("/register", submit)]
