"""The benchmark's scenarios: accounts, sessions, and what one run of each measures.

``Bench`` owns one benchmark session (its temporary directory, its accounts, the
servers it starts); ``relay``, ``idle_rss``, ``logins`` and ``wire_check`` are
the scenarios ``loadgen.py`` runs against each server. See bench/README.md.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_procs as procs
import bench_report as report
from bench_clients import Client, LoginProbe, Tally, connect
from bench_procs import ServerProcess

PASSWORD = "bench-password"
SERVERS = ("imipd", "baseline")

During = Callable[[ServerProcess], Awaitable[Any]]


@dataclass
class Options:
    """Everything a run depends on (recorded in the JSON)."""

    warmup: float = 2.0
    duration: float = 5.0
    runs: int = 3
    pairs: tuple[int, ...] = (100, 1000)
    window: int = 10
    latency_pairs: int = 100
    latency_window: int = 1
    rss_sessions: int = 10_000
    login_concurrency: int = 50
    setup_concurrency: int = 50
    ack_type: str = "errors-only"
    server_core: int | None = 0
    loadgen_core: int | None = 1
    baseline_uvloop: bool = False
    servers: tuple[str, ...] = SERVERS
    scenarios: tuple[str, ...] = ("relay", "latency", "rss", "logins")
    wire_check: bool = True

    def accounts(self) -> int:
        """How many accounts the runs need at most."""
        need = [self.login_concurrency, 4]
        if "relay" in self.scenarios:
            need.append(2 * max(self.pairs))
        if "latency" in self.scenarios:
            need.append(2 * self.latency_pairs)
        if "rss" in self.scenarios:
            need.append(self.rss_sessions + 1)
        return max(need)


def user_name(i: int) -> str:
    """The i-th benchmark account."""
    return f"u{i:05d}"


async def make_accounts(data_dir: Path, count: int) -> None:
    """Write ``count`` accounts straight into a new store (far faster than ``imipd user add``)."""
    from imipd.store.sqlite import SqliteStore

    store = await SqliteStore.open_data_dir(data_dir, synchronous="normal")
    try:
        for i in range(count):
            await store.create_user(user_name(i), PASSWORD, user_name(i))
    finally:
        await store.close()


class Bench:
    """One benchmark session: its accounts, its temporary directory, its servers."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.o = options
        self.workdir = workdir
        self.template = workdir / "accounts"
        self.run_no = 0
        self.imipd_flags: tuple[str, ...] = ()

    async def prepare(self) -> None:
        """Create the accounts once; every imipd run gets a fresh copy of them."""
        if "imipd" in self.o.servers:
            self.imipd_flags = tuple(procs.imipd_serve_flags())
            self.template.mkdir()
            started = time.monotonic()
            await make_accounts(self.template, self.o.accounts())
            print(f"created {self.o.accounts():,} accounts in "
                  f"{time.monotonic() - started:.1f} s", file=sys.stderr)

    def server(self, kind: str) -> ServerProcess:
        """A new, not yet started server of ``kind`` on a fresh port (and data copy)."""
        self.run_no += 1
        data_dir = None
        if kind == "imipd":
            data_dir = self.workdir / f"run{self.run_no}"
            shutil.copytree(self.template, data_dir)
        return ServerProcess(kind, procs.free_port(), data_dir, self.o.server_core,
                             self.o.baseline_uvloop, self.imipd_flags if kind == "imipd" else (),
                             log_path=self.workdir / f"run{self.run_no}-{kind}.log")

    async def with_server(self, kind: str, body: Any) -> dict[str, Any]:
        """Start a server, run ``body(server)``, always stop it; note what it logged."""
        server = self.server(kind)
        source = procs.imipd_source_hash() if kind == "imipd" else None
        try:
            await server.start()
            result: dict[str, Any] = await body(server)
        finally:
            status = await server.stop()
            if server.data_dir is not None:
                shutil.rmtree(server.data_dir, ignore_errors=True)
        problems = server.problems()
        if problems:
            result["server_log"] = problems[-2000:]
        result["exit_status"] = status
        if source is not None:
            result["imipd_source"] = source
        return result

    # -- sessions -------------------------------------------------------------------

    async def open_sessions(self, port: int, tally: Tally, names: list[str],
                            stat: bool = True) -> list[Client]:
        """Log in ``names`` (at most ``setup_concurrency`` at a time); all or an error."""
        gate = asyncio.Semaphore(self.o.setup_concurrency)

        async def one(name: str) -> Client:
            async with gate:
                client = await asyncio.wait_for(
                    connect("127.0.0.1", port, tally, name, PASSWORD, self.o.ack_type), 30)
                try:
                    await client.log_in(stat)
                except BaseException:
                    client.close()
                    raise
                return client

        results = await asyncio.gather(*(one(n) for n in names), return_exceptions=True)
        clients = [r for r in results if isinstance(r, Client)]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await close_all(clients)
            raise RuntimeError(f"{len(errors)} of {len(names)} logins failed: {errors[0]!r}")
        return clients

    # -- the scenarios ----------------------------------------------------------------

    async def relay(self, server: ServerProcess, pairs: int, window: int,
                    during: During | None = None) -> dict[str, Any]:
        """C pairs, each side keeping ``window`` messages in flight to the other.

        ``during`` (the profiler) runs alongside the measured interval.
        """
        tally = Tally()
        started = time.monotonic()
        clients = await self.open_sessions(server.port, tally,
                                           [user_name(i) for i in range(2 * pairs)])
        setup_s = time.monotonic() - started
        try:
            await asyncio.sleep(0.5)  # imipd: the first STAT's stored-message check finishes
            for a, b in zip(clients[0::2], clients[1::2], strict=True):
                a.start_relay(b, window)
                b.start_relay(a, window)
            await asyncio.sleep(self.o.warmup)
            gc.collect()
            t0, r0 = time.monotonic(), tally.received
            s0, l0 = server.cpu_seconds(), time.process_time()
            tally.recording = True
            await self.measure(server, during)
            tally.recording = False
            t1, r1 = time.monotonic(), tally.received
            s1, l1 = server.cpu_seconds(), time.process_time()
            lost = 2 * pairs * window - (tally.sent - tally.received)
        finally:
            await close_all(clients)
        elapsed, got = t1 - t0, r1 - r0
        lat = sorted(tally.latencies_ns)
        result: dict[str, Any] = {
            "pairs": pairs, "window": window, "setup_s": setup_s, "elapsed_s": elapsed,
            "received": got, "throughput_msg_s": got / elapsed,
            "server_cpu_s": s1 - s0, "loadgen_cpu_s": l1 - l0,
            "server_cpu_util": (s1 - s0) / elapsed, "loadgen_cpu_util": (l1 - l0) / elapsed,
            "server_cpu_us_per_msg": (s1 - s0) / got * 1e6 if got else None,
            "loadgen_cpu_us_per_msg": (l1 - l0) / got * 1e6 if got else None,
            "capacity_msg_s": got / (s1 - s0) if s1 > s0 else None,
            **machine_load(),
            "latency_samples": len(lat),
            "unexpected": dict(tally.unexpected), "lost_connections": tally.lost,
            "messages_lost": lost,
        }
        for q, key in ((0.5, "p50"), (0.99, "p99"), (0.999, "p999")):
            result[f"latency_{key}_us"] = report.percentile(lat, q) / 1000 if lat else None
        result["latency_max_us"] = lat[-1] / 1000 if lat else None
        return result

    async def idle_rss(self, server: ServerProcess) -> dict[str, Any]:
        """RSS growth for N idle logged-in sessions (HELO, LOGN, STAT ONLINE), per session."""
        tally = Tally()
        n = self.o.rss_sessions
        names = [user_name(i) for i in range(n + 1)]
        warm = await self.open_sessions(server.port, tally, names[:1])
        await close_all(warm)
        await asyncio.sleep(0.5)
        before = server.rss_kib()
        half = n // 2
        started = time.monotonic()
        s0 = server.cpu_seconds()
        clients = await self.open_sessions(server.port, tally, names[1:1 + half])
        try:
            await asyncio.sleep(0.5)
            middle = server.rss_kib()
            clients += await self.open_sessions(server.port, tally, names[1 + half:1 + n])
            setup_s = time.monotonic() - started - 0.5
            cpu = server.cpu_seconds() - s0
            await asyncio.sleep(1.0)
            after = server.rss_kib()
        finally:
            await close_all(clients)
        return {
            "sessions": n, "rss_before_kib": before, "rss_middle_kib": middle,
            "rss_after_kib": after,
            "rss_per_session_bytes": (after - before) * 1024 / n,
            "rss_marginal_bytes": (after - middle) * 1024 / (n - half),
            "setup_logins_per_s": n / setup_s,
            "server_cpu_us_per_setup_login": cpu / n * 1e6,
            "unexpected": dict(tally.unexpected), "lost_connections": tally.lost,
        }

    async def measure(self, server: ServerProcess, during: During | None) -> None:
        """Sleep through the measured interval, with ``during`` running alongside."""
        if during is None:
            await asyncio.sleep(self.o.duration)
        else:
            await asyncio.gather(asyncio.sleep(self.o.duration), during(server))

    async def logins(self, server: ServerProcess, during: During | None = None
                     ) -> dict[str, Any]:
        """Concurrent cycles of connect, HELO, LOGN+DISC, close; each worker its own account."""
        loop = asyncio.get_running_loop()
        counts: Counter[str] = Counter()
        running = True

        async def worker(name: str) -> None:
            while running:
                probe = LoginProbe(name, PASSWORD, counts)
                try:
                    await asyncio.wait_for(loop.create_connection(
                        lambda p=probe: p, "127.0.0.1", server.port), 10)  # type: ignore[misc]
                    if not await asyncio.wait_for(probe.result, 10):
                        counts["failed"] += 1
                    await asyncio.wait_for(probe.closed, 10)
                except (OSError, TimeoutError) as error:
                    counts["failed"] += 1
                    counts[f"error {type(error).__name__}"] += 1
                    if probe.transport is not None:
                        probe.transport.abort()
                    await asyncio.sleep(0.01)

        tasks = [loop.create_task(worker(user_name(i)))
                 for i in range(self.o.login_concurrency)]
        try:
            await asyncio.sleep(self.o.warmup)
            t0, n0, f0 = time.monotonic(), counts["ok"], counts["failed"]
            s0, l0 = server.cpu_seconds(), time.process_time()
            await self.measure(server, during)
            t1, n1, f1 = time.monotonic(), counts["ok"], counts["failed"]
            s1, l1 = server.cpu_seconds(), time.process_time()
        finally:
            running = False
            await asyncio.wait(tasks, timeout=15)
            for task in tasks:
                task.cancel()
        elapsed, done = t1 - t0, n1 - n0
        return {
            "concurrency": self.o.login_concurrency, "elapsed_s": elapsed, "logins": done,
            "logins_per_s": done / elapsed, "failures": f1 - f0,
            "server_cpu_util": (s1 - s0) / elapsed, "loadgen_cpu_util": (l1 - l0) / elapsed,
            "server_cpu_us_per_login": (s1 - s0) / done * 1e6 if done else None,
            "loadgen_cpu_us_per_login": (l1 - l0) / done * 1e6 if done else None,
            "capacity_logins_s": done / (s1 - s0) if s1 > s0 else None,
            **machine_load(),
            "errors": {k: v for k, v in counts.items() if k.startswith("error")},
        }

    # -- the wire check -----------------------------------------------------------------

    async def transcript(self, server: ServerProcess) -> dict[str, Any]:
        """Every block two clients receive for the workload (the HELO challenge set apart)."""
        tally = Tally()
        a = await connect("127.0.0.1", server.port, tally, user_name(0), PASSWORD)
        b = await connect("127.0.0.1", server.port, tally, user_name(1), PASSWORD)
        a.raw_log, b.raw_log = [], []
        try:
            await a.log_in()
            await b.log_in()
            await asyncio.sleep(0.3)  # imipd: b's first-STAT work is done, b takes messages
            await a.request("MESG", (), (("To", b.name), ("ACK-Type", "always")), b"hello")
            await b.request("MESG", (), (("To", a.name), ("ACK-Type", "always")), b"")
            a.start_relay(b, 1)  # one message as the workload sends it (b has no partner)
            for _ in range(100):
                if len(b.raw_log) >= 6:  # HELO, LOGN, ACK, MESG, ACK, MESG
                    break
                await asyncio.sleep(0.02)
            a.running = False
            await a.request("PING")
            await a.request("DISC")
            await b.request("DISC")
            await asyncio.wait_for(asyncio.gather(a.closed, b.closed), 5)
        finally:
            await close_all([a, b])
        out: dict[str, Any] = {}
        for side, client in (("a", a), ("b", b)):
            blocks = []
            for raw in client.raw_log or ():
                if raw.startswith(b"HELO\r\n"):
                    challenge = raw.rpartition(b"\r\n\r\n")[2]
                    out[f"{side}_challenge"] = challenge.decode()
                    head = raw.split(b"\r\n", 2)[2][:-len(challenge)]
                    raw = b"HELO\r\n<size>\r\n" + head + b"<challenge>"
                elif raw.startswith(b"MESG\r\n") and raw.endswith(b"x" * 40):
                    raw = raw[:-60] + b"<60-byte body with a timestamp>"
                blocks.append(raw.decode("utf-8", "replace"))
            out[side] = blocks
        return out

    async def wire_check(self) -> dict[str, Any]:
        """Both servers get the same blocks; what they answer must be byte for byte the same.

        Only the HELO's random challenge (and so its size line) and the relayed
        message's timestamp may differ; each challenge must be a 32-bit decimal.
        """
        seen: dict[str, Any] = {}
        for kind in SERVERS:
            seen[kind] = await self.with_server(kind, self.transcript)
        problems = []
        for kind, got in seen.items():
            for side in ("a", "b"):
                challenge = got.pop(f"{side}_challenge", "")
                if not (challenge.isdigit() and int(challenge) < 2**32
                        and str(int(challenge)) == challenge):
                    problems.append(f"{kind} sent the challenge {challenge!r}")
            got.pop("exit_status", None)
            got.pop("imipd_source", None)
            if got.pop("server_log", None):
                problems.append(f"{kind} logged warnings during the wire check")
        if seen["imipd"] != seen["baseline"]:
            problems.append("the transcripts differ")
        return {"identical": not problems, "problems": problems, "transcripts": seen}


async def close_all(clients: list[Client]) -> None:
    """Close every client and wait (bounded) until their connections are gone."""
    for client in clients:
        client.close()
    if clients:
        await asyncio.wait([asyncio.ensure_future(c.closed) for c in clients], timeout=20)


def machine_load() -> dict[str, float | None]:
    """How busy the machine was with other work, at the end of a measured interval."""
    load = procs.machine_info().get("loadavg")
    return {"cpu_pressure_pct": procs.cpu_pressure(),
            "loadavg_1m": float(load[0]) if isinstance(load, tuple) else None}
