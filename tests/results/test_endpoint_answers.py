"""Answers of OpenAI's Responses API and embeddings read from result lines by their endpoint:
the text of ``output_text`` parts, the vector of ``data[].embedding``, each with its usage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_provider_batch.endpoints import EMBEDDINGS, RESPONSES
from airflow_provider_batch.results.parse import NO_ANSWER_ERROR_CODE, ParsedFile


def _write(path: Path, bodies: list[Any], status: int = 200) -> Path:
    lines = [
        {"custom_id": f"r-{i}", "response": {"status_code": status, "body": b}} for i, b in enumerate(bodies)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _embedding(*vectors: list[float]) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return {
        "object": "list",
        "data": data[::-1],
        "model": "e",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }


def test_embeddings_lines_carry_their_vectors_and_prompt_usage(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "out.jsonl", [_embedding([0.5, -0.25]), _embedding([1.0, 0], [0, 1.0]), {"data": []}]
    )
    one, several, empty = ParsedFile(path, "output", EMBEDDINGS)
    assert (one.succeeded, one.embedding, one.response_text, one.model) == (True, [0.5, -0.25], None, "e")
    assert (one.prompt_tokens, one.completion_tokens, one.total_tokens) == (7, 0, 7)
    assert several.embedding == [[1.0, 0], [0, 1.0]]  # in index order
    assert (empty.succeeded, empty.error_code) == (False, NO_ANSWER_ERROR_CODE)
    assert empty.error_message == "response status 200 without an embedding in the body"


def test_without_its_endpoint_an_embeddings_line_has_no_answer(tmp_path: Path) -> None:
    (line,) = ParsedFile(_write(tmp_path / "out.jsonl", [_embedding([0.5])]), "output")
    assert (line.succeeded, line.error_code, line.embedding) == (False, NO_ANSWER_ERROR_CODE, None)


def _response(status: str = "completed", reason: str | None = None) -> dict[str, Any]:
    content = [{"type": "output_text", "text": "Four."}, {"type": "refusal", "refusal": "no"}]
    return {
        "object": "response",
        "status": status,
        "incomplete_details": {"reason": reason} if reason else None,
        "model": "gpt-4o-mini",
        "output": [{"type": "reasoning", "summary": []}, {"type": "message", "content": content}],
        "usage": {"input_tokens": 11, "output_tokens": 3, "total_tokens": 14},
    }


def test_responses_lines_carry_their_output_text_and_usage(tmp_path: Path) -> None:
    bodies = [_response(), _response("incomplete", "max_output_tokens"), {"status": "failed", "output": []}]
    done, cut, failed = ParsedFile(_write(tmp_path / "out.jsonl", bodies), "output", RESPONSES)
    assert (done.succeeded, done.response_text, done.finish_reason) == (True, "Four.", "completed")
    assert (done.prompt_tokens, done.completion_tokens, done.total_tokens) == (11, 3, 14)
    assert (cut.succeeded, cut.finish_reason) == (True, "max_output_tokens")
    assert (failed.succeeded, failed.error_code) == (False, NO_ANSWER_ERROR_CODE)


def test_a_responses_error_body_keeps_its_code(tmp_path: Path) -> None:
    body = {"error": {"code": "context_length_exceeded", "message": "too long"}}
    (line,) = ParsedFile(_write(tmp_path / "err.jsonl", [body], status=400), "error", RESPONSES)
    assert (line.succeeded, line.error_code, line.error_message) == (
        False,
        "context_length_exceeded",
        "too long",
    )


def test_a_release_table_gains_the_embedding_column_and_loads_vectors(warehouse: Any, tmp_path: Path) -> None:
    """A results table of an earlier release gets ``response_embedding`` in place (its rows kept,
    NULL there); an embeddings batch then stores its vectors: JSON text, PostgreSQL's or DuckDB's array, or
    BigQuery's array of ``vector`` structs."""
    from datetime import datetime, timezone

    from airflow_provider_batch.results import ExpectedRequest, RunContext, WarehouseLoader, reconcile
    from tests.results._release_tables import create_release_tables

    old = create_release_tables(warehouse)
    results = warehouse.table("results")
    loader = WarehouseLoader(
        warehouse.hook,
        results_table=results,
        summary_table=warehouse.table("summary"),
        metadata_columns=["segment"],
    )
    loader.ensure_tables()
    bodies = [_embedding([0.5, -0.25]), _embedding([1.0, 0.0], [0.0, 1.0])]
    path = _write(tmp_path / "out.jsonl", bodies)
    expected = [ExpectedRequest(f"r-{i}", "e", {"segment": "s"}) for i in range(2)]
    run = RunContext("emb", "run-1", None, datetime(2026, 6, 1, tzinfo=timezone.utc), "results", -1)
    done = reconcile(
        expected,
        ParsedFile(path, "output", EMBEDDINGS),
        [],
        batch_id="b-emb",
        batch_status="COMPLETED",
        run=run,
    )
    loader.load(done.rows(), [done.summary], run=run)
    kept = warehouse.query(f"SELECT COUNT(*) FROM {results} WHERE response_embedding IS NULL")
    assert kept == [(len(old["rows"]),)]
    got = warehouse.query(
        f"SELECT custom_id, response_embedding FROM {results} WHERE batch_id = 'b-emb' ORDER BY 1"
    )
    if warehouse.name == "bigquery":  # ARRAY<STRUCT<vector ARRAY<FLOAT64>>>: one element a vector
        assert [v for _, v in got] == [
            [{"vector": [0.5, -0.25]}],
            [{"vector": [1.0, 0.0]}, {"vector": [0.0, 1.0]}],
        ]
        return
    vectors = [json.loads(v) if isinstance(v, str) else v for _, v in got]
    assert vectors == [[0.5, -0.25], [[1.0, 0.0], [0.0, 1.0]]]
    assert all(isinstance(v, str) for _, v in got) == (warehouse.name not in ("postgres", "duckdb"))
