"""CPU instructions imipd spends per relayed message, counted by callgrind, tree against tree.

    .venv/bin/python bench/instructions.py [--tree PATH ...] [--messages 2000,12000]
        [--pairs 1] [--repeat 1] [--keep DIR]

What it measures. For each source tree (``--tree``, repeatable; default: the checkout this
script lives in) it runs ``imipd serve`` from that tree's ``src/`` under ``valgrind
--tool=callgrind`` and drives one workload over 127.0.0.1: K pairs of clients (HELO, LOGN
with the imip-md5 digest, STAT ONLINE, then a PING so that messages go live), in each pair
client A sends messages to client B (``MESG`` with ``ACK-Type: errors-only`` and a 60-byte
body), W = 10 in flight, one new message for each one B receives; then both send DISC and
the server is stopped with SIGTERM (it must exit 0). Callgrind counts every instruction the
server's process executed, in all its threads, from exec to exit (no ``--toggle-collect``).
The run is done at N1 and at N2 messages, and

    instructions per message = (I(N2) - I(N1)) / (N2 - N1)

so the start-up, the logins, the logouts and the shutdown cancel out. The table gives
I(N1), I(N2) and the cost per message of every tree, and each tree's cost over the first
tree's.

Why instructions and not seconds. On the 2-core development VM the same run's timings swing
by 20-40 % from one run to the next (other work, frequency, the scheduler); an instruction
count is repeatable to well under 1 %, so a change of a few percent in the hot path shows
in one run. Instructions are not time: a cache miss or a system call costs more than its
count says. Confirm a large change with ``bench/loadgen.py``.

Repeatability. Every run gets a fresh data directory with two accounts per pair, made by the
tree's own ``SqliteStore.create_user`` (its own schema). The server's environment has no
``PYTHON*`` or ``IMIPD_*`` variable of the caller's (with ``PYTHONDONTWRITEBYTECODE`` every
run would compile imipd from source: 5 G instructions, a minute more per run); its hash seed
is fixed, and the byte code of every tree lives in one cache of this run
(``PYTHONPYCACHEPREFIX``: nothing is written into the trees), filled by one run without
valgrind per tree before anything is counted. Under callgrind the server is far slower than
the client, so it finds the window's messages waiting whenever it reads, and its batches are
the same from run to run: repeated runs agree to 0.01 %, two copies of one tree to 0.1 %.
The server listens on ``127.0.0.1:0``; its port is read from /proc (imipd logs it at level
info, and it runs at warning).

Cost. Callgrind runs ~20-70 M instructions per second here; one run takes 20-35 s (start-up
and logins are ~1.7 G instructions), so two trees at the defaults take ~2 min. Nothing here
runs under pytest; every server is started in its own session and killed on errors, Ctrl-C
and exit.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import hashlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_procs import LIVE, kill_all  # (bench/ is the script's directory: on sys.path)

HERE = Path(__file__).resolve().parent
PASSWORD = "bench-password"
CLIENT_NAME = "imipd-bench 1.0"
BODY = b"Instructions per message: the same 60 bytes in every MESG..."
assert len(BODY) == 60
WINDOW = 10
"""Messages in flight per pair: A sends a new one for each one B has received."""
HOST = "127.0.0.1"
LAUNCH = "import sys; from imipd.cli.imipd import main; sys.argv[0] = 'imipd'; sys.exit(main())"
"""How to run the console script ``imipd = imipd.cli.imipd:main`` with a chosen ``sys.path``:
``python -m imipd.cli.imipd`` would import the module and exit 0 (it has no ``__main__``)."""
ACCOUNTS = """
import asyncio, sys
from pathlib import Path
import imipd
from imipd.store.sqlite import SqliteStore
async def main() -> None:
    store = await SqliteStore.open_data_dir(Path(sys.argv[1]))
    try:
        for name in sys.argv[3:]:
            await store.create_user(name, sys.argv[2], name)
    finally:
        await store.close()
asyncio.run(main())
print(imipd.__file__)
"""
"""Run in the tree's Python environment: accounts with the tree's own schema."""
START_TIMEOUT = 300.0
"""Seconds for a server under callgrind to import, open its store and listen."""
STOP_TIMEOUT = 120.0
"""Seconds for it to exit after SIGTERM and for callgrind to write its file."""



# -- the trees --------------------------------------------------------------------------


@dataclass
class Tree:
    """One imipd checkout under test, and how to run ``imipd serve`` from it."""

    number: int
    path: Path
    env: dict[str, str]
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = ""
    head: str = ""

    @property
    def label(self) -> str:
        return f"{self.number} {self.path}"

    def python(self, *args: str, timeout: float = 120.0) -> str:
        """Run ``python ARGS`` in the tree's environment; its standard output."""
        done = subprocess.run([sys.executable, *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"tree {self.label}: python {args[0]} ... exited with "
                               f"{done.returncode}:\n{done.stderr[-2000:]}")
        return done.stdout

    def make_accounts(self, data_dir: Path, names: list[str]) -> None:
        """A new data directory holding ``names``, by the tree's ``create_user``."""
        where = self.python("-c", ACCOUNTS, str(data_dir), PASSWORD, *names).strip()
        if not Path(where).resolve().is_relative_to(self.path / "src"):
            raise RuntimeError(f"tree {self.label}: imported imipd from {where}, not its src/")


def source_hash(tree: Path) -> str:
    """A short fingerprint of a tree's ``src/**/*.py``, to see it change during a run."""
    digest = hashlib.sha256()
    root = tree / "src"
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def git_head(tree: Path) -> str:
    """The tree's commit, short (read only; empty when it is no git checkout)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=30, check=False,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
        if done.returncode == 0:
            return done.stdout.strip()
    return ""


def prepare_tree(number: int, path: Path, pycache: Path, pairs: int) -> Tree:
    """The tree's environment and the ``imipd serve`` flags it has (from its ``--help``)."""
    path = path.resolve()
    if not (path / "src" / "imipd" / "cli" / "imipd.py").is_file():
        raise SystemExit(f"{path}: no src/imipd/cli/imipd.py; --tree takes an imipd checkout")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMIPD_", "PYTHON"))}
    env.update(PYTHONPATH=str(path / "src"), PYTHONHASHSEED="0",
               PYTHONPYCACHEPREFIX=str(pycache))
    tree = Tree(number, path, env, source=source_hash(path), head=git_head(path))
    has = {word.rstrip(",") for word in tree.python("-c", LAUNCH, "serve", "--help").split()
           if word.startswith("--")}
    for needed in ("--data-dir", "--listen"):
        if needed not in has:
            raise SystemExit(f"tree {tree.label}: imipd serve has no {needed}")
    tree.flags = ["--listen", f"{HOST}:0"]
    wanted = [("--web", "off"), ("--messages-per-second", "0"), ("--log-level", "warning"),
              ("--event-loop", "asyncio")]
    if 2 * pairs > 60:  # every client comes from 127.0.0.1
        wanted.append(("--max-connections-per-address", "1000000"))
    for flag, value in wanted:
        if flag in has:
            tree.flags += [flag, value]
        else:
            tree.notes.append(f"imipd serve has no {flag}: its default is used")
    return tree


# -- the server ---------------------------------------------------------------------------


class Server:
    """``imipd serve`` of one tree on 127.0.0.1, under callgrind or (warm-up) not."""

    def __init__(self, tree: Tree, data_dir: Path, log: Path, profile: Path | None) -> None:
        self.tree = tree
        self.log = log
        self.profile = profile
        command = [sys.executable, "-c", LAUNCH, "serve", "--data-dir", str(data_dir),
                   *tree.flags]
        if profile is not None:
            command = ["valgrind", "-q", "--tool=callgrind",
                       f"--callgrind-out-file={profile}", *command]
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> int:
        """Start it; the port it listens on, once it does."""
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=self.tree.env, start_new_session=True)
        LIVE.add(self.proc)
        deadline = time.monotonic() + START_TIMEOUT
        while (port := listening_port(self.proc.pid)) is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"imipd exited with {self.proc.returncode} at start"
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"imipd did not listen within {START_TIMEOUT:.0f} s"
                                   f"{self.log_tail()}")
            await asyncio.sleep(0.1)
        return port

    async def stop(self) -> None:
        """SIGTERM; it must exit 0 (and callgrind write its file) within STOP_TIMEOUT."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"imipd did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM")
            await asyncio.sleep(0.1)
        LIVE.discard(self.proc)
        if self.proc.returncode != 0:
            raise RuntimeError(f"imipd exited with {self.proc.returncode} after SIGTERM"
                               f"{self.log_tail()}")

    def kill(self) -> None:
        """Kill it if it still runs (errors, Ctrl-C)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(OSError):
                    self.proc.kill()
                self.proc.wait(timeout=10)
            LIVE.discard(self.proc)

    def log_tail(self) -> str:
        text = self.log.read_text(errors="replace").strip() if self.log.exists() else ""
        return f":\n{text[-2000:]}" if text else ""


def listening_port(pid: int) -> int | None:
    """The port of the TCP socket ``pid`` listens on at 127.0.0.1, from /proc (or None).

    ``--listen 127.0.0.1:0`` lets the kernel choose a free port; imipd names it in the
    line "imipd listening on ...", but at log level info, and the server logs at warning.
    """
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    if not inodes:
        return None
    try:
        with open(f"/proc/{pid}/net/tcp", encoding="ascii") as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except OSError:
        return None
    for row in rows:  # sl, local address, remote address, state, ..., inode
        address, port = row[1].split(":")
        if row[3] == "0A" and row[9] in inodes and address == "0100007F":
            return int(port, 16)
    return None


def instructions(profile: Path) -> int:
    """The program's total instruction count, from a callgrind output file."""
    with open(profile, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError(f"{profile}: no totals or summary line")


# -- the clients ----------------------------------------------------------------------------


class Peer:
    """One IMIP client (asyncio streams: the client's cost is not what is measured)."""

    def __init__(self, name: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.name = name
        self.reader = reader
        self.writer = writer
        self.next_id = 1000  # the Yahoo! client's first ID is 1001

    @classmethod
    async def connect(cls, port: int, name: str) -> Peer:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(name, reader, writer)

    def send(self, type_line: str, headers: tuple[tuple[str, str], ...] = (),
             body: bytes = b"") -> None:
        """One block: ID first, the headers as given, the empty line, the body."""
        self.next_id += 1
        lines = "".join(f"{k}: {v}\r\n" for k, v in (("ID", str(self.next_id)), *headers))
        content = lines.encode() + b"\r\n" + body
        self.writer.write(b"%s\r\n%d\r\n%s" % (type_line.encode(), len(content), content))

    def send_message(self, to: str) -> None:
        """A message as the Yahoo! client writes it: ID, To, ACK-Type, From; the body."""
        self.send("MESG", (("To", to), ("ACK-Type", "errors-only"), ("From", self.name)), BODY)

    async def block(self) -> tuple[str, bytes]:
        """The next block from the server: its type line and its body."""
        line = b"\r\n"
        while line == b"\r\n":
            line = await self.reader.readuntil(b"\r\n")
        size = int(await self.reader.readuntil(b"\r\n"))
        content = await self.reader.readexactly(size)
        return line[:-2].decode(), content.partition(b"\r\n\r\n")[2]

    async def request(self, type_line: str, expect: str,
                      headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> bytes:
        """Send a block and read the answer, which must have the type line ``expect``."""
        self.send(type_line, headers, body)
        got, answer = await self.block()
        if got != expect:
            raise RuntimeError(f"{self.name}: {type_line} answered {got!r} {answer[:80]!r}")
        return answer

    async def log_in(self) -> None:
        """HELO, LOGN (imip-md5), STAT ONLINE, and a PING: from then on messages are live."""
        challenge = await self.request("HELO", "HELO", (("Protocol", "IMIP/1.0"),))
        digest = hashlib.md5(challenge + PASSWORD.encode()).hexdigest()
        await self.request(f"LOGN {self.name}", f"LOGN {self.name}",
                           (("Client", CLIENT_NAME), ("Auth-Type", "imip-md5")),
                           digest.encode())
        await self.request("STAT ONLINE", "ACK 600")
        await self.request("PING", "ACK 600")  # docs/protocol.md §6.3

    async def log_out(self) -> None:
        """DISC, its ACK 600, and the server's close."""
        await self.request("DISC", "ACK 600")
        rest = await self.reader.read()
        if rest:
            raise RuntimeError(f"{self.name}: after DISC's answer: {rest[:80]!r}")
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def silence(self) -> None:
        """Wait for a block, which must not come: ``errors-only`` answers only errors."""
        got, body = await self.block()
        raise RuntimeError(f"{self.name} received {got!r} {body[:80]!r} while sending")


async def relay(sender: Peer, receiver: Peer, count: int) -> None:
    """``count`` messages, WINDOW in flight: one more for each one the receiver reads."""
    sent = 0
    while sent < min(WINDOW, count):
        sender.send_message(receiver.name)
        sent += 1
    for _ in range(count):
        got, body = await receiver.block()
        if got != "MESG" or body != BODY:
            raise RuntimeError(f"{receiver.name} received {got!r} {body[:80]!r}")
        if sent < count:
            sender.send_message(receiver.name)
            sent += 1


async def relay_watched(sender: Peer, receiver: Peer, count: int) -> None:
    """``relay``, ended at once by anything the sender receives meanwhile."""
    work = asyncio.ensure_future(relay(sender, receiver, count))
    watch = asyncio.ensure_future(sender.silence())
    try:
        await asyncio.wait((work, watch), return_when=asyncio.FIRST_COMPLETED)
        if watch.done():
            watch.result()
        work.result()
    finally:
        for task in (work, watch):
            task.cancel()
        await asyncio.gather(work, watch, return_exceptions=True)


def shares(total: int, pairs: int) -> list[int]:
    """``total`` messages split over the pairs (the first ones carry the remainder)."""
    return [total // pairs + (i < total % pairs) for i in range(pairs)]


async def workload(port: int, names: list[str], total: int) -> None:
    """Log everyone in, relay ``total`` messages over the pairs at once, log everyone out."""
    peers = [await Peer.connect(port, name) for name in names]
    try:
        for peer in peers:
            await peer.log_in()
        pairs = list(zip(peers[0::2], peers[1::2], strict=True))
        await asyncio.gather(*(relay_watched(a, b, n)
                               for (a, b), n in zip(pairs, shares(total, len(pairs)),
                                                    strict=True)))
        for peer in peers:
            await peer.log_out()
    finally:
        for peer in peers:
            peer.writer.close()


# -- one run, all runs ---------------------------------------------------------------------


@dataclass
class Bench:
    """What every run shares: the work directory, the pairs, the limits."""

    workdir: Path
    pairs: int
    timeout: float
    keep: Path | None
    runs: int = 0

    async def run(self, tree: Tree, count: int, counted: bool = True) -> int | None:
        """One server of ``tree`` relaying ``count`` messages; its instructions if counted."""
        self.runs += 1
        tag = f"tree{tree.number}-n{count}-run{self.runs}"
        data_dir = self.workdir / tag
        profile = (self.keep or self.workdir) / f"callgrind.{tag}.out" if counted else None
        names = [f"u{i:05d}" for i in range(2 * self.pairs)]
        tree.make_accounts(data_dir, names)
        server = Server(tree, data_dir, self.workdir / f"{tag}.log", profile)
        try:
            port = await server.start()
            await asyncio.wait_for(workload(port, names, count), self.timeout)
            await server.stop()
            if problems := server.log_tail():
                print(f"  note: imipd logged{problems}", file=sys.stderr)
        except TimeoutError:
            raise RuntimeError(f"tree {tree.label}: {count:,} messages took over "
                               f"{self.timeout:.0f} s{server.log_tail()}") from None
        finally:
            server.kill()
            shutil.rmtree(data_dir, ignore_errors=True)
        if profile is None:
            return None
        total = instructions(profile)
        if self.keep is None:
            profile.unlink()
        return total


@dataclass
class Result:
    """One tree's counts over the repeats: I(N1), I(N2) and per message, run by run."""

    tree: Tree
    low: list[int] = field(default_factory=list)
    high: list[int] = field(default_factory=list)

    def per_message(self, n1: int, n2: int) -> list[float]:
        return [(b - a) / (n2 - n1) for a, b in zip(self.low, self.high, strict=True)]


async def measure(trees: list[Tree], bench: Bench, n1: int, n2: int,
                  repeat: int) -> list[Result]:
    """A warm-up run of each tree (not counted), then every tree at N1 and N2, R times."""
    for tree in trees:
        started = time.monotonic()
        await bench.run(tree, min(n1, 500), counted=False)
        print(f"tree {tree.label}: warm-up without valgrind "
              f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
    results = [Result(tree) for tree in trees]
    for r in range(repeat):
        for result in results:
            for n, into in ((n1, result.low), (n2, result.high)):
                started = time.monotonic()
                total = await bench.run(result.tree, n)
                assert total is not None
                into.append(total)
                print(f"tree {result.tree.label}: N={n:,} run {r + 1}/{repeat}: "
                      f"{total:,} instructions ({time.monotonic() - started:.0f} s)",
                      file=sys.stderr)
    return results


def report(results: list[Result], n1: int, n2: int, pairs: int, repeat: int,
           wall: float) -> None:
    """The table: counts, per message (min, median, spread), ratio to the first tree."""
    print(f"\nimipd: CPU instructions per relayed message (callgrind, whole server process)\n"
          f"{pairs} pair(s), W={WINDOW}, ACK-Type errors-only, {len(BODY)}-byte body; "
          f"N1={n1:,}, N2={n2:,} messages; {repeat} run(s) of each; "
          f"per message = (I(N2) - I(N1)) / (N2 - N1)\n")
    width = max(len(r.tree.label) for r in results)
    print(f"{'tree':<{width}}  {'source':<21} {'I(N1)':>15} {'I(N2)':>15} "
          f"{'per msg':>9} {'min':>9} {'spread':>7} {'ratio':>6}")
    first = statistics.median(results[0].per_message(n1, n2))
    for result in results:
        each = result.per_message(n1, n2)
        median = statistics.median(each)
        spread = (max(each) - min(each)) / median if median else 0.0
        tree = result.tree
        source = f"{tree.head or '-'} {tree.source}"
        print(f"{tree.label:<{width}}  {source:<21} {statistics.median(result.low):>15,.0f} "
              f"{statistics.median(result.high):>15,.0f} {median:>9,.0f} {min(each):>9,.0f} "
              f"{spread:>7.2%} {median / first:>6.3f}")
    print("\nI(N1), I(N2), per msg: medians over the runs; min: the lowest per-message cost; "
          "spread: (max - min) / median;\nratio: per msg / the first tree's; source: commit "
          "and a hash of src/**/*.py (dirty trees differ from the commit)")
    for result in results:
        for note in result.tree.notes:
            print(f"note: tree {result.tree.label}: {note}")
    print(f"wall time {wall:.0f} s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", action="append", type=Path, metavar="PATH",
                   help="an imipd checkout whose src/ is measured; repeatable, the first is "
                        f"the reference (default: this script's checkout, {HERE.parent})")
    p.add_argument("--messages", default="2000,12000", metavar="N1,N2",
                   help="messages relayed in the short and the long run, over all pairs "
                        "together (default: %(default)s)")
    p.add_argument("--pairs", type=int, default=1, metavar="K",
                   help="pairs of clients relaying at once (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=1, metavar="R",
                   help="runs of each measurement; the table gives min and median "
                        "(default: %(default)s)")
    p.add_argument("--timeout", type=float, default=900.0, metavar="S",
                   help="seconds one run's logins, messages and logouts may take "
                        "(default: %(default)s)")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="keep the callgrind files in DIR (for callgrind_annotate)")
    args = p.parse_args(argv)
    try:
        args.n1, args.n2 = (int(x) for x in args.messages.split(","))
    except ValueError:
        p.error("--messages takes N1,N2")
    if not 0 < args.n1 < args.n2 <= 1_000_000:
        p.error("--messages needs 0 < N1 < N2 <= 1,000,000")
    if not 1 <= args.pairs <= 1000 or args.n1 < args.pairs:
        p.error("--pairs must be 1 to 1,000 and at most N1")
    if not 1 <= args.repeat <= 20:
        p.error("--repeat must be 1 to 20")
    if not 10 <= args.timeout <= 3600:
        p.error("--timeout must be 10 to 3,600 s")
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure every tree, print the table."""
    args = parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    atexit.register(kill_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="imipd-instructions-") as tmp:
        workdir = Path(tmp)
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
        try:
            trees = [prepare_tree(i + 1, path, workdir / "pycache", args.pairs)
                     for i, path in enumerate(args.tree or [HERE.parent])]
            bench = Bench(workdir, args.pairs, args.timeout, args.keep)
            results = asyncio.run(measure(trees, bench, args.n1, args.n2, args.repeat))
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        finally:
            kill_all()
    for tree in trees:
        if source_hash(tree.path) != tree.source:
            tree.notes.append("its src/ changed during the run: the counts mix two versions")
    report(results, args.n1, args.n2, args.pairs, args.repeat, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
