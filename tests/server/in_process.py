"""An ``imipd`` server in this process, on a thread of its own, for tests that put parts in."""

from __future__ import annotations

import asyncio
import threading

from imipd.server import app
from imipd.server import config as cfg


class InProcessServer:
    """``imipd``'s ``Server`` on an event loop of its own thread."""

    def __init__(self, config: cfg.Config) -> None:
        self.server = app.Server(config)
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        if not self._started.wait(20):
            raise RuntimeError("the server did not start")
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as error:
            self._error = error
            self._started.set()
            return
        self._started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.stop("test over"))
        self.loop.close()

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the server did not stop"
