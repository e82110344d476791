"""`make bench`, step 5: what the figures are (Result, Report), whether they meet bench/budgets.toml
(judge), and how they are shown and kept (markdown, write_results: bench/results/latest.{json,md})."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tododb.queries import QUERIES
from tooling import latency
from tooling.config import ROOT

BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"


@dataclass
class Result:
    query: str
    kind: str
    runs: int
    p50: float
    p95: float
    p99: float
    planning_p50: float
    rows: float
    owner_p50: float | None = None
    owner_planning_p50: float | None = None
    budget_p95: float | None = None
    sample: str = "users"

    @property
    def rls_ratio(self) -> float | None:
        return self.p50 / self.owner_p50 if self.owner_p50 else None


@dataclass
class Report:
    tasks: int
    users: int
    load_seconds: float
    machine: str
    started: str
    results: list[Result] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # named queries the bench calls that do not exist (yet)
    unmeasured: list[str] = field(default_factory=list)  # named queries that exist and the bench does not call
    sharing: dict = field(default_factory=dict)  # a member's read of a shared project against the owner's
    heaviest: dict = field(default_factory=dict)  # the user in the most projects: who, results, plans
    pgbench: dict[str, float] = field(default_factory=dict)
    pgbouncer: dict = field(default_factory=dict)
    latency: list = field(default_factory=list)  # tooling.latency.Figure, end to end over a simulated network
    latency_rtt_ms: float = 0.0
    rls_overhead: float = 0.0
    rls_overhead_with_planning: float = 0.0
    peak_rss_mb: float = 0.0
    judged: bool = False
    failures: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def judge(report: Report, budgets: dict) -> list[str]:
    """What missed its budget: latencies and sharing's figures at the full size only; a budget that could
    not be measured (its query missing) counts as missed there too; PgBouncer's failures at any size."""
    missed = []
    if report.judged:
        for r in report.results + report.heaviest.get("results", []):
            if r.budget_p95 is not None and r.p95 > r.budget_p95:
                who = " (the user in the most projects)" if r.sample == "heaviest" else ""
                missed.append(f"{r.query}{who}: p95 {r.p95:.3f} ms > {r.budget_p95} ms")
        heaviest_measured = {r.query for r in report.heaviest.get("results", [])}
        for name in budgets["heaviest"]["judged"]:
            if name not in heaviest_measured:
                missed.append(f"{name} (the user in the most projects): not measured ({_why_not(name, report)})")
        s, budget = report.sharing, budgets["sharing"]
        if not s.get("measured"):
            missed.append(
                f"a member's read of a shared project ({budget['query']}): not measured "
                f"({_why_not(budget['query'], report)})"
            )
        else:
            if s["ratio_p50"] > budget["max_ratio_p50"]:
                missed.append(
                    f"a member's read of a shared project ({s['query']}): p50 {s['ratio_p50']:.2f}x the "
                    f"owner's explicit-filter query > {budget['max_ratio_p50']}x"
                )
            if s["added_us_p50"] > budget["max_added_us_p50"]:
                missed.append(
                    f"a member's read of a shared project ({s['query']}): p50 {s['added_us_p50']:.1f} µs "
                    f"over the owner's explicit-filter query > {budget['max_added_us_p50']} µs"
                )
    missed += _judge_pgbouncer(report, budgets["pgbouncer"])
    by_way = {f.label.split(":")[0]: f for f in report.latency}
    if report.judged and by_way:
        ratio = by_way["read"].p50_ms / by_way["floor"].p50_ms
        if ratio > budgets["latency"]["max_read_to_floor"]:
            missed.append(f"end-to-end read p50 {ratio:.2f}x the floor > {budgets['latency']['max_read_to_floor']}x")
    return missed


def _why_not(name: str, report: Report) -> str:
    exists = getattr(QUERIES, name.split(" ")[0], None) is not None
    return "nothing in this data set to call it with" if exists else "no such named query yet"


def _judge_pgbouncer(report: Report, budget: dict) -> list[str]:
    """Failed transactions through PgBouncer are judged at any size (they are errors, not slowness);
    the TPS at the most clients against the best, like the latencies, only at the full size."""
    runs = report.pgbouncer.get("runs") or []
    if not runs:
        return []
    missed = [
        f"pgbench through PgBouncer, {r['clients']} clients: {r['failed']} failed transactions "
        f"> {budget['max_failed']}" + (f" ({r['error']})" if r.get("error") else "")
        for r in runs
        if r["failed"] > budget["max_failed"]
    ]
    most, best = runs[-1], max(r["tps"] for r in runs)
    ratio = most["tps"] / best if best else 0.0
    report.pgbouncer["tps_ratio"] = ratio
    if report.judged and ratio < budget["min_tps_ratio"]:
        missed.append(
            f"pgbench through PgBouncer: {most['tps']:.0f} TPS at {most['clients']} clients is "
            f"{ratio:.2f}x the best ({best:.0f}) < {budget['min_tps_ratio']}x"
        )
    return missed


def _result_rows(results: list[Result], owner: bool = True) -> list[str]:
    rows = []
    for r in results:
        cells = [
            r.query,
            r.kind,
            f"{r.p50:.3f}",
            f"{r.p95:.3f}",
            f"{r.p99:.3f}",
            f"{r.planning_p50:.3f}",
            f"{r.rows:.1f}",
        ]
        if owner:
            cells += [f"{r.owner_p50:.3f}" if r.owner_p50 else "", f"{r.rls_ratio:.2f}" if r.rls_ratio else ""]
        cells.append("" if r.budget_p95 is None else f"{r.budget_p95}")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def markdown(report: Report) -> str:
    lines = [
        f"Bench of {report.started}: {report.users:,} users, {report.tasks:,} tasks "
        f"(loaded in {report.load_seconds:.0f} s), {report.machine}. Server-side execution time in ms "
        "(EXPLAIN ANALYZE, timing off); reads as todo_app under RLS (a LOGIN member of todo_app), by drawn users, "
        "a project's reads by members of shared projects; owner = the same SQL as the database owner "
        "(no RLS; explicit filters).",
        "",
        "| query | kind | p50 | p95 | p99 | planning p50 | rows | owner p50 | RLS ratio | budget p95 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *_result_rows(report.results),
        "",
    ]
    if report.skipped:
        lines.append(f"Skipped (no such named query yet, or nothing to call it with): {', '.join(report.skipped)}")
    if report.unmeasured:
        lines.append(
            f"Named queries the bench does not call (add them to tooling/bench.py): {', '.join(report.unmeasured)}"
        )
    lines.append(
        f"RLS overhead (read mix, sum of p50): {report.rls_overhead:.2f}x on execution time, "
        f"{report.rls_overhead_with_planning:.2f}x on planning + execution"
    )
    s = report.sharing
    if s.get("measured"):
        lines.append(
            f"A member's read of a shared project ({s['query']}: {s['projects']} shared projects, each read by one "
            f"of its editors or viewers, {s['runs']} calls): p50 {s['member_p50'] * 1000:.1f} µs against the "
            f"owner's explicit-filter query {s['owner_p50'] * 1000:.1f} µs: {s['ratio_p50']:.2f}x, "
            f"{s['added_us_p50']:+.1f} µs (budget "
            f"{s['max_ratio_p50']}x and {s['max_added_us_p50']} µs)"
        )
    elif s:
        lines.append(f"A member's read of a shared project ({s['query']}): not measured")
    lines.append(
        f"Bulk load: {report.tasks / report.load_seconds:,.0f} tasks/s; peak RSS of the loading process "
        f"{report.peak_rss_mb:.0f} MB"
    )
    if report.pgbench:
        p = report.pgbench
        lines.append(
            f"pgbench (app mix: open-tasks page, counts, create, complete; {p['clients']} clients, "
            f"{p['seconds']} s): {p['tps']:.0f} TPS, average latency {p['latency_avg_ms']:.2f} ms, "
            f"{p['failed']} failed"
        )
    lines += _pgbouncer_markdown(report.pgbouncer)
    if report.latency:
        lines += ["", latency.table(report.latency, report.latency_rtt_ms)]
    lines += _heaviest_markdown(report.heaviest)
    lines.append("")
    if not report.judged:
        lines.append("Budgets: not judged (they apply at the full size; this run is smaller)")
    else:
        lines.append("Budgets: " + ("all met" if not report.failures else "MISSED: " + "; ".join(report.failures)))
    return "\n".join(lines) + "\n"


def _heaviest_markdown(heaviest: dict) -> list[str]:
    if not heaviest:
        return []
    if "skipped" in heaviest:
        return ["", f"The user in the most projects: skipped, {heaviest['skipped']}"]
    lines = [
        "",
        f"The user in the most projects ({heaviest['user']}: {heaviest['projects']} projects, "
        f"{heaviest['visible_tasks']:,} tasks in them), every read as that user (a project's reads on their "
        f"largest project, {heaviest['project_tasks']:,} tasks); judged: {', '.join(heaviest['judged'])}:",
        "",
        "| query | kind | p50 | p95 | p99 | planning p50 | rows | budget p95 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *_result_rows(heaviest["results"], owner=False),
        "",
        "Their plans, EXPLAIN (ANALYZE, BUFFERS):",
    ]
    for name, plan in heaviest["plans"].items():
        lines += ["", f"{name}:", "", "```", plan, "```"]
    return lines


def _pgbouncer_markdown(bounced: dict) -> list[str]:
    if not bounced:
        return []
    if "skipped" in bounced:
        return [f"pgbench through PgBouncer: skipped, {bounced['skipped']}"]
    s = bounced["settings"]
    lines = [
        "",
        f"pgbench through PgBouncer {bounced['version']} ({s['pool_mode']} mode, default_pool_size "
        f"{s['default_pool_size']}, max_client_conn {s['max_client_conn']}, {s['auth_type']}), app mix as a LOGIN "
        f"member of todo_app, {bounced['seconds']} s per run; latency per transaction as pgbench saw it:",
        "",
        "| clients | pgbench threads | TPS | p95 latency ms | average latency ms | failed | connecting ms |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in bounced["runs"]:
        failed = f"{r['failed']}" + (f" ({r['aborted_clients']} clients aborted)" if r.get("aborted_clients") else "")
        lines.append(
            f"| {r['clients']:,} | {r['threads']} | {r['tps']:.0f} | {r['p95_ms']:.2f} | "
            f"{r['latency_avg_ms']:.2f} | {failed} | {r['connect_ms']:.0f} |"
        )
    if "tps_ratio" in bounced:
        lines += ["", f"TPS at {bounced['runs'][-1]['clients']:,} clients: {bounced['tps_ratio']:.2f}x the best"]
    return lines


def write_results(report: Report) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    data = asdict(report) | {"results": [asdict(r) | {"rls_ratio": r.rls_ratio} for r in report.results]}
    (RESULTS_DIR / "latest.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    (RESULTS_DIR / "latest.md").write_text(markdown(report))
    return RESULTS_DIR / "latest.md"
