"""Profile imipd under the benchmark's own workloads (``loadgen.py --profile``).

The relay workload (C pairs, W in flight) and the login cycles run against imipd
exactly as in the benchmark; during the measured interval ``py-spy`` samples the
server from outside (no change to the server): first a raw collapsed-stack
record, summarized into a text table of hot spots, then a flame graph SVG.
Without py-spy, imipd runs under ``pyinstrument`` instead, which writes a text
profile (of the whole server run) when the server exits. Everything lands in bench/results/.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import bench_procs as procs
from bench_scenarios import Bench, Options

RATE = 400
"""py-spy samples per second."""


def _py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


async def _py_spy_record(pid: int, seconds: float, fmt: str, out: Path) -> None:
    """One py-spy record of ``pid`` (function-level aggregation); killed if it overruns."""
    exe = _py_spy()
    assert exe is not None
    proc = await asyncio.create_subprocess_exec(
        exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
        "--rate", str(RATE), "--function", "--full-filenames", "--format", fmt,
        "--output", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), seconds + 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")


def _short(frame: str) -> str:
    """``f (/…/src/imipd/server/connection.py:9)`` → ``f (imipd/server/connection.py:9)``;
    the standard library's and other packages' paths shortened the same way."""
    name, sep, where = frame.partition(" (")
    if not sep:
        return frame
    for marker in ("/site-packages/", "/src/", "/lib/python3."):
        at = where.rfind(marker)
        if at >= 0:
            where = where[at + len(marker):]
            if marker == "/lib/python3.":
                where = where.partition("/")[2]
            break
    return f"{name} ({where}"


IDLE_LEAVES = (
    "_worker (concurrent/futures/thread.py",  # the SQLite thread waiting for work
    # imipd's own store thread waiting in SimpleQueue.get (its few own lines count too)
    "DbThread._serve (imipd/store/dbthread.py",
    "Condition.wait (threading.py",
    "Event.wait (threading.py",
)
"""Leaf frames of a thread that is blocked, not running (py-spy cannot always tell)."""


def summarize_raw(raw: Path, top: int = 30) -> str:
    """Hot spots from py-spy's collapsed stacks: self share per function and file, and the
    inclusive share of imipd's own functions. Samples of blocked threads are left out."""
    self_n: collections.Counter[str] = collections.Counter()
    incl_n: collections.Counter[str] = collections.Counter()
    files: collections.Counter[str] = collections.Counter()
    total = idle = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")
                  if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if frames[-1].startswith(IDLE_LEAVES):
            idle += n
            continue
        total += n
        self_n[frames[-1]] += n
        for frame in set(frames):
            if "(imipd/" in frame:
                incl_n[frame] += n
        files[frames[-1].rpartition("(")[2].rstrip(")").rpartition(":")[0]] += n
    if not total:
        return "no samples\n"
    out = [f"{total} samples at {RATE}/s of threads running "
           f"({idle} samples of blocked threads left out)",
           f"\nself time (the function itself was running), top {top}:"]
    out += [f"{100 * n / total:6.1f}%  {name}" for name, n in self_n.most_common(top)]
    out.append(f"\ninclusive time of imipd's functions (they or what they called), top {top}:")
    out += [f"{100 * n / total:6.1f}%  {name}" for name, n in incl_n.most_common(top)]
    out.append("\nself time by file:")
    out += [f"{100 * n / total:6.1f}%  {name}" for name, n in files.most_common(top)]
    return "\n".join(out) + "\n"


async def profile(options: Options, pairs: int, out_dir: Path) -> int:
    """Run the relay (C=``pairs``, W) and the login workloads against imipd, profiled."""
    out_dir.mkdir(parents=True, exist_ok=True)
    options = dataclasses.replace(options, servers=("imipd",), runs=1,
                                  scenarios=("relay", "logins"), pairs=(pairs,))
    workdir = Path(tempfile.mkdtemp(prefix="imipd-profile-"))
    bench = Bench(options, workdir)
    half = options.duration / 2
    use_py_spy = _py_spy() is not None
    if not use_py_spy and importlib.util.find_spec("pyinstrument") is None:
        raise SystemExit("neither py-spy nor pyinstrument: .venv/bin/pip install py-spy")
    try:
        await bench.prepare()
        for name in ("relay", "logins"):
            stem = out_dir / f"profile-imipd-{name}"

            async def during(server: procs.ServerProcess, stem: Path = stem) -> None:
                raw = stem.with_suffix(".raw.txt")
                await _py_spy_record(server.pid, half, "raw", raw)
                stem.with_suffix(".txt").write_text(summarize_raw(raw))
                await _py_spy_record(server.pid, half, "flamegraph", stem.with_suffix(".svg"))

            if use_py_spy:
                if name == "relay":
                    result = await bench.with_server("imipd", lambda s: bench.relay(
                        s, pairs, options.window, during))
                else:
                    result = await bench.with_server("imipd", lambda s: bench.logins(s, during))
            else:
                result = await _with_pyinstrument(bench, name, pairs, stem)
            print(f"{name}: {_brief(result)}; profile in {stem}.*", file=sys.stderr)
            with contextlib.suppress(OSError):
                print(stem.with_suffix(".txt").read_text())
    finally:
        procs.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


async def _with_pyinstrument(bench: Bench, name: str, pairs: int, stem: Path) -> dict[str, Any]:
    """Fallback: imipd started under pyinstrument, which writes its text report at exit."""
    server = bench.server("imipd")
    text = stem.with_suffix(".txt")
    original = server.command

    def command() -> list[str]:
        cmd = original()
        at = cmd.index("serve")
        imipd = procs.imipd_command()
        script = imipd[0] if len(imipd) == 1 else Path(imipd[-1].replace(".", "/") + ".py")
        return [*cmd[:at - len(imipd)], sys.executable, "-m", "pyinstrument", "-r", "text",
                "-o", str(text), str(script), *cmd[at:]]

    server.command = command  # type: ignore[method-assign]
    try:
        await server.start()
        if name == "relay":
            return await bench.relay(server, pairs, bench.o.window)
        return await bench.logins(server)
    finally:
        await server.stop()


def _brief(result: dict[str, Any]) -> str:
    for key in ("throughput_msg_s", "logins_per_s"):
        if result.get(key) is not None:
            return f"{key} {result[key]:,.0f} while profiled"
    return "?"
