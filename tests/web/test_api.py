"""The JSON admin API: the token gate, accounts (as ``imipd user`` does them), live sessions."""

from __future__ import annotations

from tests.server.imipd_process import imipd

from .conftest import ADMIN_TOKEN, WebServer, WebServerFactory
from .imip import ImipClient


def logged_in(server: WebServer, user: str, password: str) -> ImipClient:
    client = ImipClient(server.port, user)
    answer = client.login(user, password)
    assert answer.verb == "LOGN", answer
    client.online()
    return client


def expect_disc(client: ImipClient, reason: bytes) -> None:
    """A server DISC with ``reason``, then the close."""
    block = client.receive()
    assert block is not None and block.verb == "DISC" and block.body == reason, block
    assert client.receive() is None


def test_api_is_off_without_a_token(web_server: WebServerFactory) -> None:
    server = web_server()
    client = server.client()
    for token in (None, ADMIN_TOKEN, ""):
        reply = client.api("GET", "/api/users", token)
        assert reply.status == 404
    assert client.api("DELETE", "/api/users/alice", ADMIN_TOKEN).status == 404


def test_token_is_required(shared_server: WebServer) -> None:
    client = shared_server.client()
    reply = client.api("GET", "/api/users", None)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="imipd admin"'
    assert reply.json() == {"error": "a valid bearer token is needed"}
    assert client.api("GET", "/api/users", ADMIN_TOKEN + "x").status == 401
    assert client.api("GET", "/api/users", ADMIN_TOKEN[:-1]).status == 401
    reply = client.request("GET", "/api/users", headers={"Authorization": f"Basic {ADMIN_TOKEN}"})
    assert reply.status == 401
    reply = client.api("GET", "/api/users", ADMIN_TOKEN)
    assert reply.status == 200 and reply.headers["Cache-Control"] == "no-store"
    # unknown routes behind the gate are JSON too
    reply = client.api("GET", "/api/nothing", ADMIN_TOKEN)
    assert (reply.status, reply.json()) == (404, {"error": "not found"})


def test_create_list_get_and_the_cli_rules(shared_server: WebServer) -> None:
    client = shared_server.client()
    reply = client.api("POST", "/api/users", ADMIN_TOKEN,
                       {"name": "Carol", "password": "pw-carol", "nick": "Carol C"})
    assert reply.status == 201, reply.text
    assert reply.json()["name"] == "Carol" and reply.json()["nick"] == "Carol C"
    # the same rules and messages as `imipd user add`
    reply = client.api("POST", "/api/users", ADMIN_TOKEN, {"name": "carol", "password": "pw-carol"})
    assert (reply.status, reply.json()) == (409, {"error": "user carol already exists"})
    reply = client.api("POST", "/api/users", ADMIN_TOKEN, {"name": "no spaces", "password": "p"})
    assert reply.status == 400
    assert reply.json()["error"] == ("invalid user name 'no spaces': "
                                     "1-64 characters of A-Z a-z 0-9 . _ -")
    reply = client.api("POST", "/api/users", ADMIN_TOKEN, {"name": "dave", "password": ""})
    assert (reply.status, reply.json()) == (
        400, {"error": "the password needs at least 6 characters"})
    reply = client.api("POST", "/api/users", ADMIN_TOKEN, {"name": "dave"})
    assert (reply.status, reply.json()) == (400, {"error": "'password' must be a string"})
    reply = client.request("POST", "/api/users", b"not json", {
        "Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"})
    assert (reply.status, reply.json()) == (400, {"error": "the body must be a JSON object"})
    # without a name: the next number, as a sign-up gets
    reply = client.api("POST", "/api/users", ADMIN_TOKEN, {"password": "numbered", "nick": "N"})
    assert reply.status == 201 and reply.json()["name"].isdigit()

    users = client.api("GET", "/api/users", ADMIN_TOKEN).json()["users"]
    carol = next(u for u in users if u["name"] == "Carol")
    assert carol["nick"] == "Carol C" and carol["waiting"] == 0 and carol["online"] is False
    assert "password" not in carol
    reply = client.api("GET", "/api/users/CAROL", ADMIN_TOKEN)
    assert reply.status == 200 and reply.json()["name"] == "Carol"
    reply = client.api("GET", "/api/users/nobody", ADMIN_TOKEN)
    assert (reply.status, reply.json()) == (404, {"error": "no such user nobody"})


def test_reset_password_drops_the_live_session(shared_server: WebServer) -> None:
    client = shared_server.client()
    client.api("POST", "/api/users", ADMIN_TOKEN, {"name": "erin", "password": "old-pw"})
    erin = logged_in(shared_server, "erin", "old-pw")
    reply = client.api("PUT", "/api/users/erin/password", ADMIN_TOKEN, {"password": "new-pw"})
    assert reply.status == 200
    assert reply.json() == {"name": "erin", "sessions_dropped": 1}
    expect_disc(erin, b"password changed")
    again = ImipClient(shared_server.port)
    assert again.login("erin", "old-pw").args == ("811",)
    assert again.login("erin", "new-pw").verb == "LOGN"
    again.close()
    reply = client.api("PUT", "/api/users/nobody/password", ADMIN_TOKEN, {"password": "pw-nobody"})
    assert reply.status == 404
    reply = client.api("PUT", "/api/users/erin/password", ADMIN_TOKEN, {"password": "abc\ndef"})
    assert (reply.status, reply.json()) == (
        400, {"error": "the password may not contain control characters"})


def test_sessions_list_and_kick(shared_server: WebServer) -> None:
    client = shared_server.client()
    client.api("POST", "/api/users", ADMIN_TOKEN, {"name": "frank", "password": "pw-frank",
                                                   "nick": "Frank"})
    frank = logged_in(shared_server, "frank", "pw-frank")
    sessions = client.api("GET", "/api/sessions", ADMIN_TOKEN).json()["sessions"]
    mine = [s for s in sessions if s["name"] == "frank"]
    assert len(mine) == 1
    assert mine[0]["nick"] == "Frank" and mine[0]["online"] is True
    assert mine[0]["presence"] == "ONLINE" and mine[0]["peer"] == "127.0.0.1"
    users = client.api("GET", "/api/users", ADMIN_TOKEN).json()["users"]
    assert next(u for u in users if u["name"] == "frank")["online"] is True

    reply = client.api("DELETE", "/api/sessions/FRANK?reason=maintenance", ADMIN_TOKEN)
    assert reply.status == 200 and reply.json()["sessions_dropped"] == 1
    expect_disc(frank, b"maintenance")
    reply = client.api("DELETE", "/api/sessions/frank", ADMIN_TOKEN)
    assert (reply.status, reply.json()) == (404, {"error": "frank has no live session"})
    # the account itself is untouched
    logged_in(shared_server, "frank", "pw-frank").close()


def test_delete_drops_the_live_session(shared_server: WebServer) -> None:
    client = shared_server.client()
    client.api("POST", "/api/users", ADMIN_TOKEN, {"name": "gina", "password": "pw-gina"})
    gina = logged_in(shared_server, "gina", "pw-gina")
    reply = client.api("DELETE", "/api/users/gina", ADMIN_TOKEN)
    assert (reply.status, reply.json()) == (200, {"deleted": "gina", "sessions_dropped": 1})
    expect_disc(gina, b"account deleted")
    assert ImipClient(shared_server.port).login("gina", "pw-gina").args == ("811",)
    reply = client.api("DELETE", "/api/users/gina", ADMIN_TOKEN)
    assert (reply.status, reply.json()) == (404, {"error": "no such user gina"})


def test_cli_and_api_see_the_same_accounts(shared_server: WebServer) -> None:
    """One implementation behind both: a CLI-made account is listed by the API and vice versa."""
    data_dir = shared_server.process.data_dir
    done = imipd("user", "add", "henry", "--password", "pw-henry", "--nick", "Henry",
                 data_dir=data_dir)
    assert done.stdout == "created henry\n", done.stderr
    client = shared_server.client()
    reply = client.api("GET", "/api/users/henry", ADMIN_TOKEN)
    assert reply.json()["nick"] == "Henry"
    client.api("POST", "/api/users", ADMIN_TOKEN, {"name": "iris", "password": "pw-iris"})
    done = imipd("user", "list", data_dir=data_dir)
    assert "iris\tiris\t0 waiting\n" in done.stdout
    # the same refusal, word for word
    done = imipd("user", "add", "henry", "--password", "pw-other", data_dir=data_dir,
                 check=False)
    assert done.stderr == "Error: user henry already exists\n"
    reply = client.api("POST", "/api/users", ADMIN_TOKEN,
                       {"name": "henry", "password": "pw-other"})
    assert reply.json() == {"error": "user henry already exists"}


def test_min_password_length_is_one_rule_for_the_api_and_sign_up(
        web_server: WebServerFactory) -> None:
    """``min_password_length`` (issue 14): the admin API and the sign-up page refuse alike."""
    server = web_server("--admin-token", ADMIN_TOKEN, "--min-password-length", "9")
    client = server.client()
    too_short = {"error": "the password needs at least 9 characters"}
    reply = client.api("POST", "/api/users", ADMIN_TOKEN, {"name": "kim", "password": "eight-ch"})
    assert (reply.status, reply.json()) == (400, too_short)
    reply = client.api("POST", "/api/users", ADMIN_TOKEN, {"password": "eight-ch", "nick": "K"})
    assert (reply.status, reply.json()) == (400, too_short)
    reply = client.api("POST", "/api/users", ADMIN_TOKEN,
                       {"name": "kim", "password": "KIMBERLEY", "nick": "Kimberley"})
    assert (reply.status, reply.json()) == (400, {"error": "the password may not be the nickname"})
    reply = client.api("POST", "/api/users", ADMIN_TOKEN,
                       {"name": "kim", "password": "nine-char", "nick": "Kimberley"})
    assert reply.status == 201, reply.text
    reply = client.api("PUT", "/api/users/kim/password", ADMIN_TOKEN, {"password": "kimberley"})
    assert (reply.status, reply.json()) == (400, {"error": "the password may not be the nickname"})
    reply = client.api("PUT", "/api/users/kim/password", ADMIN_TOKEN, {"password": "short-pw"})
    assert (reply.status, reply.json()) == (400, too_short)
    form = client.get("/register")
    assert "9 to 128 characters" in form.text
    reply = client.post_form("/register", {"nick": "Lee", "password": "eight-ch",
                                           "again": "eight-ch", "csrf_token": form.csrf_token})
    assert reply.status == 400 and "The password needs at least 9 characters." in reply.text
