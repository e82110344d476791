"""A smoke run of the benchmark (20,000 tasks) keeps `make bench` working: every named query measured (reads
under RLS and as the owner; a project's reads by members of shared projects), sharing's member-against-owner
figure, the user in the most projects with plans and buffers, pgbench run, results written; and a budget that
cannot be measured counts as missed at the full size."""

from __future__ import annotations

import json

import pytest

from tododb.queries import QUERIES
from tooling import bench, bench_pgbench, bench_report
from tooling.config import ROOT, Settings


@pytest.fixture
def settings(migrated_proc, monkeypatch, tmp_path):
    from tests.support import PARAMS

    monkeypatch.setattr(bench_report, "RESULTS_DIR", tmp_path / "results")
    # The bench makes its scratch database on the tests' server.
    return Settings(PARAMS.url(PARAMS.maintenance_dbname), ROOT / "migrations", ROOT / ".pgdata", 60.0)


def test_bench_smoke_run_measures_every_query_and_writes_its_results(settings):
    report = bench.run(settings, tasks=20_000, runs=10, pgbench_seconds=2, pgbouncer_seconds=0)
    names = [r.query for r in report.results]
    assert names == [*bench.READS, *bench.WRITES] and report.skipped == []
    # Every named query the app has is measured, but the sign-in path.
    assert report.unmeasured == []
    assert {q.split(" ")[0] for q in names} | set(bench.NOT_MEASURED) >= {
        q for q in QUERIES.available_queries if not q.endswith("_cursor")
    }
    for result in report.results:
        assert result.runs == 10 and 0 < result.p50 <= result.p95 <= result.p99, result
        if result.kind == "read":
            assert result.owner_p50 and result.owner_p50 > 0
    assert {r.query for r in report.results if r.sample == "pairs"} >= {"project_open_tasks", "leave_project"}
    assert report.rls_overhead > 0 and not report.judged and report.failures == []

    sharing = report.sharing
    assert sharing["measured"] and sharing["query"] == "project_open_tasks"
    assert sharing["ratio_p50"] > 0 and sharing["added_us_p50"] == pytest.approx(
        (sharing["member_p50"] - sharing["owner_p50"]) * 1000
    )

    heaviest = report.heaviest
    assert heaviest["projects"] > 50  # every shared project there is at this size, and the inbox
    assert [r.query for r in heaviest["results"]] == list(bench.READS)
    assert "Buffers: shared hit=" in heaviest["plans"]["upcoming_tasks"]
    judged = [r for r in heaviest["results"] if r.budget_p95 is not None]
    assert [r.query for r in judged] == ["upcoming_tasks"]

    # pgbench runs the named queries' SQL as they are now, every placeholder turned into a pgbench variable.
    script = bench_pgbench.mix_script()
    assert "{{" not in script and "%(" not in script and QUERIES.count_tasks_by_status.sql.strip()[:40] in script
    assert report.pgbench["tps"] > 0 and report.pgbench["failed"] == 0
    path = bench_report.write_results(report)
    text = path.read_text()
    assert "| open_tasks_by_due_date | read |" in text and "| upcoming_tasks | read |" in text
    assert "A member's read of a shared project (project_open_tasks" in text
    assert "The user in the most projects" in text and "upcoming_tasks:\n\n```\n" in text
    assert json.loads((path.parent / "latest.json").read_text())["tasks"] == 20_000

    # At the full size the same figures are judged; a budget whose query is missing is a miss, not a pass.
    budgets = bench.load_budgets()
    report.judged = True
    report.sharing = {"query": "project_open_tasks", "measured": False}
    report.heaviest["results"] = [r for r in heaviest["results"] if r.query != "upcoming_tasks"]
    missed = bench_report.judge(report, budgets)
    assert any("project_open_tasks): not measured" in m for m in missed)
    assert any("upcoming_tasks (the user in the most projects): not measured" in m for m in missed)
