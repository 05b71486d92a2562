"""Fixtures of the web tests: a real ``imipd serve`` with its web side, and a real browser.

The browser is Debian's ``chromium`` driven by Playwright (never ``playwright
install``); ``scripts/ensure-chromium`` (run by ``make test``) installs it. Without
it, the browser tests fail and say what to install; the HTTP-level tests still run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.server.imipd_process import ImipdServer

from .webclient import WebClient

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ADMIN_TOKEN = "test-admin-token-0123456789"

_WEB = re.compile(r"imipd web side on (http://\S+?:\d+)")


@dataclass
class WebServer:
    """A running server: its IMIP port, its web base URL, the process."""

    process: ImipdServer
    base: str

    @property
    def port(self) -> int:
        return self.process.port

    def client(self) -> WebClient:
        return WebClient(self.base)


def start_server(data_dir: Path, *flags: str) -> WebServer:
    process = ImipdServer(data_dir, "--web", "127.0.0.1:0", *flags).start()
    for line in process.log:
        match = _WEB.search(line)
        if match:
            return WebServer(process, match.group(1).rstrip(","))
    process.kill()
    raise RuntimeError("no web side in the log:\n" + process.log_text())


WebServerFactory = Callable[..., WebServer]


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[WebServerFactory]:
    """Start servers with given flags (``--web 127.0.0.1:0`` always); stopped at the end."""
    started: list[WebServer] = []

    def start(*flags: str) -> WebServer:
        server = start_server(tmp_path / f"data{len(started)}", *flags)
        started.append(server)
        return server

    yield start
    for server in started:
        server.process.kill()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """One server for a module's tests that do not depend on each other: admin API on,
    a sign-up limit high enough never to matter."""
    server = start_server(tmp_path_factory.mktemp("shared"), "--admin-token", ADMIN_TOKEN,
                          "--signups-per-hour", "1000")
    yield server
    server.process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless chromium for one module (Playwright's sync API holds an event loop on this
    thread while it runs, so it is closed before other modules may call ``asyncio.run``)."""
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: install Debian's chromium package "
                    "(scripts/ensure-chromium as root does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies) and page."""
    context = browser.new_context(viewport={"width": 1024, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()
