"""SIGHUP reloads the configuration: what can change live does, the rest waits, bad is refused."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from .client_helpers import Client
from .conftest import ServerFactory


def wait_for_log(server_log: list[str], text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in server_log):
        assert time.monotonic() < deadline, f"no log line with {text!r}"
        time.sleep(0.05)


def hello_keep_alive(port: int) -> str:
    client = Client(port)
    client.send("HELO", headers=(("Protocol", "IMIP/1.0"),))
    value = client.receive().header("Keep-Alive") or ""
    client.close()
    return value


def test_sighup_applies_the_new_configuration(imipd_server: ServerFactory,
                                              tmp_path: Path) -> None:
    config = tmp_path / "imipd.toml"
    config.write_text("keep_alive = 30\nmax_mesg_body = 1000\n")
    server = imipd_server([("alice", "pw-a", "Alice"), ("bob", "pw-b", "Bob")],
                          "--config", str(config))
    assert hello_keep_alive(server.port) == "30"
    before = Client(server.port, "before")  # made before the reload: keeps its limits
    before.login("alice", "pw-a")
    before.online()

    config.write_text('keep_alive = 45\nmax_mesg_body = 10\nsqlite_synchronous = "normal"\n')
    assert server.proc is not None
    server.proc.send_signal(signal.SIGHUP)
    wait_for_log(server.log, "configuration reloaded")
    restart = "sqlite_synchronous changed; it takes effect after a restart"
    assert any(restart in line for line in server.log)

    assert hello_keep_alive(server.port) == "45"  # still listening where it was
    after = Client(server.port, "after")
    after.login("bob", "pw-b")
    after.online()
    ref = after.send("MESG", headers=(("To", "alice"), ("ACK-Type", "always")),
                     body=b"eleven bytes")
    after.expect_ack(ref, 850)
    ref = before.send("MESG", headers=(("To", "bob"), ("ACK-Type", "always")),
                      body=b"eleven bytes")
    assert after.receive().body == b"eleven bytes"
    before.expect_ack(ref, 600)

    config.write_text("keep_alive = 1\n")
    server.proc.send_signal(signal.SIGHUP)
    wait_for_log(server.log, "reload refused, the running configuration stays")
    assert hello_keep_alive(server.port) == "45"
    assert server.stop() == 0
