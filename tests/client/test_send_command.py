"""``imip send`` as a real subprocess, against a real server and against a scripted one."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from imipd import __version__
from imipd.cli.imip import main as imip_main
from imipd.client import MessageReceived, connect
from tests.server.conftest import ServerFactory

from .fake_peer import FakePeer, PeerConnection, client_block, frame, server_hello
from .helpers import Events, run
from .test_library import USERS

IMIP = str(Path(sys.executable).parent / "imip")


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test's environment without the person's imip settings or running chats."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMIP_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    return {**env, **extra}


def imip(tmp_path: Path, *args: str, password: str | None = "pw-a", stdin: str | None = None,
         **env: str) -> subprocess.CompletedProcess[str]:
    extra = {"IMIP_PASSWORD": password} if password is not None else {}
    return subprocess.run([IMIP, *args], capture_output=True, text=True, timeout=30,
                          input=stdin, env=environment(tmp_path, **extra, **env))


def send(tmp_path: Path, port: int, *args: str, user: str = "alice",
         password: str | None = "pw-a", stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    return imip(tmp_path, "send", "--server", f"127.0.0.1:{port}", "--user", user, *args,
                password=password, stdin=stdin)


def test_delivered_to_an_online_user(imipd_server: ServerFactory, tmp_path: Path) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        async with connect("127.0.0.1", server.port, "bob", "pw-b", presence="ONLINE") as bob:
            done = await asyncio.to_thread(send, tmp_path, server.port, "bob", "Grüß dich!")
            assert (done.returncode, done.stdout, done.stderr) == (0, "delivered\n", "")
            message = await Events(bob).expect(MessageReceived)
            assert (message.sender, message.text) == ("alice", "Grüß dich!")

    run(main())


def test_stored_for_an_absent_user_and_the_password_prompt(
        imipd_server: ServerFactory, tmp_path: Path) -> None:
    server = imipd_server(USERS)
    done = send(tmp_path, server.port, "bob", "later", password=None, stdin="pw-a\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("stored for later delivery\n")


@pytest.mark.parametrize(("args", "password", "status", "words"), [
    (("nobody", "hi"), "pw-a", 1, "no such user: nobody"),
    (("bob", "hi"), "wrong", 3, "login failed"),
    (("bob", "x" * 17000), "pw-a", 1, "too large"),
], ids=["no-such-user", "wrong-password", "too-large"])
def test_refusals_exit_non_zero_with_a_clear_message(
        imipd_server: ServerFactory, tmp_path: Path, args: tuple[str, str], password: str,
        status: int, words: str) -> None:
    server = imipd_server(USERS)
    done = send(tmp_path, server.port, *args, password=password)
    assert done.returncode == status, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("imip send: ") and words in done.stderr, done.stderr


def test_connection_refused(imipd_server: ServerFactory, tmp_path: Path) -> None:
    server = imipd_server(USERS)
    port = server.port
    server.stop()
    done = send(tmp_path, port, "bob", "hi")
    assert done.returncode == 4
    assert done.stderr == f"imip send: cannot connect to 127.0.0.1:{port}: connection refused\n"


def test_settings_file_gives_server_and_user(imipd_server: ServerFactory,
                                            tmp_path: Path) -> None:
    server = imipd_server(USERS)
    saved = imip(tmp_path, "config", "--server", f"127.0.0.1:{server.port}", "--user", "alice")
    assert saved.returncode == 0, saved.stderr
    path = tmp_path / "config" / "imip" / "config.toml"
    assert saved.stdout == f"saved in {path}\n"
    done = imip(tmp_path, "send", "bob", "no flags needed")
    assert (done.returncode, done.stdout) == (0, "stored for later delivery\n"), done.stderr
    # a flag still wins over the file
    done = imip(tmp_path, "send", "--user", "nobody", "bob", "hi")
    assert done.returncode == 3 and "login failed" in done.stderr


def test_missing_server_says_how_to_set_it(tmp_path: Path) -> None:
    done = imip(tmp_path, "send", "--user", "alice", "bob", "hi")
    assert done.returncode == 2
    assert "no server" in done.stderr and "imip config --server" in done.stderr


# -- against a scripted server: the exact wire -------------------------------------------

CLIENT = f"Client: imip {__version__}"


def scripted_send(answer: bytes, body: bytes = "Grüß dich!".encode()) -> FakePeer:
    """A server that expects exactly what ``imip send`` must write, answering MESG so."""

    def server(peer: PeerConnection) -> None:
        peer.expect(client_block("HELO", ["ID: 1001", "Protocol: IMIP/1.0"]))
        peer.send(server_hello("2718281828"))
        peer.expect(client_block("LOGN 1000042", ["ID: 1002", CLIENT, "Auth-Type: imip-md5"],
                                 b"acf2b771b12e380f6001573415913b2e"))
        peer.send(frame("LOGN 1000042", ["ID: 2", "Reference: 1002"]))
        peer.expect(client_block("MESG", ["ID: 1003", "To: 1000099", "ACK-Type: always",
                                          "From: 1000042"], body))
        peer.send(answer)
        peer.expect(client_block("DISC", ["ID: 1004"]))
        peer.send(frame("ACK 600", ["ID: 4", "Reference: 1004"]))

    return FakePeer(server)


@pytest.mark.parametrize(("answer", "status", "output"), [
    (frame("ACK 600", ["ID: 3", "Reference: 1003"]), 0, "delivered"),
    (frame("ACK 601", ["ID: 3", "Reference: 1003"]), 0, "stored for later delivery"),
    (frame("ACK 821", ["ID: 3", "Reference: 1003"], b"contacts only"), 1,
     "not permitted: 127.0.0.1:{port} does not let 1000042 send messages to 1000099"),
    (frame("ACK 850", ["ID: 3", "Reference: 1003"]), 1,
     "message too large for 127.0.0.1:{port} (12 bytes)"),
    (frame("ACK 890", ["ID: 3", "Reference: 1003"]), 1,
     "server error: the message was not accepted; try again"),
], ids=["600", "601", "821", "850", "890"])
def test_follows_the_wire_exactly(tmp_path: Path, answer: bytes, status: int,
                                  output: str) -> None:
    with scripted_send(answer) as peer:
        done = send(tmp_path, peer.port, "1000099", "Grüß dich!", user="1000042",
                    password="s3cret")
        peer.check()
    assert done.returncode == status, done.stderr
    if status == 0:
        assert (done.stdout, done.stderr) == (output + "\n", "")
    else:
        assert done.stderr == "imip send: " + output.format(port=peer.port) + "\n"


@pytest.mark.parametrize(("stdin", "body"), [
    ("Grüß dich!\n", "Grüß dich!"),
    ("Grüß dich!\r\n", "Grüß dich!"),
    ("Grüß dich!", "Grüß dich!"),
    ("Grüß\ndich!\n\n", "Grüß\ndich!\n"),
], ids=["lf", "crlf", "no-newline", "only-one-stripped"])
def test_standard_input_loses_exactly_one_trailing_newline(tmp_path: Path, stdin: str,
                                                           body: str) -> None:
    ok = frame("ACK 600", ["ID: 3", "Reference: 1003"])
    with scripted_send(ok, body.encode()) as peer:
        done = send(tmp_path, peer.port, "1000099", "-", user="1000042", password="s3cret",
                    stdin=stdin)
        peer.check()
    assert (done.returncode, done.stdout, done.stderr) == (0, "delivered\n", "")


# -- usage errors: status 2, one line, nothing sent --------------------------------------


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The only line of standard error (no usage text, no warnings)."""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "stdin"), [
    (("bob", ""), None),
    (("bob", "-"), ""),
    (("bob", "-"), "\n"),
], ids=["argument", "empty-stdin", "only-a-newline"])
def test_an_empty_message_is_refused(tmp_path: Path, args: tuple[str, str],
                                     stdin: str | None) -> None:
    # port 9 (discard): nothing may be tried, the refusal comes first
    done = send(tmp_path, 9, *args, stdin=stdin)
    assert (done.returncode, done.stdout) == (2, "")
    assert one_line(done) == "imip send: the message is empty"


@pytest.mark.parametrize("stdin", ["", None], ids=["empty-stdin", "no-stdin"])
def test_no_password_and_no_terminal_is_a_usage_error(tmp_path: Path,
                                                      stdin: str | None) -> None:
    extra = {} if stdin is not None else {"stdin": subprocess.DEVNULL}
    done = subprocess.run([IMIP, "send", "--server", "127.0.0.1:9", "--user", "alice", "bob",
                           "hi"], capture_output=True, text=True, timeout=30, input=stdin,
                          env=environment(tmp_path), **extra)
    assert (done.returncode, done.stdout) == (2, "")
    assert one_line(done).startswith("imip send: no password: give --password or IMIP_PASSWORD")


def test_no_password_with_the_message_on_standard_input(tmp_path: Path) -> None:
    # standard input holds the message, so it cannot hold the password too
    done = send(tmp_path, 9, "bob", "-", password=None, stdin="pw-a\n")
    assert done.returncode == 2
    assert one_line(done).startswith("imip send: no password")


def test_unknown_settings_key_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "config" / "imip" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('server = "127.0.0.1:9"\npasword = "x"\n', encoding="utf-8")
    done = imip(tmp_path, "send", "--user", "alice", "bob", "hi")
    assert (done.returncode, done.stdout) == (2, "")
    assert one_line(done) == (f"Error: settings: {path}: unknown key 'pasword' "
                              "(known: server, user)")


def test_config_refuses_a_user_name_with_a_space(tmp_path: Path) -> None:
    done = imip(tmp_path, "config", "--server", "127.0.0.1:9", "--user", "has space")
    assert (done.returncode, done.stdout) == (2, "")
    assert one_line(done) == "Error: Invalid value for '--user': 'has space': a user name " \
        "has no spaces or control characters"
    assert not (tmp_path / "config").exists()


def test_unknown_host_says_the_name_was_not_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The resolver's answer for a name that does not exist, without asking one: a real
    lookup would send a query off this machine (tests talk to loopback only)."""
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "no-such-host.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("IMIP_PASSWORD", "pw")
    done = CliRunner().invoke(imip_main, ["send", "--server", "no-such-host.invalid",
                                          "--user", "alice", "bob", "hi"])
    assert (done.exit_code, done.stdout) == (4, "")
    assert done.stderr == "imip send: cannot find the server no-such-host.invalid: name not found\n"


def test_a_password_piped_into_imipd_user_add_gives_no_warning(tmp_path: Path) -> None:
    imipd = str(Path(sys.executable).parent / "imipd")
    done = subprocess.run([imipd, "user", "add", "zed", "--data-dir", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=30,
                          input="pw-long-enough\npw-long-enough\n", start_new_session=True,
                          env=environment(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "created zed" in done.stdout
    assert "Warning" not in done.stderr and "echo" not in done.stderr, done.stderr


def test_a_recipient_that_cannot_be_a_user_name_is_a_usage_error(tmp_path: Path) -> None:
    done = send(tmp_path, 9, "b\nob", "hi")  # refused before any connection (port 9)
    assert (done.returncode, done.stdout, done.stderr) == (
        2, "", "Error: Invalid value for 'TO': 'b\\nob': a user name has no spaces or "
               "control characters\n")
