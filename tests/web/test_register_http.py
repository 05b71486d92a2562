"""The sign-up form's defences over plain HTTP: CSRF token, rate limit, password rules."""

from __future__ import annotations

import time

import pytest

from .conftest import WebServer, WebServerFactory
from .imip import ImipClient
from .webclient import WebClient

EXPIRED = "This form has expired"


def test_csrf_token_missing_or_wrong_is_refused(shared_server: WebServer) -> None:
    client = shared_server.client()
    token = client.get("/register").csrf_token
    fields = {"nick": "Mallory", "password": "secret-pw", "again": "secret-pw"}

    # no token in the form
    reply = client.post_form("/register", fields)
    assert reply.status == 403 and EXPIRED in reply.text
    assert "Nothing was created" in reply.text
    # a token that was never issued
    reply = client.post_form("/register", {**fields, "csrf_token": "1700000000.forged"})
    assert reply.status == 403 and EXPIRED in reply.text
    # the right token without its cookie (what a forged cross-site post looks like)
    reply = WebClient(shared_server.base).post_form("/register", {**fields, "csrf_token": token})
    assert reply.status == 403 and EXPIRED in reply.text
    # the right token with another visitor's cookie
    other = shared_server.client()
    other.get("/register")
    reply = other.post_form("/register", {**fields, "csrf_token": token})
    assert reply.status == 403
    # a token altered by one character
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.post_form("/register", {**fields, "csrf_token": altered}).status == 403

    # and the genuine pair works
    reply = client.follow(client.post_form("/register", {**fields, "csrf_token": token}))
    assert reply.status == 200, reply.text
    assert reply.number.isdigit()


def test_form_cookie_is_strict(shared_server: WebServer) -> None:
    reply = shared_server.client().get("/register")
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith("imipd_csrf=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http here; Secure over https (see test_units)
    assert reply.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["Server"] == "imipd"


@pytest.mark.parametrize(("nick", "password", "again", "message"), [
    ("Alan", "short", "short", "The password needs at least 6 characters."),
    ("Alan", "x" * 129, "x" * 129, "The password may have at most 128 characters."),
    ("Alan Turing", "alan turing", "alan turing", "The password may not be the nickname."),
    ("Alan", "enigma-1", "enigma-2", "The two passwords differ."),
    ("   ", "enigma-1", "enigma-1", "Enter a nickname."),
    ("A" * 65, "enigma-1", "enigma-1", "The nickname is longer than 64 characters."),
    ('Alan "the" T', "enigma-1", "enigma-1", "The nickname may not contain &quot; or control"),
    ("Alan", "tab\there", "tab\there", "The password may not contain control characters."),
], ids=["too-short", "too-long", "equals-nick", "differ", "no-nick", "nick-too-long",
        "nick-quote", "control"])
def test_password_and_nickname_rules(shared_server: WebServer, nick: str, password: str,
                                     again: str, message: str) -> None:
    reply = shared_server.client().sign_up(nick, password, again)
    assert reply.status == 400
    assert message in reply.text
    assert 'class="number"' not in reply.text


@pytest.mark.parametrize("password", ["x" * 6, "x" * 128], ids=["6", "128"])
def test_password_length_bounds_are_accepted(shared_server: WebServer, password: str) -> None:
    client = shared_server.client()
    reply = client.sign_up("Bounds", password)
    assert reply.status == 200, reply.text
    imip = ImipClient(shared_server.port)
    answer = imip.login(reply.number, password)
    assert answer.verb == "LOGN", answer
    imip.close()


def test_sixth_sign_up_from_one_address_is_refused(web_server: WebServerFactory) -> None:
    server = web_server()  # the default: 5 per hour
    client = server.client()
    numbers = [client.sign_up(f"user {i}", "password-1").number for i in range(5)]
    assert numbers == [str(1000000 + i) for i in range(5)]
    reply = client.sign_up("user 6", "password-1")
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "3600"
    assert "Too many sign-ups" in reply.text and "Nothing was created" in reply.text
    # X-Forwarded-For is ignored unless the config says to trust it
    reply = server.client().sign_up("user 7", "password-1", headers={
        "X-Forwarded-For": "203.0.113.9"})
    assert reply.status == 429
    # a refused sign-up did not use up a number
    listed = server.client().get("/metrics").text
    assert 'imipd_web_signups_total{result="rate_limited"} 2.0' in listed
    assert 'imipd_web_signups_total{result="ok"} 5.0' in listed


def test_forwarded_for_counts_per_client_behind_a_trusted_proxy(
        web_server: WebServerFactory) -> None:
    server = web_server("--trust-forwarded-for", "--signups-per-hour", "2")
    proxy_a = {"X-Forwarded-For": "198.51.100.1"}
    # a client-chosen first entry is not what counts: the proxy's own (last) one is
    proxy_a_spoofed = {"X-Forwarded-For": "10.9.9.9, 198.51.100.1"}
    assert server.client().sign_up("a1", "password-1", headers=proxy_a).status == 200
    assert server.client().sign_up("a2", "password-1", headers=proxy_a_spoofed).status == 200
    assert server.client().sign_up("a3", "password-1", headers=proxy_a).status == 429
    proxy_b = {"X-Forwarded-For": "198.51.100.2"}
    assert server.client().sign_up("b1", "password-1", headers=proxy_b).status == 200


def test_index_redirects_to_the_form(shared_server: WebServer) -> None:
    reply = shared_server.client().get("/")
    assert reply.status == 302
    assert reply.headers["Location"] == "register"


def test_a_form_sent_again_shows_the_same_account(web_server: WebServerFactory) -> None:
    """Post/Redirect/Get, and a resent form (reload of the POST, back and submit) is answered
    with the account it created: never a second account, never "nothing was created"."""
    server = web_server()
    client = server.client()
    fields = {"nick": "Grace", "password": "hopper-1906", "again": "hopper-1906",
              "csrf_token": client.get("/register").csrf_token}
    time.sleep(1.1)  # a token names its second: make the other tab's differ
    other_tab = client.get("/register").csrf_token
    posted = client.post_form("/register", fields)
    assert posted.status == 303
    assert posted.headers["Location"] == "register?welcome=1000000"
    receipt = [c for c in posted.headers.get_all("Set-Cookie") or []
               if c.startswith("imipd_signup=")]
    assert len(receipt) == 1 and "HttpOnly" in receipt[0] and "SameSite=Strict" in receipt[0]
    welcome = client.follow(posted)
    assert welcome.status == 200 and welcome.number == "1000000"
    assert "Welcome, Grace!" in welcome.text
    # reloading the welcome page is a GET: the same page
    assert client.get("/register?welcome=1000000").number == "1000000"

    # the same form sent again, with the cookies the browser has now
    for _ in range(2):
        again = client.post_form("/register", fields)
        assert again.status == 303, again.text
        assert again.headers["Location"] == "register?welcome=1000000"
        assert EXPIRED not in again.text
        assert client.follow(again).number == "1000000"
    # a form loaded in another tab before the sign-up never created anything: it is refused
    # (the nonce was renewed) and the page rightly says nothing was created
    reply = client.post_form("/register", {**fields, "csrf_token": other_tab})
    assert reply.status == 403 and EXPIRED in reply.text and "Nothing was created" in reply.text

    # no account was made by the resends: the next sign-up gets the next number
    assert client.sign_up("Ada", "analytical").number == "1000001"
    # and the older form is still recognised after a later sign-up
    assert client.follow(client.post_form("/register", fields)).number == "1000000"

    samples = client.get("/metrics").text
    assert 'imipd_web_signups_total{result="ok"} 2.0' in samples
    assert 'imipd_web_signups_total{result="resent"} 3.0' in samples

    # the welcome page is only for the browser that signed up; others get the form
    stranger = server.client()
    other = stranger.get("/register?welcome=1000000")
    assert other.status == 200 and 'class="number"' not in other.text
    assert 'name="csrf_token"' in other.text
    # a forged receipt is worth nothing
    stranger.get("/register")
    stranger.cookies["imipd_signup"] = "1000000:0123456789abcdef~forged"
    assert 'class="number"' not in stranger.get("/register?welcome=1000000").text
    assert stranger.post_form("/register", fields).status == 403
