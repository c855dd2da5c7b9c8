"""Empty days are normal: a nightly source query with no rows skips build, submit and results
(with ``dag.test()`` against the local server): nothing is uploaded, no batch is created, no row is
loaded. ``on_empty="fail"`` fails the build with a message saying so."""

from __future__ import annotations

from typing import Any

import pytest

from apb_pipeline_helpers import rows, run_dag, seed_source, ti_states

pytestmark = pytest.mark.timeout(180)


def _log(capfd: pytest.CaptureFixture[str]) -> str:
    out = capfd.readouterr()  # the task runner logs to the captured streams
    return out.out + out.err


def _states(dag_run: Any) -> dict[str, str]:
    return {task: state for task, (state, _) in ti_states(dag_run).items()}


def _nothing_paid_or_loaded(pipeline: Any) -> None:
    stats = pipeline.server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (0, 0)
    assert pipeline.server.batches() == [] and pipeline.server.files() == []
    assert list(pipeline.work_dir.iterdir()) == []  # no request file, no sidecar
    tables = rows(pipeline.warehouse, "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert tables == []  # the results task never ran: no table, no row


@pytest.mark.parametrize(
    "dag_id", ["apb_pipeline_empty_day", "apb_pipeline_empty_day_all_done", "apb_pipeline_partial_lenient"]
)
def test_an_empty_day_skips_every_task_and_pays_nothing(
    pipeline: Any, dag_id: str, capfd: pytest.CaptureFixture[str]
) -> None:
    # The last two load with trigger_rule="all_done" (from submit.output, and from submit_task_id).
    seed_source(pipeline.source, 0)
    dag_run = run_dag(dag_id, pipeline.work_dir)
    assert _states(dag_run) == {"build": "skipped", "submit": "skipped", "results": "skipped"}
    assert dag_run.state == "success"
    log = _log(capfd)
    assert "the source gave no rows" in log and "skipping (on_empty='skip')" in log
    if dag_id != "apb_pipeline_empty_day":
        assert "nothing to load: upstream task(s) submit were skipped" in log
    _nothing_paid_or_loaded(pipeline)


def test_an_empty_day_fails_with_on_empty_fail(pipeline: Any, capfd: pytest.CaptureFixture[str]) -> None:
    seed_source(pipeline.source, 0)
    dag_run = run_dag("apb_pipeline_empty_day_fail", pipeline.work_dir)
    assert _states(dag_run) == {"build": "failed", "submit": "upstream_failed", "results": "upstream_failed"}
    log = _log(capfd)
    assert "EmptyInputError" in log
    assert "no requests, so there is nothing to submit; failing because on_empty='fail'" in log
    _nothing_paid_or_loaded(pipeline)
