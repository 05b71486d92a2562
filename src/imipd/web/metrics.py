"""``/metrics``: the service's counters in the Prometheus text format.

The core keeps plain counters (``core.stats``) and knows no metrics library;
this module reads them at scrape time through a custom collector, into a
registry of this server's own (never the process-global one, so two servers
in one process, as in tests, never mix their numbers).

One convention for every counter: a plain count read at scrape time into a
``CounterMetricFamily`` named without ``_total`` (the exposition adds it), and
no ``_created`` series. prometheus-client's ``Counter`` objects would add a
``<name>_created`` family; ``disable_created_metrics()`` would drop it for every
registry of the process, so imipd keeps no ``Counter`` objects at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from ..core import Service
from ..core.stats import LOGIN_RESULTS, MESSAGE_RESULTS
from ..imip import WireStats

log = logging.getLogger("imipd.web")

SIGNUP_RESULTS = ("ok", "resent", "invalid", "rate_limited", "csrf", "closed", "error")
"""How a sign-up ended: created, a form that had created an account sent again (answered
with that account), refused by the rules, by the limit, by the CSRF check, because
registration is off, or by a server error."""


def _counter(name: str, doc: str, label: str, counts: Mapping[str, int] | Mapping[int, int],
             always: Iterable[str] = ()) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    values = {str(key): value for key, value in counts.items()}
    for key in always:
        values.setdefault(key, 0)
    for key in sorted(values):
        family.add_metric([key], values[key])
    return family


class ServiceCollector(Collector):
    """Turns the core's counters into metric families when Prometheus scrapes."""

    def __init__(self, service: Service, connections: Callable[[], int],
                 wire: WireStats) -> None:
        self.service = service
        self.connections = connections
        self.wire = wire
        self.signups: dict[str, int] = dict.fromkeys(SIGNUP_RESULTS, 0)
        """Sign-ups on the registration page by result (counted by the web side)."""
        self.backlog: int | None = None
        """Stored messages waiting; read from the store just before each scrape."""

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        stats = self.service.stats
        wire = self.wire
        yield GaugeMetricFamily("imipd_sessions", "Logged-in IMIP sessions",
                                value=len(self.service.router))
        yield GaugeMetricFamily("imipd_connections", "Open IMIP connections",
                                value=self.connections())
        yield GaugeMetricFamily("imipd_journal_full", "1 while the journal has no room (a "
                                "full disk): live messages are refused (890)",
                                value=int(self.service.journal.full))
        yield GaugeMetricFamily("imipd_store_write_failing", "1 while the store cannot "
                                "write (its last write failed)",
                                value=int(self.service.store.write_failure is not None))
        yield _counter("imipd_logins", "LOGN attempts by result", "result", stats.logins,
                       LOGIN_RESULTS)
        yield _counter("imipd_blocks_received", "Blocks received by verb "
                       "(unknown verbs as other)", "verb",
                       {verb: count for verb, count in wire.blocks.items() if count})
        yield _counter("imipd_answers", "ACKs sent by status", "status", wire.answers)
        yield _counter("imipd_messages", "MESG outcomes: delivered, stored, flushed (stored, "
                       "then delivered), dropped (blocked), rejected", "result", stats.messages,
                       MESSAGE_RESULTS)
        yield _counter("imipd_bad_blocks", "Blocks the parser refused, by status", "status",
                       wire.bad_blocks)
        yield _counter("imipd_web_signups", "Sign-ups on the registration page, by result",
                       "result", self.signups, SIGNUP_RESULTS)
        if self.backlog is not None:
            yield GaugeMetricFamily("imipd_stored_messages",
                                    "Messages stored for users who are away", value=self.backlog)


class WebMetrics:
    """This server's registry: the service collector, process metrics, web counters."""

    def __init__(self, service: Service, connections: Callable[[], int],
                 wire: WireStats) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.collector = ServiceCollector(service, connections, wire)
        self.registry.register(self.collector)
        ProcessCollector(registry=self.registry)

    def signup(self, result: str) -> None:
        """Count one sign-up attempt (``result``: one of ``SIGNUP_RESULTS``)."""
        assert result in SIGNUP_RESULTS, result
        self.collector.signups[result] += 1

    async def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition for an ``Accept`` header: body and content type."""
        try:
            self.collector.backlog = await self.service.store.count_stored()
        except Exception:
            log.exception("metrics: counting stored messages failed")
            self.collector.backlog = None
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
