"""common.ai's LLMBatchOperator and @task.llm_batch with model_id="together:...", through dag.test().

The DAGs are in ``dags/apb_commonai_dags.py``; the trigger runs inline, and the local server plays
Together. Each outcome is checked against what common.ai documents: the XCom manifest and its
counts, the landed JSONL rows, the task state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apb_commonai_helpers import force_first_batch, result_rows, return_value, run_dag, task_state

pytestmark = [pytest.mark.usefixtures("commonai_airflow_db", "quick_polls"), pytest.mark.timeout(180)]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    path = tmp_path / "results"
    path.mkdir()
    return path


def _conf(results: Path, prompts: list[str], conn_id: str = "together_default") -> dict[str, Any]:
    return {"prompts": prompts, "result_path": f"file://{results}", "conn_id": conn_id}


@pytest.mark.parametrize("conn", ["together", "pydanticai"])
def test_plain_text_batch_lands_one_row_per_prompt(
    conn: str, request: pytest.FixtureRequest, together_server: Any, results: Path,
    output: Any,
) -> None:  # fmt: skip
    conn_id = request.getfixturevalue(f"{conn}_connection")
    dag_run = run_dag("apb_commonai_text", **_conf(results, ["Hello", "How are you?", "Bye"], conn_id))
    assert task_state(dag_run, "summarise") == ("success", 1)

    manifest = return_value(dag_run, "summarise")
    assert manifest["adapter"] == "together" and manifest["request_count"] == 3
    assert manifest["counts"]["succeeded"] == 3 and manifest["terminal_reason"] == "succeeded"
    rows = result_rows(results)
    assert [row["status"] for row in rows] == ["success"] * 3
    assert all(isinstance(row["output"], str) and row["output"] for row in rows)
    assert rows[1]["usage"]["input_tokens"] > 0
    stats = together_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)
    assert [f["purpose"] for f in together_server.files() if f["purpose"] == "batch-api"] == ["batch-api"]
    assert "[DAG TEST] running trigger in line" in output()  # it did defer


def test_non_deferrable_operator_polls_on_the_worker(together_connection: str, results: Path) -> None:
    dag_run = run_dag("apb_commonai_text_sync", **_conf(results, ["one", "two"]))
    assert task_state(dag_run, "summarise") == ("success", 1)
    assert return_value(dag_run, "summarise")["counts"]["succeeded"] == 2


def test_pydantic_output_type_through_the_decorator(together_connection: str, results: Path) -> None:
    dag_run = run_dag("apb_commonai_pydantic", **_conf(results, ["printer on fire", "password reset"]))
    assert task_state(dag_run, "triage") == ("success", 1)

    manifest = return_value(dag_run, "triage")
    assert manifest["structured"] is True and manifest["counts"]["succeeded"] == 2
    assert manifest["output_type_ref"].endswith("TicketTriage")
    for row in result_rows(results):
        assert row["status"] == "success"
        assert set(row["output"]) == {"category", "urgent", "confidence"}
        assert isinstance(row["output"]["urgent"], bool)


def test_a_failed_request_is_an_error_row_and_the_task_succeeds(
    together_connection: str, results: Path
) -> None:
    prompts = ["fine", "[[fail:invalid_request_error]] broken", "also fine"]
    dag_run = run_dag("apb_commonai_text", **_conf(results, prompts))
    assert task_state(dag_run, "summarise") == ("success", 1)

    manifest = return_value(dag_run, "summarise")
    assert manifest["counts"]["succeeded"] == 2 and manifest["counts"]["errored"] == 1
    assert manifest["terminal_reason"] == "partial"
    failed = result_rows(results)[1]
    assert failed["status"] == "error" and failed["output"] is None
    assert failed["error"]["provider_code"] == "invalid_request_error"


def test_an_expired_batch_is_landed_with_expired_rows(
    together_connection: str, together_server: Any, results: Path
) -> None:
    together_server.configure(processing_seconds=60)
    forcing = force_first_batch(together_server, "EXPIRED")
    dag_run = run_dag("apb_commonai_text", **_conf(results, ["a", "b", "c"]))
    forcing.join(5)
    assert task_state(dag_run, "summarise") == ("success", 1)

    manifest = return_value(dag_run, "summarise")
    assert manifest["terminal_reason"] == "expired"
    assert manifest["counts"]["expired"] == 3 and manifest["counts"]["missing"] == 0
    assert {row["status"] for row in result_rows(results)} == {"expired"}


def test_a_cancelled_batch_fails_the_task_and_lands_cancelled_rows(
    together_connection: str, together_server: Any, results: Path, output: Any
) -> None:
    together_server.configure(processing_seconds=60)
    forcing = force_first_batch(together_server, "CANCELLED")
    dag_run = run_dag("apb_commonai_text", **_conf(results, ["a", "b"]))
    forcing.join(5)
    assert task_state(dag_run, "summarise")[0] == "failed"
    assert "LLMBatchCancelledError" in output()
    rows = result_rows(results)
    assert [row["status"] for row in rows] == ["cancelled", "cancelled"]
    # common.ai clears its state after a lossy cancel, so a retry would submit a new batch.
    assert not list((results / "_airflow_batch_state").glob("*.json"))


def test_crash_after_submit_then_retry_finds_the_batch_in_the_ledger(
    together_connection: str, together_server: Any, results: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, output: Any,
) -> None:  # fmt: skip
    flag = tmp_path / "crash-once"
    flag.touch()
    monkeypatch.setenv("APB_COMMONAI_CRASH_FLAG", str(flag))
    dag_run = run_dag("apb_commonai_crash_once", **_conf(results, ["a", "b"]))
    assert not flag.exists()  # the first try did crash, after the batch was created
    assert task_state(dag_run, "summarise") == ("success", 2)

    stats = together_server.stats()
    assert (stats["uploads"], stats["batch_creates"], len(together_server.batches())) == (1, 1, 1)
    manifest = return_value(dag_run, "summarise")
    assert manifest["batch_id"] == together_server.batches()[0]["id"]
    assert manifest["counts"]["succeeded"] == 2
    log = output()
    assert "simulated worker crash right after submit" in log
    assert f"Recovered orphaned batch {manifest['batch_id']}" in log


def test_mapped_instances_with_identical_prompts_each_get_their_own_batch(
    together_connection: str, together_server: Any, results: Path
) -> None:
    dag_run = run_dag("apb_commonai_mapped", **_conf(results, []))
    assert [task_state(dag_run, "chunk_batch", i) for i in (0, 1)] == [("success", 1)] * 2
    manifests = [return_value(dag_run, "chunk_batch", i) for i in (0, 1)]
    assert {m["batch_id"] for m in manifests} == {b["id"] for b in together_server.batches()}
    assert len({m["batch_id"] for m in manifests}) == 2 == together_server.stats()["batch_creates"]
    assert all(m["counts"]["succeeded"] == 2 for m in manifests)
