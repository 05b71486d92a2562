"""How fast a login receives its stored messages, against a server that only sends bytes.

A user who was away logs in to a backlog: imipd reads it from SQLite, shows it, records
it in the journal and deletes it, part by part (docs/architecture.md). This measures,
for a backlog of COUNT messages of SIZE bytes, the time from the first ``STAT`` to the
last ``MESG`` and imipd's CPU time in it, and the same transfer from a baseline that
writes the very same blocks at once from memory (the floor: loopback TCP and the
reading client). Both servers run pinned to core 0, the client on core 1; runs
alternate. Nothing here runs under pytest.

    .venv/bin/python bench/backlog.py [--count 2000] [--sizes 100,8192] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench_procs as procs
from bench_clients import Tally, connect
from bench_procs import ServerProcess
from bench_scenarios import PASSWORD, make_accounts, user_name

from imipd.protocol import serialize

SENDER, RECEIVER = user_name(0), user_name(1)

BASELINE = """
import asyncio, sys
payload = open(sys.argv[2], "rb").read()
async def serve(reader, writer):
    await reader.read(1)  # the client's first byte: send the backlog
    writer.write(payload)
    await writer.drain()
    await reader.read()
    writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def backlog_bytes(count: int, size: int) -> bytes:
    """The blocks imipd writes for the backlog: MESG with From, To, Date, ID, and a body."""
    body = b"x" * size
    return b"".join(
        serialize("MESG", (), (("From", SENDER), ("To", RECEIVER),
                               ("Date", "Sun, 06 Dec 2026 17:00:00 GMT"), ("ID", str(n + 2))),
                  body)
        for n in range(count))


async def received_all(tally: Tally, count: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while tally.received < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {tally.received} of {count} messages arrived")
        await asyncio.sleep(0.002)


async def imipd_run(workdir: Path, template: Path, count: int, size: int,
                    flags: tuple[str, ...]) -> tuple[float, float]:
    """(seconds from STAT to the last MESG, imipd's CPU seconds in them)."""
    data_dir = workdir / "run"
    shutil.copytree(template, data_dir)
    server = ServerProcess("imipd", procs.free_port(), data_dir, 0, extra_args=flags,
                           log_path=workdir / "imipd.log")
    try:
        await server.start()
        tally = Tally()
        sender = await connect("127.0.0.1", server.port, tally, SENDER, PASSWORD, "none")
        await sender.log_in()
        body = b"x" * size
        for start in range(0, count, 100):
            for _ in range(min(100, count - start)):
                sender.next_id += 1
                sender.transport.write(serialize(  # type: ignore[union-attr]
                    "MESG", (), (("ID", str(sender.next_id)), ("To", RECEIVER),
                                 ("ACK-Type", "none"), ("From", SENDER)), body))
            await sender.request("PING")  # answered once every MESG before it is stored
        sender.close()
        receiver = await connect("127.0.0.1", server.port, tally, RECEIVER, PASSWORD)
        await receiver.log_in(stat=False)
        cpu = server.cpu_seconds()
        started = time.perf_counter()
        receiver.transport.write(serialize(  # type: ignore[union-attr]
            "STAT", ("ONLINE",), (("ID", "9999"),), b"", empty_line=True))
        await received_all(tally, count)
        elapsed = time.perf_counter() - started
        used = server.cpu_seconds() - cpu
        receiver.close()
        return elapsed, used
    finally:
        await server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def baseline_run(workdir: Path, count: int, size: int) -> float:
    payload = workdir / "payload"
    payload.write_bytes(backlog_bytes(count, size))
    port = procs.free_port()
    proc = await asyncio.create_subprocess_exec(
        *(["taskset", "-c", "0"] if shutil.which("taskset") else []),
        sys.executable, "-c", BASELINE, str(port), str(payload))
    try:
        for _ in range(200):
            try:
                tally = Tally()
                client = await connect("127.0.0.1", port, tally, RECEIVER, PASSWORD)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError("the baseline did not listen")
        started = time.perf_counter()
        client.transport.write(b"!")  # type: ignore[union-attr]
        await received_all(tally, count)
        elapsed = time.perf_counter() - started
        client.close()
        return elapsed
    finally:
        proc.kill()
        await proc.wait()


async def main(count: int, sizes: list[int], runs: int) -> None:
    procs.pin_self(1)
    with tempfile.TemporaryDirectory(prefix="imipd-backlog-") as tmp:
        workdir = Path(tmp)
        template = workdir / "accounts"
        template.mkdir()
        await make_accounts(template, 2)
        flags = tuple(procs.imipd_serve_flags())
        print(f"backlog of {count} messages; {runs} runs each, alternating; "
              f"imipd source {procs.imipd_source_hash()}")
        print(f"{'size':>6} {'imipd ms':>9} {'cpu ms':>8} {'msg/s':>9} {'MB/s':>7} "
              f"{'baseline ms':>12} {'ratio':>6}")
        for size in sizes:
            ours: list[float] = []
            cpus: list[float] = []
            floor: list[float] = []
            for _ in range(runs):
                elapsed, cpu = await imipd_run(workdir, template, count, size, flags)
                ours.append(elapsed)
                cpus.append(cpu)
                floor.append(await baseline_run(workdir, count, size))
            wall, base = statistics.median(ours), statistics.median(floor)
            print(f"{size:>6} {wall * 1e3:>9.1f} {statistics.median(cpus) * 1e3:>8.0f} "
                  f"{count / wall:>9.0f} {count * size / wall / 1e6:>7.1f} "
                  f"{base * 1e3:>12.1f} {wall / base:>6.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="stored messages")
    parser.add_argument("--sizes", default="100,8192", help="body sizes in bytes")
    parser.add_argument("--runs", type=int, default=3, help="runs per size and server")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.count, [int(s) for s in args.sizes.split(",")], args.runs))
    finally:
        procs.kill_all()
