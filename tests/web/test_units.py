"""The web side's parts in-process: CSRF tokens, sign-up rules, client address, health, config."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from imipd.core import Service, accounts
from imipd.imip import WireStats
from imipd.router import LocalRouter
from imipd.server.app import settings_from, web_settings_from
from imipd.server.config import Config, ConfigError
from imipd.store.identity import identities
from imipd.store.journal import FileJournal
from imipd.store.sqlite import SqliteStore
from imipd.web import build_app
from imipd.web.context import forwarded_address
from imipd.web.csrf import CsrfGuard, Verdict, derive_secret

from .imip import ImipClient

# -- CSRF tokens ------------------------------------------------------------------------------


def test_csrf_tokens() -> None:
    guard = CsrfGuard(b"k" * 32)
    nonce = guard.new_nonce()
    token = guard.token(nonce, now=1000)
    assert guard.check(nonce, token, now=1000) is Verdict.OK
    assert guard.check(nonce, token, now=1000 + 7200) is Verdict.OK
    assert guard.check(nonce, token, now=1000 + 7201) is Verdict.EXPIRED
    assert guard.check(None, token) is Verdict.MISSING
    assert guard.check(nonce, "") is Verdict.MISSING
    assert guard.check(guard.new_nonce(), token, now=1000) is Verdict.WRONG
    assert guard.check(nonce, "1001" + token[4:], now=1000) is Verdict.WRONG
    assert guard.check("short", token, now=1000) is Verdict.WRONG
    # another key (another server, a rotated secret.key) does not accept it
    assert CsrfGuard(b"j" * 32).check(nonce, token, now=1000) is Verdict.WRONG
    # the same key (a restart, another node on the same key) does
    assert CsrfGuard(b"k" * 32).check(nonce, token, now=1000) is Verdict.OK
    assert derive_secret(b"a" * 32) != derive_secret(b"b" * 32)
    assert derive_secret(b"a" * 32) != b"a" * 32


# -- the sign-up rules ---------------------------------------------------------------------------


def test_signup_rules() -> None:
    assert not accounts.signup_problems("Ann", "secret", "secret")
    assert accounts.signup_problems("Ann", "ann", "ann").password  # too short
    assert accounts.signup_problems("Annabel", "ANNABEL", "ANNABEL").password == \
        "The password may not be the nickname."
    problems = accounts.signup_problems("", "x" * 129, "y")
    assert problems.nick == "Enter a nickname."
    assert problems.password == "The password may have at most 128 characters."
    assert problems.again == "The two passwords differ."


# -- the client address --------------------------------------------------------------------------


@pytest.mark.parametrize(("trust", "header", "expected"), [
    (False, ["203.0.113.5"], "192.0.2.1"),
    (True, ["203.0.113.5"], "203.0.113.5"),
    (True, ["10.0.0.1, 203.0.113.5"], "203.0.113.5"),
    (True, ["10.0.0.1", "203.0.113.5"], "203.0.113.5"),
    (True, ["203.0.113.5, not-an-address"], "192.0.2.1"),
    (True, [], "192.0.2.1"),
    (True, ["203.0.113.5,"], "192.0.2.1"),
    (True, [" 2001:db8::1 "], "2001:db8::1"),
])
def test_client_address(trust: bool, header: list[str], expected: str) -> None:
    assert forwarded_address("192.0.2.1", header, trust=trust) == expected


# -- /healthz when something is wrong, and the Secure cookie over https ---------------------------


def run(coro: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` on a thread of its own (this thread may hold a browser's loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


async def _with_app(tmp_path: Path, listening: bool,
                    body: Callable[[TestClient[web.Request, web.Application], SqliteStore],
                                   Awaitable[None]],
                    trust: bool = False) -> None:
    store = await SqliteStore.open_data_dir(tmp_path)
    config = Config(data_dir=tmp_path, trust_forwarded_for=trust)
    service = Service(settings_from(config), store, LocalRouter(),
                      FileJournal.open(tmp_path, identities(1)))
    app = build_app(service, web_settings_from(config, 11319, config.advertised_public_url()),
                    imip_listening=lambda: listening, connections=lambda: 0, wire=WireStats())
    async with TestClient(TestServer(app)) as client:
        try:
            await body(client, store)
        finally:
            await store.close()


def test_healthz_unavailable(tmp_path: Path) -> None:
    async def not_listening(client: TestClient[web.Request, web.Application],
                            store: SqliteStore) -> None:
        reply = await client.get("/healthz")
        assert reply.status == 503
        assert await reply.json() == {"status": "unavailable", "imip": "not listening",
                                      "store": "ok", "journal": "ok", "sessions": 0}

    async def store_broken(client: TestClient[web.Request, web.Application],
                           store: SqliteStore) -> None:
        await store.close()
        reply = await client.get("/healthz")
        assert reply.status == 503
        data = await reply.json()
        assert (data["imip"], data["store"]) == ("listening", "failing")

    run(_with_app(tmp_path / "a", False, not_listening))
    run(_with_app(tmp_path / "b", True, store_broken))


def test_cookie_is_secure_behind_an_https_proxy(tmp_path: Path) -> None:
    async def check(client: TestClient[web.Request, web.Application],
                    store: SqliteStore) -> None:
        reply = await client.get("/register", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in reply.headers["Set-Cookie"]

    run(_with_app(tmp_path, True, check, trust=True))


# -- configuration -------------------------------------------------------------------------------


def test_public_url_defaults() -> None:
    assert Config().advertised_public_url() == "http://127.0.0.1:8080/register"
    assert Config(web="127.0.0.1:0").advertised_public_url(41234) == \
        "http://127.0.0.1:41234/register"
    assert Config(web="[::1]:8080").advertised_public_url() == "http://[::1]:8080/register"
    assert Config(web="*:8080").advertised_public_url() == "http://127.0.0.1:8080/register"
    assert Config(public_url="https://im.example.org/join").advertised_public_url(9) == \
        "https://im.example.org/join"
    assert Config(web="off").web_address is None
    assert Config(web="").advertised_public_url() == ""
    assert Config(web="off", public_url="https://x.example/r").advertised_public_url() == \
        "https://x.example/r"


@pytest.mark.parametrize(("options", "message"), [
    ({"public_url": "ftp://x"}, "public_url = 'ftp://x': expected an http:// or https:// URL"),
    ({"public_url": "http://x/\r\nEvil: 1"}, "public_url"),
    ({"admin_token": "short"}, "admin_token: must be at least 16 characters"),
    ({"web": "nowhere"}, "web = 'nowhere': expected HOST:PORT"),
    ({"signups_per_hour": 0}, "signups_per_hour = 0: must be between 1 and 1000000"),
])
def test_bad_web_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace("?", r"\?")):
        Config(**options)  # type: ignore[arg-type]


def test_web_off(tmp_path: Path) -> None:
    """``--web off``: no web listener, and HELO has no Registration header to point nowhere."""
    from tests.server.imipd_process import ImipdServer

    process = ImipdServer(tmp_path / "off", "--web", "off").start()
    try:
        hello = ImipClient(process.port).greet()
        assert hello.header("Registration") is None
        assert hello.header("Service") == "localhost"
        assert "web side off" in process.log_text()
    finally:
        process.kill()
    process = ImipdServer(tmp_path / "off2", "--web", "off", "--public-url",
                          "https://im.example.org/register").start()
    try:
        hello = ImipClient(process.port).greet()
        assert hello.header("Registration") == "https://im.example.org/register"
    finally:
        process.kill()


def test_sign_up_receipts() -> None:
    guard = CsrfGuard(b"k" * 32)
    tokens = [guard.token(guard.new_nonce()) for _ in range(12)]
    cookie = guard.add_receipt(None, "1000000", tokens[0])
    assert guard.created_by(cookie, tokens[0]) == "1000000"
    assert guard.created_by(cookie, tokens[1]) is None
    assert guard.created_by(cookie, None) is None
    assert guard.has_receipt(cookie, "1000000") and not guard.has_receipt(cookie, "1000001")
    # another key's receipt, or one altered, is worth nothing
    assert CsrfGuard(b"o" * 32).created_by(cookie, tokens[0]) is None
    altered = cookie.replace("1000000", "1000009")
    assert guard.receipts(altered) == [] and guard.receipts("junk") == []
    # the newest ten are kept
    for number, token in enumerate(tokens[1:], 1000001):
        cookie = guard.add_receipt(cookie, str(number), token)
    assert [name for name, _ in guard.receipts(cookie)] == [str(n) for n in
                                                            range(1000011, 1000001, -1)]
    assert guard.created_by(cookie, tokens[11]) == "1000011"
    assert guard.created_by(cookie, tokens[0]) is None
