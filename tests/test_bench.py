"""A smoke run of the benchmark (20,000 tasks) keeps `make bench` working:
every query measured under RLS and as the owner, pgbench run, results written."""

from __future__ import annotations

import json

import pytest

from tooling import bench
from tooling.config import ROOT, Settings


@pytest.fixture
def settings(migrated_proc, monkeypatch, tmp_path):
    from tests.support import PARAMS

    monkeypatch.setattr(bench, "RESULTS_DIR", tmp_path / "results")
    # The bench makes its scratch database on the tests' server.
    return Settings(PARAMS.url(PARAMS.maintenance_dbname), ROOT / "migrations", ROOT / ".pgdata", 60.0)


def test_bench_smoke_run_measures_every_query_and_writes_its_results(settings):
    report = bench.run(settings, tasks=20_000, runs=10, pgbench_seconds=2)
    names = [r.query for r in report.results]
    assert names == [*bench.READS, *bench.WRITES]
    for result in report.results:
        assert result.runs == 10 and 0 < result.p50 <= result.p95 <= result.p99, result
        if result.kind == "read":
            assert result.owner_p50 and result.owner_p50 > 0
    assert report.rls_overhead > 0 and not report.judged and report.failures == []
    assert report.pgbench["tps"] > 0 and report.pgbench["failed"] == 0
    path = bench.write_results(report)
    assert "| open_tasks_by_due_date | read |" in path.read_text()
    assert json.loads((path.parent / "latest.json").read_text())["tasks"] == 20_000
