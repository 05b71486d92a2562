"""The server process: listener, web side, idle sweep, control socket, graceful shutdown."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

from ..core import Service, Settings
from ..imip import Front, ImipSettings
from ..protocol import reasons
from ..store import Journal, Store, keyfile
from ..store.identity import identities, worn
from ..web import WebSettings, WebSide
from ..web.csrf import derive_secret
from . import control, eventloop
from .backends import open_journal, open_router, open_store
from .config import Config, ConfigError, PostgresUrl, needs_restart, parse_hostport
from .connection import Connection, Gate

log = logging.getLogger("imipd.server")

SHUTDOWN_GRACE = 10.0
"""Seconds connections get to finish after the server's DISC before they are cut."""
ABORTED_GRACE = 2.0
"""Seconds the sessions of cut connections get to end (watchers told) before the store
closes."""
DELIVERIES_KEPT = 24 * 3600.0
"""Seconds the store remembers which connection took a stored message (so that a journal
replayed later cannot store it again): far longer than any journal waits to be replayed."""
TIDY_EVERY = 3600.0
"""Seconds between forgetting old deliveries (and checking the identities last)."""


def settings_from(config: Config) -> Settings:
    """The core's view of the configuration."""
    return Settings(
        login_failures=config.login_failures,
        login_window=float(config.login_window),
        messages_per_second=config.messages_per_second,
        message_burst=config.message_burst,
        requests_per_hour=config.requests_per_hour,
        max_stored_per_user=config.max_stored_per_user,
        held_limit=config.max_output_buffer,
    )


def imip_settings_from(config: Config, web_port: int | None = None) -> ImipSettings:
    """The IMIP front's view of the configuration (``web_port``: the web side's bound port)."""
    return ImipSettings(
        service=config.service,
        service_display_name=config.service_display_name,
        public_url=config.advertised_public_url(web_port),
        keep_alive=config.keep_alive,
        digest_order=config.digest,
        error_reasons=config.error_reasons,
    )


def web_settings_from(config: Config, imip_port: int, public_url: str) -> WebSettings:
    """The web side's view of the configuration; CSRF key derived from ``secret.key``."""
    try:
        csrf_secret = derive_secret(keyfile.read_key(config.key_path))
    except keyfile.KeyFileError as error:
        log.warning("sign-up forms use a per-process key: %s", error)
        csrf_secret = b""
    return WebSettings(
        imip_port=imip_port,
        service_display_name=config.service_display_name,
        public_url=public_url,
        registration=config.registration,
        first_number=config.first_number,
        signups_per_hour=config.signups_per_hour,
        min_password_length=config.min_password_length,
        trust_forwarded_for=config.trust_forwarded_for,
        admin_token=config.admin_token,
        csrf_secret=csrf_secret,
    )


def _where(config: Config) -> str:
    """The store, for the log (a PostgreSQL URL without its password)."""
    location = config.location
    if isinstance(location, PostgresUrl):
        from ..store.postgres import redacted

        return redacted(location.url)
    return str(location.path)


class Server:
    """One imipd node: the IMIP listener, the web side, and the backends ``config`` names."""

    def __init__(self, config: Config, reload: Callable[[], Config] | None = None) -> None:
        self.config = config
        self._load_again = reload
        self.connections: set[Connection] = set()
        self._per_address: collections.Counter[str] = collections.Counter()
        self.service: Service | None = None
        self.front: Front | None = None
        self.store: Store | None = None
        self.journal: Journal | None = None
        self._listener: asyncio.Server | None = None
        self._control: asyncio.AbstractServer | None = None
        self.web: WebSide | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._tidier: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def idle_timeout(self) -> float:
        return 2 * self.config.keep_alive + 10

    async def start(self) -> None:
        config = self.config
        data_dir = Path(config.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = store = await open_store(config)
        try:
            self._control = await control.start(  # one server per data directory
                data_dir, self._kick, self._listeners)
            self.journal = journal = await open_journal(config, store)
            self.service = service = Service(settings_from(config), store, open_router(config),
                                             journal)
            self.front = front = Front(service, imip_settings_from(config), config.limits)
            host, port = parse_hostport(config.listen, "listen")
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: Connection(front, self._gate()), host, port,
                reuse_address=True, start_serving=False)
            await self._start_web(service, front)
            await self._listener.start_serving()
        except BaseException:
            await self._close_listeners()
            if self.journal is not None:
                await self.journal.close()
            await store.close()
            raise
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_idle())
        self._tidier = asyncio.get_running_loop().create_task(self._tidy())
        log.info("imipd listening on %s (node %s, store %s, router %s, keep-alive %d s, %s)",
                 ", ".join(self.addresses()), config.node_id, _where(config), config.router,
                 config.keep_alive, eventloop.describe())

    def _gate(self) -> Gate:
        """What a new connection needs of this server, under the configuration of now."""
        assert self.journal is not None
        return Gate(self.admit, self.release, self.config.max_output_buffer, self.journal)

    def _listeners(self) -> dict[str, list[tuple[str, int]]]:
        """What this server has bound, for ``imipd check`` (through the control socket)."""
        found: dict[str, list[tuple[str, int]]] = {"listen": [], "web": []}
        if self._listener is not None:
            found["listen"] = [sock.getsockname()[:2] for sock in self._listener.sockets]
        if self.web is not None:
            found["web"] = self.web.bound()
        return found

    async def _kick(self, key: str, reason: str) -> int:
        return 0 if self.service is None else await self.service.kick(key, reason)

    async def _start_web(self, service: Service, front: Front) -> None:
        """Bind the web side, then settle what HELO advertises (its port may be 0 in config)."""
        address = self.config.web_address
        if address is None:
            log.info("web side off; HELO advertises Registration %s",
                     front.settings.public_url or "(none)")
            return
        self.web = WebSide(service, web_settings_from(self.config, self.port, ""),
                           imip_listening=self.imip_listening,
                           connections=lambda: len(self.connections), wire=front.stats)
        port = await self.web.start(*address)
        front.advertise(self.config.advertised_public_url(port))
        self.web.reconfigure(web_settings_from(self.config, self.port, front.settings.public_url))
        if not self.config.public_url and address[0] in (None, "0.0.0.0", "::"):
            log.warning("the web side listens on every interface but HELO advertises %s: "
                        "set public_url to the address people reach", front.settings.public_url)
        log.info("imipd web side on %s (registration %s, admin API %s); HELO advertises "
                 "Registration %s", ", ".join(self.web.addresses()),
                 "on" if self.config.registration else "off",
                 "on" if self.config.admin_token else "off", front.settings.public_url)

    def imip_listening(self) -> bool:
        """Whether the IMIP listener accepts connections (for /healthz)."""
        return self._listener is not None and self._listener.is_serving()

    async def _close_listeners(self) -> None:
        if self._listener is not None:
            self._listener.close()
        if self._control is not None:
            self._control.close()
            control.socket_path(Path(self.config.data_dir)).unlink(missing_ok=True)
        if self.web is not None:
            await self.web.stop()

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

    def admit(self, connection: Connection) -> str | None:
        """Count a new connection in; the reason to refuse it when over a limit."""
        if len(self.connections) >= self.config.max_connections:
            return reasons.TOO_MANY_CONNECTIONS
        if self._per_address[connection.peer] >= self.config.max_connections_per_address:
            return reasons.TOO_MANY_FROM_ADDRESS
        self.connections.add(connection)
        self._per_address[connection.peer] += 1
        return None

    def release(self, connection: Connection) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            self._per_address[connection.peer] -= 1
            if not self._per_address[connection.peer]:
                del self._per_address[connection.peer]

    async def _sweep_idle(self) -> None:
        """Once a second: messages the peers have acknowledged, idle connections, logins
        that take too long, slow senders (none of them while its input waits unread in the
        kernel: a server that was held up has not read it yet), and the journal's room. A
        failure with one connection is logged, and the sweep goes on."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            config = self.config
            for connection in list(self.connections):
                try:
                    if (user := connection.user) is not None:
                        user.acknowledge()  # retire what the peer has
                    reason = None
                    if connection.last_seen < now - self.idle_timeout:
                        reason = reasons.IDLE
                    elif (connection.block_since is not None
                          and connection.block_since < now - config.block_timeout):
                        reason = reasons.BLOCK_TIMEOUT
                    elif (not connection.signed_in
                          and connection.connected_at < now - config.login_timeout):
                        reason = reasons.LOGIN_TIMEOUT
                    if reason is not None and not connection.input_waiting():
                        connection.say_goodbye(reason)
                except Exception:
                    log.exception("%s: the idle sweep failed", connection.conn_id)
            if self.journal is not None:
                self.journal.flush()  # retirements; and room again, after a full disk

    async def _tidy(self) -> None:
        """Now and then: forget which connection took stored messages long ago, and start a
        new incarnation before the message identities of this one run out."""
        assert self.store is not None and self.journal is not None
        while True:
            try:
                await self.store.forget_deliveries(time.time() - DELIVERIES_KEPT)
                if worn(self.journal.next_id()):
                    self.journal.next_id = identities(await self.store.new_incarnation())
            except Exception as error:  # (a store that cannot write says so itself)
                log.warning("tidying the store failed: %s", error)
            await asyncio.sleep(TIDY_EVERY)

    def reload(self) -> None:
        """SIGHUP: read the configuration again and apply what can change while running.

        Limits apply to connections made from now on; keep-alive, HELO values, the
        login throttle, error reasons, sign-up settings and the log level at once. A
        bad configuration is refused and the running one kept.
        """
        if self._load_again is None or self.service is None or self.front is None:
            log.warning("reload: no configuration source to read again")
            return
        try:
            new = self._load_again()
        except ConfigError as error:
            log.error("reload refused, the running configuration stays: %s", error)
            return
        old = self.config
        fixed = needs_restart()
        for key in fixed:
            if getattr(new, key) != getattr(old, key):
                log.warning("reload: %s changed; it takes effect after a restart", key)
        new = dataclasses.replace(new, **{key: getattr(old, key) for key in fixed})
        self.config = new
        logging.getLogger().setLevel(new.log_level.upper())
        self.service.reconfigure(settings_from(new))
        web_port = self.web.port if self.web is not None else None
        self.front.reconfigure(imip_settings_from(new, web_port), new.limits)
        if self.web is not None:
            self.web.reconfigure(web_settings_from(new, self.port, self.front.settings.public_url))
        log.info("configuration reloaded")

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        await self.start()
        await self._stopping.wait()
        await self.stop(reasons.SHUTDOWN)

    async def stop(self, reason: str) -> None:
        """Stop listening, say DISC to every connection, let in-flight work finish (cutting
        what does not in time), and only then close the store."""
        log.info("shutting down: %s", reason)
        await self._close_listeners()
        for task in (self._sweeper, self._tidier):
            if task is not None:
                task.cancel()
        connections = list(self.connections)
        for connection in connections:
            connection.say_goodbye(reason)
        if connections:
            waits = {asyncio.ensure_future(c.wait_closed()): c for c in connections}
            _, late = await asyncio.wait(waits, timeout=SHUTDOWN_GRACE)
            if late:
                log.warning("%d connection(s) did not close in %.0f s: cut", len(late),
                            SHUTDOWN_GRACE)
                for waiting in late:
                    waits[waiting].abort()
                _, late = await asyncio.wait(late, timeout=ABORTED_GRACE)
                for waiting in late:
                    waiting.cancel()
        if self.journal is not None:
            await self.journal.close()  # what is not retired stays on record
        if self.store is not None:
            await self.store.close()
        log.info("stopped")
