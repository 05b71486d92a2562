"""Summaries, ratios, the project's performance goals, and the human table of a benchmark run.

A metric's runs become ``{"runs": [...], "min", "median", "max"}``. Every ratio
is imipd / baseline, from the medians and also run by run (run *i* of imipd
against run *i* of the baseline, which ran right after it), so a ratio holds on
a machine whose speed drifts.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

Summary = dict[str, Any]

LABELS: dict[str, str] = {
    "relay_c100_w10": "relay C=100 W=10",
    "relay_c1000_w10": "relay C=1000 W=10",
    "latency_c100_w1": "latency C=100 W=1",
    "idle_rss": "idle sessions",
    "logins": "logins",
}

# metric key -> (label, scale, format); values are stored unscaled in the JSON
METRICS: dict[str, tuple[str, float, str]] = {
    "throughput_msg_s": ("throughput (msg/s)", 1, "{:,.0f}"),
    "logins_per_s": ("logins/s (HELO, LOGN+DISC)", 1, "{:,.0f}"),
    "server_cpu_us_per_msg": ("server CPU (µs/msg)", 1, "{:,.1f}"),
    "server_cpu_us_per_login": ("server CPU (µs/login)", 1, "{:,.0f}"),
    "capacity_msg_s": ("capacity: msg/s per CPU-second", 1, "{:,.0f}"),
    "capacity_logins_s": ("capacity: logins per CPU-s", 1, "{:,.0f}"),
    "loadgen_cpu_us_per_msg": ("loadgen CPU (µs/msg)", 1, "{:,.1f}"),
    "loadgen_cpu_us_per_login": ("loadgen CPU (µs/login)", 1, "{:,.0f}"),
    "server_cpu_util": ("server busy (% of a core)", 100, "{:,.0f}"),
    "loadgen_cpu_util": ("loadgen busy (% of a core)", 100, "{:,.0f}"),
    "latency_p50_us": ("latency p50 (ms)", 1e-3, "{:,.2f}"),
    "latency_p99_us": ("latency p99 (ms)", 1e-3, "{:,.2f}"),
    "rss_per_session_bytes": ("RSS per idle session (bytes)", 1, "{:,.0f}"),
    "rss_marginal_bytes": ("  of the second half (bytes)", 1, "{:,.0f}"),
    "rss_after_kib": ("server RSS with all (MiB)", 1 / 1024, "{:,.1f}"),
    "setup_logins_per_s": ("logins/s while filling", 1, "{:,.0f}"),
    "cpu_pressure_pct": ("machine CPU pressure (%)", 1, "{:,.0f}"),
}


def summarize(values: Sequence[float | None]) -> Summary:
    """min / median / max of the runs that produced a value."""
    got = [v for v in values if v is not None]
    if not got:
        return {"runs": list(values), "min": None, "median": None, "max": None}
    return {"runs": list(values), "min": min(got), "median": statistics.median(got),
            "max": max(got)}


def ratio(imipd: Summary, baseline: Summary) -> Summary:
    """imipd / baseline: of the medians, and the spread of the run-by-run ratios."""
    pairs = [a / b for a, b in zip(imipd["runs"], baseline["runs"], strict=False)
             if a is not None and b]
    med = (imipd["median"] / baseline["median"]
           if imipd["median"] is not None and baseline["median"] else None)
    spread = summarize(pairs)
    return {"of_medians": med, "pairwise": spread}


def percentile(sorted_values: Sequence[int], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return float(sorted_values[k])


def build_scenario(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per server: each metric summarized over the runs; ratios where both servers ran."""
    out: dict[str, Any] = {}
    for kind, results in runs.items():
        keys = sorted({k for r in results for k, v in r.items() if isinstance(v, int | float)})
        out[kind] = {"metrics": {k: summarize([r.get(k) for r in results]) for k in keys},
                     "runs": results}
    if "imipd" in out and "baseline" in out:
        mine, base = out["imipd"]["metrics"], out["baseline"]["metrics"]
        out["ratio_imipd_over_baseline"] = {k: ratio(mine[k], base[k]) for k in mine
                                            if k in base}
    return out


def _median(scenarios: dict[str, Any], name: str, kind: str, metric: str) -> float | None:
    try:
        value = scenarios[name][kind]["metrics"][metric]["median"]
    except KeyError:
        return None
    return float(value) if value is not None else None


def _ratio(scenarios: dict[str, Any], name: str, metric: str) -> float | None:
    try:
        value = scenarios[name]["ratio_imipd_over_baseline"][metric]["of_medians"]
    except KeyError:
        return None
    return float(value) if value is not None else None


def targets(scenarios: dict[str, Any]) -> list[dict[str, Any]]:
    """The project's performance goals: measured value, target, met or not, and the factor
    still missing."""
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, goal: float, higher_is_better: bool,
            unit: str, extra: dict[str, Any] | None = None) -> None:
        if value is None:
            return
        met = value >= goal if higher_is_better else value <= goal
        factor = (goal / value if higher_is_better else value / goal) if value else None
        rows.append({"target": name, "measured": value, "goal": goal, "unit": unit, "met": met,
                     "improvement_needed": None if met else factor, **(extra or {})})

    def caveat(key: str) -> dict[str, str]:
        busy = _median(scenarios, key, "baseline", "loadgen_cpu_util")
        if busy is None or busy <= 0.9:
            return {}
        return {"caveat": f"the load generator was {busy:.0%} busy during the baseline's runs, "
                          "so the baseline's figure is partly the load generator's and this "
                          "ratio flatters imipd"}

    for key, pairs in (("relay_c100_w10", 100), ("relay_c1000_w10", 1000)):
        cpu = _median(scenarios, key, "imipd", "server_cpu_us_per_msg")
        base_cpu = _median(scenarios, key, "baseline", "server_cpu_us_per_msg")
        add(f"relay throughput at {pairs} pairs ≥ 0.75 × baseline",
            _ratio(scenarios, key, "throughput_msg_s"), 0.75, True, "× baseline",
            {"server_cpu_us_per_msg": cpu, "baseline_server_cpu_us_per_msg": base_cpu,
             "ratio_by_cpu": _ratio(scenarios, key, "capacity_msg_s"), **caveat(key)})
    add("p99 latency at W=1, 100 pairs ≤ 2 × baseline",
        _ratio(scenarios, "latency_c100_w1", "latency_p99_us"), 2.0, False, "× baseline",
        caveat("latency_c100_w1"))
    add("RSS per idle logged-in session ≤ 5 KiB",
        _median(scenarios, "idle_rss", "imipd", "rss_per_session_bytes"), 5 * 1024, False,
        "bytes")
    add("logins/s ≥ 5,000", _median(scenarios, "logins", "imipd", "logins_per_s"), 5000, True,
        "logins/s", {"capacity_logins_s": _median(scenarios, "logins", "imipd",
                                                  "capacity_logins_s")})
    return rows


def _num(value: float) -> str:
    """A measured value in a target line: thousands separated, or three significant digits."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _fmt(value: float | None, scale: float, pattern: str) -> str:
    return "–" if value is None else pattern.format(value * scale)


def _cell(summary: Summary | None, scale: float, pattern: str) -> str:
    if summary is None or summary["median"] is None:
        return "–"
    med = _fmt(summary["median"], scale, pattern)
    return f"{med} [{_fmt(summary['min'], scale, pattern)}–{_fmt(summary['max'], scale, pattern)}]"


def table(report: dict[str, Any], out: Callable[[str], None] = print) -> None:
    """Print the human table: medians with [min–max] over the runs, and ratios."""
    meta = report["meta"]
    machine = meta["machine"]
    out(f"imipd vs baseline — {machine.get('cores')} cores ({machine.get('cpu', '?')}), "
        f"Python {machine.get('python')}, load average at start "
        f"{', '.join(f'{x:.2f}' for x in machine.get('loadavg', ()))}")
    out(f"runs {meta['runs']}, warm-up {meta['warmup_s']} s, measured {meta['duration_s']} s; "
        f"server {meta['server_pinning']}, load generator {meta['loadgen_pinning']} on "
        f"{meta['loadgen_loop']}; baseline on {meta['baseline_loop']}; "
        f"ACK-Type {meta['ack_type']}")
    source = meta.get("imipd_source", {})
    if source:
        changed = source.get("start") != source.get("end")
        out(f"imipd source {source.get('start')}" + (
            f" → {source.get('end')}: CHANGED DURING THE RUN" if changed else ""))
    out("cells: median [min–max] over the runs; ratio: imipd / baseline of the medians "
        "[spread of run-by-run ratios]")
    widths = (20, 29, 27, 27, 22)
    head = ("scenario", "metric", "imipd", "baseline", "imipd/baseline")
    out("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    out("  ".join("-" * w for w in widths))
    for key, data in report["scenarios"].items():
        first = True
        for metric, (label, scale, pattern) in METRICS.items():
            mine = data.get("imipd", {}).get("metrics", {}).get(metric)
            base = data.get("baseline", {}).get("metrics", {}).get(metric)
            if mine is None and base is None:
                continue
            rat = data.get("ratio_imipd_over_baseline", {}).get(metric)
            rcell = "–"
            if rat and rat["of_medians"] is not None:
                spread = rat["pairwise"]
                rcell = f"{rat['of_medians']:.3f}"
                if spread["median"] is not None:
                    rcell += f" [{spread['min']:.3f}–{spread['max']:.3f}]"
            name = LABELS.get(key, key) if first else ""
            first = False
            out("  ".join(c.ljust(w) for c, w in zip(
                (name, label, _cell(mine, scale, pattern), _cell(base, scale, pattern), rcell),
                widths, strict=True)))
        for kind in ("imipd", "baseline"):
            for note in data.get(kind, {}).get("notes", []):
                out(f"{'':20}  ! {kind}: {note}")
    out("")
    out("the project's performance goals (imipd as it is):")
    for row in report["targets"]:
        verdict = "met" if row["met"] else f"NOT met: needs {row['improvement_needed']:.2f}×"
        extra = ""
        if row.get("server_cpu_us_per_msg") is not None:
            extra = (f"\n{'':50}server CPU {row['server_cpu_us_per_msg']:.1f} µs/msg vs baseline "
                     f"{row['baseline_server_cpu_us_per_msg']:.1f}; by CPU per message the "
                     f"ratio is {row['ratio_by_cpu']:.3f}")
        if row.get("capacity_logins_s") is not None:
            extra = (f"\n{'':50}by CPU per login: {row['capacity_logins_s']:,.0f} logins "
                     "per CPU-second")
        if row.get("caveat"):
            extra += f"\n{'':50}but {row['caveat']}"
        out(f"  {row['target']:<48} measured {_num(row['measured'])} {row['unit']}: "
            f"{verdict}{extra}")


def notes_for(results: list[dict[str, Any]]) -> list[str]:
    """Warnings a reader must see: a saturated load generator, errors, lost connections."""
    notes = []
    busy = [float(r["loadgen_cpu_util"]) for r in results
            if r.get("loadgen_cpu_util") is not None]
    if busy and max(busy) > 0.9:
        notes.append(f"load generator was {max(busy):.0%} busy: this server's figure is a "
                     "lower bound (the load generator, not the server, may be the limit)")
    unexpected: dict[str, int] = {}
    for r in results:
        for k, v in r.get("unexpected", {}).items():
            unexpected[k] = unexpected.get(k, 0) + v
    if unexpected:
        notes.append(f"unexpected blocks from the server: {unexpected}")
    dropped = sum(r.get("messages_lost", 0) for r in results)
    if dropped:
        notes.append(f"{dropped} message(s) sent and never received: the closed loop shrank")
    lost = sum(r.get("lost_connections", 0) for r in results)
    if lost:
        notes.append(f"{lost} connection(s) closed by the server during runs")
    pressure = [r["cpu_pressure_pct"] for r in results if r.get("cpu_pressure_pct") is not None]
    if pressure and statistics.median(pressure) > 20:
        notes.append(f"other work competed for the CPU (pressure {min(pressure):.0f}–"
                     f"{max(pressure):.0f}%): absolute rates are low and noisy; the ratios "
                     "and the CPU per message hold better")
    sources = sorted({r["imipd_source"] for r in results if r.get("imipd_source")})
    if len(sources) > 1:
        notes.append(f"imipd's source changed between these runs ({', '.join(sources)}): "
                     "they measured different code")
    failures = sum(r.get("failures", 0) for r in results)
    if failures:
        notes.append(f"{failures} failed login cycle(s)")
    return notes


MARKDOWN_ROWS: tuple[tuple[str, str], ...] = (
    ("relay_c100_w10", "throughput_msg_s"),
    ("relay_c100_w10", "server_cpu_us_per_msg"),
    ("relay_c100_w10", "latency_p99_us"),
    ("relay_c1000_w10", "throughput_msg_s"),
    ("relay_c1000_w10", "server_cpu_us_per_msg"),
    ("relay_c1000_w10", "latency_p99_us"),
    ("latency_c100_w1", "throughput_msg_s"),
    ("latency_c100_w1", "server_cpu_us_per_msg"),
    ("latency_c100_w1", "latency_p50_us"),
    ("latency_c100_w1", "latency_p99_us"),
    ("idle_rss", "rss_per_session_bytes"),
    ("logins", "logins_per_s"),
    ("logins", "server_cpu_us_per_login"),
)
"""The rows of the short Markdown table (the README's)."""


def markdown(report: dict[str, Any]) -> str:
    """The README's table: medians [min–max] of the key figures, and the ratios."""
    lines = ["| scenario | figure | imipd | baseline | imipd / baseline |",
             "|---|---|---|---|---|"]
    scenarios = report["scenarios"]
    for key, metric in MARKDOWN_ROWS:
        data = scenarios.get(key)
        if data is None:
            continue
        label, scale, pattern = METRICS[metric]
        mine = data.get("imipd", {}).get("metrics", {}).get(metric)
        base = data.get("baseline", {}).get("metrics", {}).get(metric)
        rat = data.get("ratio_imipd_over_baseline", {}).get(metric)
        rcell = "–" if not rat or rat["of_medians"] is None else f"{rat['of_medians']:.2f}"
        lines.append(f"| {LABELS.get(key, key)} | {label} | {_cell(mine, scale, pattern)} | "
                     f"{_cell(base, scale, pattern)} | {rcell} |")
    lines += ["", "| the project's goal | measured | verdict |", "|---|---|---|"]
    for row in report["targets"]:
        verdict = ("met" if row["met"] else
                   f"not met: needs {row['improvement_needed']:.2f}×")
        if row.get("caveat"):
            verdict += " (the baseline's figure is held back by the load generator)"
        lines.append(f"| {row['target']} | {_num(row['measured'])} {row['unit']} | {verdict} |")
    return "\n".join(lines) + "\n"
