"""``/healthz`` and ``/metrics`` of a running server, checked after a scripted IMIP session."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import create_users

from .conftest import WebServerFactory
from .imip import ImipClient


def scrape(client_text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as ``(name, sorted labels) → value``."""
    samples = {}
    for family in text_string_to_metric_families(client_text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_healthz(web_server: WebServerFactory) -> None:
    server = web_server()
    reply = server.client().get("/healthz")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.json() == {"status": "ok", "imip": "listening", "store": "ok",
                            "journal": "ok", "sessions": 0}
    # a graceful stop closes the web side too
    assert server.process.stop() == 0
    assert "stopped" in server.process.log_text()


def test_metrics_after_an_imip_session(web_server: WebServerFactory) -> None:
    server = web_server()
    create_users(server.process.data_dir, [("alice", "pw-alice", "Alice"),
                                           ("bob", "pw-bob", "Bob")])
    web = server.client()
    before = scrape(web.get("/metrics").text)
    assert value(before, "imipd_sessions") == 0
    assert value(before, "imipd_logins_total", result="ok") == 0

    alice = ImipClient(server.port, "alice")
    assert alice.login("alice", "wrong").args == ("811",)
    assert alice.login("alice", "pw-alice").verb == "LOGN"
    alice.online()
    alice.send("MESG", [("To", "bob"), ("ACK-Type", "always")], b"hi Bob")  # bob is away
    assert alice.next().args == ("601",)
    alice.send("MESG", [("To", "nobody"), ("ACK-Type", "always")], b"?")
    assert alice.next().args == ("820",)
    alice.send("NOPE")
    assert alice.next().args == ("801",)

    reply = web.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    during = scrape(reply.text)
    assert value(during, "imipd_sessions") == 1
    assert value(during, "imipd_connections") == 1
    assert value(during, "imipd_logins_total", result="ok") == 1
    assert value(during, "imipd_logins_total", result="failed") == 1
    assert value(during, "imipd_blocks_received_total", verb="HELO") == 1
    assert value(during, "imipd_blocks_received_total", verb="LOGN") == 2
    assert value(during, "imipd_blocks_received_total", verb="MESG") == 2
    assert value(during, "imipd_blocks_received_total", verb="other") == 1
    assert value(during, "imipd_answers_total", status="600") == 1
    assert value(during, "imipd_answers_total", status="601") == 1
    assert value(during, "imipd_answers_total", status="811") == 1
    assert value(during, "imipd_answers_total", status="820") == 1
    assert value(during, "imipd_answers_total", status="801") == 1
    assert value(during, "imipd_messages_total", result="stored") == 1
    assert value(during, "imipd_messages_total", result="rejected") == 1
    assert value(during, "imipd_stored_messages") == 1
    assert value(during, "process_cpu_seconds_total") > 0  # this server's own registry

    # a bad block: a header line without a colon (800), the connection stays
    alice.actor.send(b"PING\r\n18\r\nID: 1009\r\nno colon\r\n")
    assert alice.next().args == ("800",)
    alice.send("DISC")
    alice.close()
    wait_for(lambda: value(scrape(web.get("/metrics").text), "imipd_sessions") == 0)
    after = scrape(web.get("/metrics").text)
    assert value(after, "imipd_bad_blocks_total", status="800") == 1

    # bob logs in: the stored message is flushed
    bob = ImipClient(server.port, "bob")
    assert bob.login("bob", "pw-bob").verb == "LOGN"
    bob.online()
    message = bob.receive()
    assert message is not None and message.body == b"hi Bob"
    wait_for(lambda: value(scrape(web.get("/metrics").text), "imipd_stored_messages") == 0)
    after = scrape(web.get("/metrics").text)
    assert value(after, "imipd_messages_total", result="flushed") == 1
    assert value(after, "imipd_logins_total", result="ok") == 2
    bob.close()


def test_metrics_count_sign_ups(web_server: WebServerFactory) -> None:
    server = web_server()
    web = server.client()
    assert web.sign_up("Counted", "password-1").status == 200
    assert web.sign_up("Counted", "pw").status == 400
    web.post_form("/register", {"nick": "x"})
    samples = scrape(web.get("/metrics").text)
    assert value(samples, "imipd_web_signups_total", result="ok") == 1
    assert value(samples, "imipd_web_signups_total", result="invalid") == 1
    assert value(samples, "imipd_web_signups_total", result="csrf") == 1
    assert value(samples, "imipd_web_signups_total", result="rate_limited") == 0


def test_openmetrics_on_request(web_server: WebServerFactory) -> None:
    server = web_server()
    reply = server.client().get("/metrics", {"Accept": "application/openmetrics-text"})
    assert reply.headers["Content-Type"].startswith("application/openmetrics-text")
    assert reply.text.endswith("# EOF\n")


FAMILIES = {
    # name: type, as the Prometheus text format declares them
    "imipd_sessions": "gauge", "imipd_connections": "gauge", "imipd_stored_messages": "gauge",
    "imipd_journal_full": "gauge", "imipd_store_write_failing": "gauge",
    "imipd_logins_total": "counter", "imipd_blocks_received_total": "counter",
    "imipd_answers_total": "counter", "imipd_messages_total": "counter",
    "imipd_bad_blocks_total": "counter", "imipd_web_signups_total": "counter",
    "process_cpu_seconds_total": "counter", "process_virtual_memory_bytes": "gauge",
    "process_resident_memory_bytes": "gauge", "process_start_time_seconds": "gauge",
    "process_open_fds": "gauge", "process_max_fds": "gauge",
}


def test_metric_families_follow_one_convention(web_server: WebServerFactory) -> None:
    """Every counter ends in ``_total`` and none has a ``_created`` series (in either format)."""
    server = web_server()
    web = server.client()
    assert web.sign_up("Counted", "password-1").status == 200
    text = web.get("/metrics").text
    declared = dict(line.split()[2:4] for line in text.splitlines()
                    if line.startswith("# TYPE "))
    assert declared == FAMILIES
    assert "_created" not in text
    openmetrics = web.get("/metrics", {"Accept": "application/openmetrics-text"}).text
    assert "_created" not in openmetrics
