"""Start a real ``imipd serve`` in a subprocess on a temporary data directory."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent
IMIPD = str(BIN / "imipd")

_LISTENING = re.compile(r"imipd listening on \S*?:(\d+)")
_WEB = re.compile(r"imipd web side on (http://\S+?:\d+)")


def imipd(*args: str, data_dir: Path, check: bool = True,
          input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one ``imipd`` command on ``data_dir``."""
    return subprocess.run([IMIPD, *args, "--data-dir", str(data_dir)], capture_output=True,
                          text=True, check=check, input=input, timeout=60)


class ImipdServer:
    """A running ``imipd serve``: its port, its log, and ways to stop it."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.log: list[str] = []

    def start(self, timeout: float = 20.0) -> ImipdServer:
        listen = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [IMIPD, "serve", "--data-dir", str(self.data_dir), "--listen", listen,
             "--web", "127.0.0.1:0", "--log-level", "debug", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        ready = threading.Event()
        listening: list[int] = []  # this start's port: a restart must bind again
        assert self.proc.stderr is not None
        stderr = self.proc.stderr

        def read_log() -> None:
            for line in stderr:
                self.log.append(line.rstrip("\n"))
                match = _LISTENING.search(line)
                if match:
                    listening.append(int(match.group(1)))
                    ready.set()
            ready.set()

        threading.Thread(target=read_log, daemon=True).start()
        if not ready.wait(timeout) or not listening:
            raise RuntimeError("imipd did not start:\n" + "\n".join(self.log))
        self.port = listening[0]
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` and wait; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        status = self.proc.wait(timeout)
        time.sleep(0.05)  # let the log reader drain
        return status

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> ImipdServer:
        """Start again on the same port and data directory."""
        return self.start()

    def log_text(self) -> str:
        return "\n".join(self.log)

    @property
    def web_url(self) -> str:
        """The web side of the latest start (``http://HOST:PORT``)."""
        return [match.group(1) for line in self.log if (match := _WEB.search(line))][-1]
