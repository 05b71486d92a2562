"""The one configuration object: every option's type, default, bounds and help.

Values come from, in rising precedence: the defaults below, a TOML file
(``--config FILE``), environment variables ``IMIPD_<KEY>``, and command-line
flags. Each resolved value remembers where it came from (``imipd config show``).
A bad value fails at load time with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.accounts import MAX_PASSWORD, MIN_PASSWORD_LENGTH
from ..protocol import DigestOrder, Limits
from ..store.keyfile import KEY_FILE_NAME
from ..store.sqlite import DB_FILE_NAME
from .eventloop import CHOICES as EVENT_LOOPS

_LIMITS = Limits()


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/imipd``, or ``~/.local/share/imipd``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "imipd"


class ConfigError(Exception):
    """A configuration value is wrong; the message names the key."""


def _opt(default: Any, help: str, *, lo: int | None = None, hi: int | None = None,
         choices: tuple[str, ...] | None = None, restart: bool = False) -> Any:
    """An option. ``restart``: bound when the server starts, so a reload cannot change it."""
    return field(default=default, metadata={"help": help, "lo": lo, "hi": hi, "choices": choices,
                                            "restart": restart})


@dataclass(frozen=True)
class Config:
    """Every option of ``imipd``. Field order is the order of ``config show`` and the docs."""

    data_dir: Path = field(default_factory=default_data_dir, metadata={
        "help": "where the database and the password key live "
                "(default: $XDG_DATA_HOME/imipd or ~/.local/share/imipd)",
        "default_text": "~/.local/share/imipd", "restart": True})
    store: str = _opt("", "where accounts, contacts and stored messages are kept: sqlite:PATH "
                          "(the database file; empty: imipd.sqlite3 in the data directory) or "
                          "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB (several nodes)",
                      restart=True)
    key_file: str = _opt("", "the service's password key (every node of a service uses the same "
                             "one; empty: secret.key in the data directory, made 0600 when "
                             "missing)", restart=True)
    router: str = _opt("local", "how sessions reach each other: local (one node)", restart=True)
    node_id: str = field(default_factory=socket.gethostname, metadata={
        "help": "this node's name in logs and health checks (default: the host name)",
        "default_text": "the host name", "restart": True})
    listen: str = _opt("*:11319", "IMIP listener, HOST:PORT; * means every interface",
                       restart=True)
    web: str = _opt("127.0.0.1:8080", "web listener (registration page, /healthz, /metrics, "
                                      "admin API), HOST:PORT; off (or empty) disables it",
                    restart=True)
    public_url: str = _opt(
        "", "the Registration URL HELO advertises, as people reach it "
            "(default: http://<web>/register)")
    registration: bool = _opt(True, "let people sign up on the registration page "
                                    "(off: the page says so and refuses sign-ups)")
    first_number: int = _opt(1000000, "the first account number self-registration hands out",
                             lo=0, hi=10**15)
    signups_per_hour: int = _opt(5, "sign-ups per client address per hour", lo=1, hi=1000000)
    min_password_length: int = _opt(
        MIN_PASSWORD_LENGTH, "shortest password, in characters, for every way an account is "
                             "made or its password changed (sign-up page, imipd user, admin "
                             "API); a password may never be the nickname",
        lo=1, hi=MAX_PASSWORD)
    trust_forwarded_for: bool = _opt(
        False, "take the client address from X-Forwarded-For (only behind your reverse proxy)")
    admin_token: str = field(default="", metadata={
        "help": "bearer token of the JSON admin API under /api/ (empty: the API is off); "
                "prefer IMIPD_ADMIN_TOKEN or the config file to the flag", "secret": True})
    service: str = _opt("localhost", "the service's domain, sent in HELO as Service")
    service_display_name: str = _opt("imipd",
                                     "the service's name for people (ServiceDisplayName)")
    keep_alive: int = _opt(60, "seconds between client PINGs (HELO Keep-Alive); "
                               "idle connections close after 2 x this + 10", lo=5, hi=3600)
    digest_order: str = _opt(
        "challenge-password",
        "what imip-md5 hashes: challenge then password (imipd), or the reverse",
        choices=tuple(o.value for o in DigestOrder))
    login_failures: int = _opt(10, "failed logins per address before ACK 830", lo=1, hi=100000)
    login_window: int = _opt(60, "seconds the failed-login count of an address covers",
                             lo=1, hi=86400)
    error_reasons: bool = _opt(False,
                               "put a short human-readable reason in the body of error ACKs")
    max_type_line: int = _opt(_LIMITS.type_line, "longest type line, bytes", lo=64, hi=65536)
    max_header_count: int = _opt(_LIMITS.header_count, "most header lines in a block",
                                 lo=8, hi=4096)
    max_header_line: int = _opt(_LIMITS.header_line, "longest header line, bytes", lo=64, hi=65536)
    max_block_size: int = _opt(_LIMITS.block_size, "largest block (size line), bytes",
                               lo=1024, hi=16 * 1024 * 1024)
    max_mesg_body: int = _opt(_LIMITS.mesg_body, "largest MESG body, bytes",
                              lo=1, hi=16 * 1024 * 1024)
    max_stat_text: int = _opt(_LIMITS.stat_text, "largest STAT status text, bytes", lo=1, hi=65536)
    max_list_add_text: int = _opt(_LIMITS.list_add_text, "largest LIST ADD request text, bytes",
                                  lo=1, hi=65536)
    login_timeout: int = _opt(60, "seconds a connection has to greet and log in", lo=5, hi=3600)
    block_timeout: int = _opt(30, "seconds a client has to finish a block it started sending",
                              lo=1, hi=3600)
    max_connections: int = _opt(10000, "connections at once, in all", lo=1, hi=1000000)
    max_connections_per_address: int = _opt(64, "connections at once from one address",
                                            lo=1, hi=1000000)
    max_output_buffer: int = _opt(1024 * 1024, "bytes waiting for a peer that does not read "
                                               "before it is disconnected",
                                  lo=64 * 1024, hi=1024 * 1024 * 1024)
    max_stored_per_user: int = _opt(10000, "messages kept for one recipient who is away; "
                                           "more are refused with 821", lo=1, hi=10**8)
    messages_per_second: int = _opt(50, "MESG blocks one session may send per second on "
                                        "average (0: no limit); over it: 830", lo=0, hi=10**7)
    message_burst: int = _opt(200, "MESG blocks one session may send at once above the rate",
                              lo=1, hi=10**7)
    requests_per_hour: int = _opt(60, "permission requests (LIST ADD) one session may send "
                                      "per hour (0: no limit); over it: 830", lo=0, hi=10**7)
    sqlite_synchronous: str = _opt("full", "SQLite synchronous mode: full survives power loss, "
                                           "normal survives a crashed process",
                                   choices=("full", "normal"), restart=True)
    event_loop: str = _opt("auto", "the event loop: auto (uvloop when installed, else "
                                   "asyncio's own), uvloop or asyncio",
                           choices=EVENT_LOOPS, restart=True)
    log_level: str = _opt("info", "log level", choices=("debug", "info", "warning", "error"))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check(f, getattr(self, f.name))
        parse_hostport(self.listen, "listen")
        store_location(self.store, Path(self.data_dir))
        if self.router != "local":
            raise ConfigError(f"router = {self.router!r}: expected local (several nodes on a "
                              "shared router are not supported yet)")
        if not _NODE_ID.fullmatch(self.node_id):
            raise ConfigError(f"node_id = {self.node_id!r}: 1-64 characters of A-Z a-z 0-9 . _ -")
        if self.web.strip().lower() not in WEB_OFF:
            parse_hostport(self.web, "web")
        if self.public_url and not _PUBLIC_URL.fullmatch(self.public_url):
            raise ConfigError(f"public_url = {self.public_url!r}: expected an http:// or "
                              "https:// URL without spaces")
        if self.admin_token and len(self.admin_token) < MIN_ADMIN_TOKEN:
            raise ConfigError(f"admin_token: must be at least {MIN_ADMIN_TOKEN} characters "
                              "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe())')")

    @property
    def limits(self) -> Limits:
        """The parser limits these options set."""
        return Limits(
            type_line=self.max_type_line,
            header_count=self.max_header_count,
            header_line=self.max_header_line,
            block_size=self.max_block_size,
            mesg_body=self.max_mesg_body,
            stat_text=self.max_stat_text,
            list_add_text=self.max_list_add_text,
        )

    @property
    def location(self) -> SqliteFile | PostgresUrl:
        """Where ``store`` says the data is."""
        return store_location(self.store, Path(self.data_dir))

    @property
    def database(self) -> Path:
        """The SQLite database file ``store`` names (the default one in ``data_dir``).
        Raises ``ConfigError`` when the store is PostgreSQL."""
        location = self.location
        if not isinstance(location, SqliteFile):
            raise ConfigError("this works on an SQLite store only; the store is PostgreSQL")
        return location.path

    @property
    def key_path(self) -> Path:
        """The password key file (``key_file``, or ``secret.key`` in the data directory)."""
        return Path(self.key_file).expanduser() if self.key_file else (
            Path(self.data_dir) / KEY_FILE_NAME)

    @property
    def digest(self) -> DigestOrder:
        return DigestOrder(self.digest_order)

    @property
    def web_address(self) -> tuple[str | None, int] | None:
        """Where the web side listens; None when it is off."""
        if self.web.strip().lower() in WEB_OFF:
            return None
        return parse_hostport(self.web, "web")

    def advertised_public_url(self, web_port: int | None = None) -> str:
        """What HELO advertises as ``Registration``: ``public_url``, else the page on ``web``
        (on ``web_port`` when given: the port actually bound for ``web = "HOST:0"``);
        empty when the web side is off and no ``public_url`` is set."""
        if self.public_url:
            return self.public_url
        address = self.web_address
        if address is None:
            return ""
        host, port = address
        if host is None or host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port if web_port is None else web_port}/register"


WEB_OFF = ("", "off", "none", "false", "no")
"""Values of ``web`` that turn the web side off."""
MIN_ADMIN_TOKEN = 16
_PUBLIC_URL = re.compile(r"https?://[!-~]+", re.IGNORECASE)
_NODE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class SqliteFile:
    """``store = "sqlite:PATH"`` (or empty): the embedded store, in one file."""

    path: Path


@dataclass(frozen=True)
class PostgresUrl:
    """``store = "postgresql://…"``: a PostgreSQL database that several nodes may share."""

    url: str


_POSTGRES = re.compile(r"postgres(?:ql)?://[^\s]+", re.IGNORECASE)


def store_location(store: str, data_dir: Path) -> SqliteFile | PostgresUrl:
    """What ``store`` names: an SQLite file (empty: the one in ``data_dir``) or a PostgreSQL
    database. Raises ``ConfigError`` for anything else."""
    if not store:
        return SqliteFile(data_dir / DB_FILE_NAME)
    if _POSTGRES.fullmatch(store):
        return PostgresUrl(store)
    kind, colon, path = store.partition(":")
    if kind != "sqlite" or not colon or not path:
        raise ConfigError(f"store = {store!r}: expected sqlite:PATH (the database file) or "
                          "postgresql://USER@HOST:PORT/DB")
    return SqliteFile(Path(path).expanduser())


def _check(f: dataclasses.Field[Any], value: Any) -> None:
    meta = f.metadata
    if meta.get("lo") is not None and not meta["lo"] <= value <= meta["hi"]:
        raise ConfigError(f"{f.name} = {value!r}: must be between {meta['lo']} and {meta['hi']}")
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{f.name} = {value!r}: must be one of {', '.join(meta['choices'])}")


def parse_hostport(text: str, key: str = "address") -> tuple[str | None, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too); host ``*`` or empty means every interface (None)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{key} = {text!r}: expected HOST:PORT")
    host = host.strip("[]")
    return (None if host in ("", "*") else host), int(port)


def fields() -> tuple[dataclasses.Field[Any], ...]:
    """The option definitions, in order."""
    return dataclasses.fields(Config)


def needs_restart() -> tuple[str, ...]:
    """The options a reload (SIGHUP) cannot change: they are bound when the server starts."""
    return tuple(f.name for f in fields() if f.metadata.get("restart"))


def toml_value(value: Any) -> str:
    """``value`` as it is written in the TOML config file: ``true``/``false``, numbers as they
    are, anything else (paths too) a quoted string, ``""`` when empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    # a JSON string is a valid TOML basic string (the same escapes)
    return json.dumps(str(value), ensure_ascii=False)


def default_text(f: dataclasses.Field[Any]) -> str:
    """An option's default as people read it."""
    if "default_text" in f.metadata:
        return str(f.metadata["default_text"])
    return str(f.default)


def _coerce(f: dataclasses.Field[Any], raw: Any, where: str) -> Any:
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    try:
        if kind == "Path":
            if not isinstance(raw, str | Path):
                raise TypeError
            return Path(raw).expanduser()
        if kind == "int":
            if isinstance(raw, bool):
                raise TypeError
            return int(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if not isinstance(raw, str):
            raise TypeError
        return raw
    except (TypeError, ValueError):
        raise ConfigError(f"{f.name} = {raw!r} ({where}): expected {kind}") from None


@dataclass(frozen=True)
class Loaded:
    """A resolved configuration and where each value came from."""

    config: Config
    sources: Mapping[str, str]


def load(
    file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Loaded:
    """Resolve defaults < file < environment < flags. Raises ``ConfigError``."""
    environ = os.environ if environ is None else environ
    by_name = {f.name: f for f in fields()}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {name: "default" for name in by_name}
    if file is not None:
        try:
            data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"cannot read config file {file}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {file}: {error}") from None
        for key, raw in data.items():
            if key not in by_name:
                raise ConfigError(f"{key}: unknown option in {file}")
            values[key] = _coerce(by_name[key], raw, str(file))
            sources[key] = f"file {file}"
    for name, f in by_name.items():
        env = f"IMIPD_{name.upper()}"
        if env in environ:
            values[name] = _coerce(f, environ[env], f"environment {env}")
            sources[name] = f"environment {env}"
    for name, raw in (flags or {}).items():
        if raw is not None:
            values[name] = _coerce(by_name[name], raw, f"flag --{name.replace('_', '-')}")
            sources[name] = "flag"
    return Loaded(Config(**values), sources)
