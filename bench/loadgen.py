"""The IMIP load generator: imipd against a framing-only baseline, same workload, same run.

Quick run (5 s measured after 2 s warm-up, 3 runs of everything)::

    .venv/bin/python bench/loadgen.py --all

Full run (what the README reports)::

    .venv/bin/python bench/loadgen.py --all --full

It creates its own accounts in a temporary data directory, starts each server
(``imipd serve`` and ``bench/baseline_relay.py``) as a separate process pinned
to core 0 with ``taskset``, pins itself to core 1, and drives only 127.0.0.1.
Runs alternate imipd, baseline, imipd, baseline, … so both see the same machine.
Every server it starts is stopped at the end of its run, and killed on errors.
The human table goes to standard output, the JSON to bench/results/latest.json.
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import datetime
import json
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import bench_procs as procs
import bench_report as report
from bench_scenarios import SERVERS, Bench, Options

RESULTS = procs.BENCH_DIR / "results"


async def run_all(options: Options) -> dict[str, Any]:
    """Every selected scenario, runs interleaved imipd, baseline; the full report."""
    workdir = Path(tempfile.mkdtemp(prefix="imipd-bench-"))
    bench = Bench(options, workdir)
    try:
        await bench.prepare()
        meta: dict[str, Any] = {"wire_check": None, "imipd_flags": list(bench.imipd_flags),
                                "imipd_uses_uvloop": imipd_uses_uvloop()}
        if meta["imipd_uses_uvloop"] and not options.baseline_uvloop:
            print("note: imipd's source mentions uvloop; compare with --baseline-uvloop",
                  file=sys.stderr)
        if options.wire_check and set(SERVERS) <= set(options.servers):
            meta["wire_check"] = await bench.wire_check()
            print(f"wire check: identical = {meta['wire_check']['identical']}", file=sys.stderr)
            if not meta["wire_check"]["identical"]:
                print(json.dumps(meta["wire_check"], indent=1), file=sys.stderr)
                raise SystemExit("the baseline does not speak imipd's bytes; fix it first")
        plan: list[tuple[str, Any]] = []
        if "relay" in options.scenarios:
            for c in options.pairs:
                plan.append((f"relay_c{c}_w{options.window}",
                             lambda s, c=c: bench.relay(s, c, options.window)))
        if "latency" in options.scenarios:
            plan.append((f"latency_c{options.latency_pairs}_w{options.latency_window}",
                         lambda s: bench.relay(s, options.latency_pairs, options.latency_window)))
        if "rss" in options.scenarios:
            plan.append(("idle_rss", bench.idle_rss))
        if "logins" in options.scenarios:
            plan.append(("logins", bench.logins))
        scenarios: dict[str, Any] = {}
        for key, body in plan:
            runs: dict[str, list[dict[str, Any]]] = {k: [] for k in options.servers}
            for i in range(options.runs):
                for kind in options.servers:
                    started = time.monotonic()
                    result = await bench.with_server(kind, body)
                    runs[kind].append(result)
                    print(f"{key} run {i + 1}/{options.runs} {kind}: {brief(result)} "
                          f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
            scenarios[key] = report.build_scenario(runs)
            for kind in options.servers:
                scenarios[key][kind]["notes"] = report.notes_for(runs[kind])
        return {"meta": meta, "scenarios": scenarios, "targets": report.targets(scenarios)}
    finally:
        procs.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)


def imipd_uses_uvloop() -> bool:
    """Whether imipd's source mentions uvloop (then the baseline should run on it too)."""
    import imipd

    root = Path(imipd.__file__).parent
    return any("uvloop" in f.read_text(errors="replace") for f in root.rglob("*.py"))


def brief(result: dict[str, Any]) -> str:
    """One line of progress for standard error."""
    for key, fmt in (("throughput_msg_s", "{:,.0f} msg/s"), ("rss_per_session_bytes",
                     "{:,.0f} B/session"), ("logins_per_s", "{:,.0f} logins/s")):
        if result.get(key) is not None:
            text = fmt.format(result[key])
            if result.get("latency_p99_us") is not None:
                text += (f", p50 {result['latency_p50_us'] / 1000:.2f} ms, "
                         f"p99 {result['latency_p99_us'] / 1000:.2f} ms")
            if result.get("server_cpu_util") is not None:
                text += (f", server {result['server_cpu_util']:.0%}, "
                         f"loadgen {result['loadgen_cpu_util']:.0%}")
            return text
    return "?"


def parse_args(argv: list[str] | None) -> tuple[Options, argparse.Namespace]:
    """The command line; see ``--help``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--all", action="store_true",
                   help="every scenario: relay, latency, rss, logins (the default)")
    p.add_argument("--scenario", action="append", choices=Options.scenarios,
                   help="run only this scenario (repeatable)")
    p.add_argument("--full", action="store_true",
                   help="the README's full run: --duration 20 --warmup 5")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    p.add_argument("--runs", type=int, default=3, help="runs per server and scenario")
    p.add_argument("--pairs", default="100,1000", help="relay scenario: pair counts C")
    p.add_argument("--window", type=int, default=10, help="relay: messages in flight W")
    p.add_argument("--latency-pairs", type=int, default=100)
    p.add_argument("--latency-window", type=int, default=1)
    p.add_argument("--rss-sessions", type=int, default=10_000,
                   help="idle logged-in sessions for the RSS figure (at most 10,000)")
    p.add_argument("--login-concurrency", type=int, default=50,
                   help="concurrent login cycles (imipd's listen backlog is 100)")
    p.add_argument("--setup-concurrency", type=int, default=50,
                   help="concurrent logins while opening sessions")
    p.add_argument("--ack-type", default="errors-only", choices=("errors-only", "none"))
    p.add_argument("--server-core", type=int, default=0)
    p.add_argument("--loadgen-core", type=int, default=1)
    p.add_argument("--baseline-uvloop", action="store_true",
                   help="run the baseline on uvloop (use once imipd runs on uvloop)")
    p.add_argument("--servers", default="imipd,baseline", help="which servers to run")
    p.add_argument("--no-wire-check", action="store_true",
                   help="skip checking that the baseline writes imipd's bytes")
    p.add_argument("--json", type=Path, default=RESULTS / "latest.json", help="JSON output")
    p.add_argument("--profile", action="store_true",
                   help="instead: profile imipd under the relay workload (see bench/profile.sh)")
    p.add_argument("--profile-pairs", type=int, default=100)
    args = p.parse_args(argv)
    if args.full:
        args.duration, args.warmup = 20.0, 5.0
    if not 1 <= args.rss_sessions <= 10_000:
        p.error("--rss-sessions must be between 1 and 10,000")
    if args.duration <= 0 or args.duration > 600 or args.warmup < 0 or args.warmup > 120:
        p.error("--duration must be in (0, 600] s and --warmup in [0, 120] s")
    servers = tuple(s for s in args.servers.split(",") if s)
    if not servers or not set(servers) <= set(SERVERS):
        p.error(f"--servers takes a comma-separated subset of {', '.join(SERVERS)}")
    options = Options(
        warmup=args.warmup, duration=args.duration, runs=max(1, args.runs),
        pairs=tuple(int(x) for x in args.pairs.split(",") if x),
        window=args.window, latency_pairs=args.latency_pairs,
        latency_window=args.latency_window, rss_sessions=args.rss_sessions,
        login_concurrency=args.login_concurrency, setup_concurrency=args.setup_concurrency,
        ack_type=args.ack_type, server_core=args.server_core, loadgen_core=args.loadgen_core,
        baseline_uvloop=args.baseline_uvloop, servers=servers,
        scenarios=tuple(args.scenario) if args.scenario and not args.all else Options.scenarios,
        wire_check=not args.no_wire_check,
    )
    return options, args


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when importable (the load generator must be cheaper than the servers)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or the profile), print the table, write the JSON."""
    options, args = parse_args(argv)
    atexit.register(procs.kill_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    nofile = procs.raise_nofile()
    pinning = procs.pin_self(options.loadgen_core)
    loop_name = "uvloop" if _has_uvloop() else "asyncio"
    if args.profile:
        import bench_profile

        with asyncio.Runner(loop_factory=new_loop) as runner:
            return runner.run(bench_profile.profile(options, args.profile_pairs, RESULTS))
    machine = procs.machine_info()
    source_at_start = procs.imipd_source_hash()
    started = datetime.datetime.now(datetime.UTC)
    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            result = runner.run(run_all(options))
    finally:
        procs.kill_all()
    result["meta"].update({
        "date": started.isoformat(timespec="seconds"),
        "wall_s": round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 1),
        "machine": machine, "loadavg_at_end": procs.machine_info().get("loadavg"),
        "options": {k: v for k, v in asdict(options).items()},
        "runs": options.runs, "warmup_s": options.warmup, "duration_s": options.duration,
        "ack_type": options.ack_type, "nofile_limit": nofile,
        "server_pinning": (f"taskset -c {options.server_core}" if shutil.which("taskset")
                           else "not pinned (no taskset)"),
        "loadgen_pinning": pinning, "loadgen_loop": loop_name,
        "baseline_loop": "uvloop" if options.baseline_uvloop else "asyncio",
        "imipd_loop": "imipd serve's own",
        "command": " ".join(sys.argv),
        "imipd_source": {"start": source_at_start, "end": procs.imipd_source_hash()},
    })
    print()
    report.table(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    args.json.with_suffix(".md").write_text(report.markdown(result))
    print(f"\nJSON: {args.json} (and the README's table: {args.json.with_suffix('.md')})")
    return 0


def _has_uvloop() -> bool:
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401

        return True
    return False


if __name__ == "__main__":
    sys.exit(main())
