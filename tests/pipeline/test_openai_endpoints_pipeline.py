"""OpenAI's Responses API and embeddings through the whole pipeline (build -> submit -> results),
with ``dag.test()`` against the local OpenAI server: every request loads as ``succeeded`` with the
endpoint's answer (the text of ``output_text``; the vector, in the ``response_embedding`` column),
its usage and its cost, on SQLite, PostgreSQL (a native ``double precision[]``) and MariaDB (JSON
text)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.vendors.openai.vendor import OpenAIVendor

from apb_pipeline_helpers import rows, run_dag, seed_source, set_conn, ti_states, together_conn

pytestmark = [pytest.mark.timeout(180), pytest.mark.other_vendor]

N = 12
DIMENSIONS = 8
WHEN = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.fixture
def openai_pipeline(
    airflow_db: None, openai_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The connection to the OpenAI server, a seeded source and a SQLite warehouse; the work dir."""
    source, work = tmp_path / "source.db", tmp_path / "work"
    work.mkdir()
    together_conn(monkeypatch, openai_server, poll_interval=0.05)
    set_conn(monkeypatch, "apb_pipeline_source", conn_type="sqlite", host=str(source))
    set_conn(monkeypatch, "apb_pipeline_wh", conn_type="sqlite", host=str(tmp_path / "warehouse.db"))
    seed_source(source, N)
    return work


def _batch_cost(model: str, prompt: int, completion: int) -> float:
    return OpenAIVendor.prices.cost(model, prompt, completion).batch_usd


def _vector(value: Any) -> list[float]:
    """The stored vector: a list (PostgreSQL's array) or JSON text (SQLite, MariaDB)."""
    vector = json.loads(value) if isinstance(value, str) else value
    return [float(x) for x in vector]


def _check_embedding_rows(found: list[tuple], summary: tuple) -> None:
    assert len(found) == N
    for status, text, vector, prompt, completion, total, cost in found:
        assert (status, text, completion) == ("succeeded", None, 0)
        vec = _vector(vector)
        assert len(vec) == DIMENSIONS and math.isclose(math.fsum(x * x for x in vec), 1.0, rel_tol=1e-4)
        assert prompt == total > 0
        assert float(cost) == pytest.approx(_batch_cost("text-embedding-3-small", prompt, 0), abs=1e-12)
    requests, succeeded, prompt_sum, completion_sum, spend = summary
    assert (requests, succeeded, completion_sum) == (N, N, 0)
    assert prompt_sum == sum(r[3] for r in found)
    assert float(spend) == pytest.approx(sum(float(r[6]) for r in found), abs=1e-9)


_ROWS = (
    "SELECT status, response_text, response_embedding, prompt_tokens, completion_tokens, total_tokens, "
    "cost_usd FROM {} ORDER BY custom_id"
)
_SPEND = "SELECT requests, succeeded, prompt_tokens, completion_tokens, cost_usd_batch FROM {}"


def test_embeddings_batch_loads_each_vector_into_sqlite(openai_pipeline: Path, tmp_path: Path) -> None:
    run = run_dag("apb_openai_embeddings_sqlite", openai_pipeline, logical_date=WHEN, fresh=True)
    assert ti_states(run) == {"build": ("success", 1), "submit": ("success", 1), "results": ("success", 1)}
    warehouse = tmp_path / "warehouse.db"
    found = rows(warehouse, _ROWS.format("pipeline_results"))
    (summary,) = rows(warehouse, _SPEND.format("pipeline_results_summary"))
    _check_embedding_rows(found, summary)
    (segment,) = rows(warehouse, "SELECT segment FROM pipeline_results WHERE custom_id = 'row-1'")
    assert segment == ("wholesale",)


def test_embeddings_batch_loads_each_vector_into_a_database_server(
    openai_pipeline: Path, server_table: Any
) -> None:
    db = server_table
    dag_id = db.dag_id.replace("apb_pipeline", "apb_openai_embeddings")
    run = run_dag(dag_id, openai_pipeline, logical_date=WHEN, fresh=True)
    assert ti_states(run)["results"] == ("success", 1)
    table, summary = db.quoted(db.table), db.quoted(f"{db.table}_summary")
    found = db.query(_ROWS.format(table))
    _check_embedding_rows(found, db.query(_SPEND.format(summary))[0])
    if db.dag_id.endswith("postgres"):
        (kind,) = db.query(
            "SELECT data_type FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
            db.table,
            "response_embedding",
        )
        assert kind == ("ARRAY",)
        assert isinstance(found[0][2], list)  # a native array, read back as numbers
    else:
        assert isinstance(found[0][2], str) and found[0][2].startswith("[")


def test_responses_batch_loads_the_output_text_usage_and_cost(openai_pipeline: Path, tmp_path: Path) -> None:
    run = run_dag("apb_openai_responses_sqlite", openai_pipeline, logical_date=WHEN, fresh=True)
    assert ti_states(run) == {"build": ("success", 1), "submit": ("success", 1), "results": ("success", 1)}
    warehouse = tmp_path / "warehouse.db"
    found = rows(
        warehouse,
        "SELECT status, response_text, finish_reason, response_embedding, prompt_tokens, completion_tokens, "
        "total_tokens, cost_usd, response_json FROM pipeline_results ORDER BY custom_id",
    )
    assert len(found) == N
    for status, text, finish, vector, prompt, completion, total, cost, body in found:
        assert status == "succeeded" and vector is None
        output = json.loads(body)["output"][0]["content"][0]
        assert output["type"] == "output_text" and text == output["text"] and text
        assert finish in ("completed", "max_output_tokens")
        assert prompt > 0 and 0 < completion <= 24 and total == prompt + completion
        assert cost == pytest.approx(_batch_cost("gpt-4o-mini", prompt, completion), abs=1e-12)
    (summary,) = rows(warehouse, _SPEND.format("pipeline_results_summary"))
    assert summary[:2] == (N, N) and summary[3] == sum(r[5] for r in found)
    assert summary[4] == pytest.approx(sum(r[7] for r in found), abs=1e-9)
