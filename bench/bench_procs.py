"""Server processes for the benchmarks: start pinned, read /proc, always stop.

Every process started here is registered in ``LIVE`` until it has exited, and
``kill_all`` (called from the load generator's ``finally`` and ``atexit``)
ends whatever is left, so no server outlives a benchmark, also on errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
BASELINE_SCRIPT = BENCH_DIR / "baseline_relay.py"
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_GRACE = 20.0
"""Seconds a server gets to exit after SIGTERM before SIGKILL (imipd's own grace is 10 s)."""

LIVE: set[subprocess.Popen[bytes]] = set()
"""Server processes started and not yet reaped."""


def raise_nofile() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (children inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def pin_self(core: int | None) -> str:
    """Pin this process to ``core`` (when the machine has it); returns what was done."""
    if core is None or not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    if core not in os.sched_getaffinity(0):
        return f"not pinned (core {core} not available)"
    os.sched_setaffinity(0, {core})
    return f"core {core}"


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bound and released; a race is unlikely and caught)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid``, all threads, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        rest = f.read().rpartition(")")[2].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def read_rss_kib(pid: int) -> int:
    """VmRSS of process ``pid`` in KiB (what /proc calls kB)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def imipd_source_hash() -> str:
    """A short fingerprint of the imipd package's source, to tell which code a run measured."""
    import hashlib

    import imipd

    root = Path(imipd.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def cpu_pressure() -> float | None:
    """Share of the last 10 s in which some runnable task waited for a CPU (PSI), percent.

    High values mean other work competed with the benchmark for the cores.
    """
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as f:
            first = f.readline().split()
    except OSError:
        return None
    for item in first:
        if item.startswith("avg10="):
            return float(item[6:])
    return None


def machine_info() -> dict[str, object]:
    """What this machine is, for the report (cores, CPU model, memory, kernel, load)."""
    info: dict[str, object] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
            elif line.startswith("cpu MHz") and "cpu_mhz" not in info:
                info["cpu_mhz"] = float(line.split(":", 1)[1])
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as f:
        info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    with contextlib.suppress(OSError):
        info["loadavg"] = os.getloadavg()
    return info


REGISTRATION_URL = "http://127.0.0.1:8080/register"
"""What both servers advertise in HELO (baseline_relay.py writes the same)."""


def imipd_command() -> list[str]:
    """How to run ``imipd``: the console script beside this Python, else ``-m``."""
    exe = Path(sys.executable).parent / "imipd"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "imipd.cli.imipd"]


LIFTED_LIMITS = {
    "--max-connections": "1000000",
    "--max-connections-per-address": "1000000",
    "--messages-per-second": "0",
}
"""imipd's policy limits that a loopback load test must lift: every client comes from
127.0.0.1, and each sends far more messages per second than a person does."""


def imipd_serve_flags() -> list[str]:
    """Flags for ``imipd serve`` under the benchmark, for those it has.

    Its web side (registration page, /metrics) stays on, as deployed, but on a free
    port so that it never collides; HELO then advertises the fixed Registration URL
    the baseline writes too. The per-address and per-session limits are lifted
    (``LIFTED_LIMITS``): they would refuse the workload, not measure it.
    """
    try:
        helptext = subprocess.run([*imipd_command(), "serve", "--help"], capture_output=True,
                                  text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    has = set(helptext.split())
    flags = []
    if "--web" in has:
        flags += ["--web", "127.0.0.1:0"]
    if "--public-url" in has:
        flags += ["--public-url", REGISTRATION_URL]
    elif "--registration-url" in has:
        flags += ["--registration-url", REGISTRATION_URL]
    for flag, value in LIFTED_LIMITS.items():
        if flag in has:
            flags += [flag, value]
    return flags


def _child_setup() -> None:
    """In the server child: lift the file descriptor limit (10,000 sessions need it).

    The child inherits the load generator's pinning; undo it, so that only
    ``taskset`` (or nothing, where it is missing) decides where the server runs.
    """
    raise_nofile()
    if hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, range(os.cpu_count() or 1))


@dataclass
class ServerProcess:
    """One server under test: ``imipd`` or ``baseline``, pinned, on 127.0.0.1:port."""

    kind: str
    port: int
    data_dir: Path | None = None
    core: int | None = 0
    baseline_uvloop: bool = False
    extra_args: tuple[str, ...] = ()
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    pinned: str = "not pinned"
    _log_file: object = field(default=None, repr=False)

    def command(self) -> list[str]:
        """The command line, with ``taskset -c CORE`` in front where taskset exists."""
        listen = f"127.0.0.1:{self.port}"
        if self.kind == "imipd":
            assert self.data_dir is not None
            cmd = [*imipd_command(), "serve", "--data-dir", str(self.data_dir), "--listen", listen,
                   "--log-level", "warning", *self.extra_args]
        elif self.kind == "baseline":
            cmd = [sys.executable, str(BASELINE_SCRIPT), "--listen", listen]
            if self.baseline_uvloop:
                cmd.append("--uvloop")
        else:
            raise ValueError(f"unknown server kind {self.kind!r}")
        taskset = shutil.which("taskset")
        cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
        if taskset and self.core is not None and (os.cpu_count() or 1) > 1:
            self.pinned = f"taskset -c {self.core}"
            cmd = [taskset, "-c", str(self.core), *cmd]
        elif self.core is not None and cores:
            self.pinned = "not pinned (no taskset)"
        return cmd

    async def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start the server and wait until it accepts connections."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMIPD_")}
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._log_file = log
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            preexec_fn=_child_setup, start_new_session=True)
        LIVE.add(self.proc)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} at start"
                                   f"{self._log_tail()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if time.monotonic() > deadline:
                    await self.stop()
                    raise RuntimeError(f"{self.kind} did not listen within {timeout} s"
                                       f"{self._log_tail()}") from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return self

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n" + self.log_path.read_text(errors="replace")[-2000:]

    @property
    def pid(self) -> int:
        """The server's process id (taskset execs the server: the same process)."""
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """The server's CPU time so far (user + system, all threads)."""
        return read_cpu_seconds(self.pid)

    def rss_kib(self) -> int:
        """The server's resident set size now, KiB."""
        return read_rss_kib(self.pid)

    def problems(self) -> str:
        """Warnings or errors the server logged (its log level is ``warning``)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace").strip()

    async def stop(self) -> int | None:
        """SIGTERM, wait up to STOP_GRACE, then SIGKILL. Returns the exit status."""
        proc = self.proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + STOP_GRACE
                while proc.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                if proc.poll() is None:
                    proc.kill()
            return proc.wait(timeout=10)
        finally:
            LIVE.discard(proc)
            log = self._log_file
            if log is not None and log is not subprocess.DEVNULL and hasattr(log, "close"):
                log.close()


def kill_all() -> None:
    """Kill every server process still alive (errors, interrupts, exit)."""
    for proc in list(LIVE):
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        LIVE.discard(proc)
