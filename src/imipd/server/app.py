"""The server process: listener, idle sweep, control socket, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path

from ..core import Service, Settings
from ..router import LocalRouter
from ..store.sqlite import SqliteStore
from . import control
from .config import Config, parse_hostport
from .connection import Connection

log = logging.getLogger("imipd.server")

SHUTDOWN_GRACE = 10.0


def settings_from(config: Config) -> Settings:
    """The core's view of the configuration."""
    return Settings(
        service=config.service,
        service_display_name=config.service_display_name,
        registration_url=config.advertised_registration_url,
        keep_alive=config.keep_alive,
        digest_order=config.digest,
        login_failures=config.login_failures,
        login_window=float(config.login_window),
        error_reasons=config.error_reasons,
    )


class Server:
    """One imipd node on embedded defaults: SQLite store, in-process router."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.connections: set[Connection] = set()
        self.service: Service | None = None
        self.store: SqliteStore | None = None
        self._listener: asyncio.Server | None = None
        self._control: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def idle_timeout(self) -> float:
        return 2 * self.config.keep_alive + 10

    async def start(self) -> None:
        config = self.config
        data_dir = Path(config.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = await SqliteStore.open(data_dir, synchronous=config.sqlite_synchronous)
        self.service = Service(settings_from(config), self.store, LocalRouter())
        try:
            self._control = await control.start(data_dir, self.service.kick)
            host, port = parse_hostport(config.listen, "listen")
            limits = config.limits
            service = self.service
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: Connection(self, service, limits), host, port, reuse_address=True)
        except BaseException:
            await self.store.close()
            raise
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_idle())
        log.info("imipd listening on %s (data in %s, keep-alive %d s)",
                 ", ".join(self.addresses()), data_dir, config.keep_alive)

    def addresses(self) -> list[str]:
        if self._listener is None:
            return []
        out = []
        for sock in self._listener.sockets:
            host, port = sock.getsockname()[:2]
            out.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        return out

    @property
    def port(self) -> int:
        assert self._listener is not None
        return int(self._listener.sockets[0].getsockname()[1])

    async def _sweep_idle(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            cutoff = time.monotonic() - self.idle_timeout
            for connection in list(self.connections):
                if connection.last_seen < cutoff:
                    connection.say_goodbye("idle timeout")

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        await self.start()
        await self._stopping.wait()
        await self.stop("server shutting down")

    async def stop(self, reason: str) -> None:
        """Stop listening, say DISC to every connection, finish in-flight work, close."""
        log.info("shutting down: %s", reason)
        if self._listener is not None:
            self._listener.close()
        if self._control is not None:
            self._control.close()
            control.socket_path(Path(self.config.data_dir)).unlink(missing_ok=True)
        if self._sweeper is not None:
            self._sweeper.cancel()
        connections = list(self.connections)
        for connection in connections:
            connection.say_goodbye(reason)
        if connections:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in connections],
                               timeout=SHUTDOWN_GRACE)
        if self.store is not None:
            await self.store.close()
        log.info("stopped")
