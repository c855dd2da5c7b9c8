"""The results path is strict: a line succeeds only with an answer, unreadable lines (bad JSON
or UTF-8) are reported with file, line and custom_id and leave their request missing, while
``NaN``/``Infinity`` are read as numbers (an answer is kept; non-finite usage is unknown, never
guessed), a COMPLETED batch without files is a retryable error, and there is one reader of
input files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_batch.client.models import BatchJob
from airflow_provider_batch.collect import files as _results_io
from airflow_provider_batch.collect.files import BatchFiles, download_batch_files, open_stream
from airflow_provider_batch.exceptions import TogetherBatchFilesMissingError
from airflow_provider_batch.results import RunContext, parse
from airflow_provider_batch.results.parse import (
    NO_ANSWER_ERROR_CODE,
    USAGE_UNKNOWN_CODE,
    ParsedFile,
    decode_result_line,
)
from airflow_provider_batch.vendors import vendor_named
from tests.results._data import MODEL, error_line, success_line

RUN = RunContext("dag", "run-1", None, datetime(2026, 1, 2, tzinfo=timezone.utc), "results", -1)
TOGETHER = vendor_named("together")


def _write(path: Path, lines: list[str | dict]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def _job(**kw) -> BatchJob:
    values = {
        "id": "batch-1",
        "status": "COMPLETED",
        "input_file_id": "file-in",
        "endpoint": "/v1/chat/completions",
    }
    return BatchJob.model_validate(values | kw)


def _batch(tmp_path: Path, ids: list[str], output: list, errors: list | None = None):
    request = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    inp = _write(tmp_path / "input.jsonl", [{"custom_id": cid, "body": request} for cid in ids])
    out = _write(tmp_path / "output.jsonl", output)
    err = _write(tmp_path / "errors.jsonl", errors) if errors is not None else None
    files = BatchFiles(job=_job(), input_path=inp, output_path=out, error_path=err)
    stream = open_stream(files, {}, prices=parse_prices(), endpoint=None, run=RUN, vendor=TOGETHER)
    return stream, {row.custom_id: row for row in stream.rows()}


def parse_prices():
    from airflow_provider_batch.pricing import DEFAULT_PRICE_TABLE

    return DEFAULT_PRICE_TABLE


def _with_body(cid: str, body: dict, status: int = 200) -> dict:
    return {"custom_id": cid, "response": {"status_code": status, "body": body}}


def test_an_answer_with_nan_and_infinity_in_logprobs_is_kept_as_written(tmp_path: Path) -> None:
    """Python servers write ``-Infinity`` and ``NaN`` in logprobs: the answer is loaded (it was
    paid for), its usage and cost are the usual ones, and the body is stored byte for byte."""
    lines = []
    for i, cid in enumerate(["a", "b"]):
        line = success_line(cid, i)
        line["response"]["body"]["choices"][0]["logprobs"] = {"token_logprobs": ["@NEG@", "@NAN@", -0.5]}
        lines.append(json.dumps(line).replace('"@NEG@"', "-Infinity").replace('"@NAN@"', "NaN"))
    stream, rows = _batch(tmp_path, ["a", "b", "c"], [*lines, "{not json"])
    assert {cid: r.status for cid, r in rows.items()} == {"a": "succeeded", "b": "succeeded", "c": "missing"}
    a = rows["a"]
    assert (a.response_text, a.error_code, a.prompt_tokens, a.completion_tokens) == ("answer 0", None, 10, 3)
    assert a.cost_usd is not None and a.cost_usd > 0
    body = lines[0][lines[0].index('"body": ') + len('"body": ') : -2]
    assert a.response_json == body and "-Infinity, NaN, -0.5" in a.response_json  # as the file had it
    diag = stream.diagnostics
    assert diag.invalid_lines == 1 and diag.usage_unknown == 0
    assert diag.invalid_samples[0].startswith("output file output.jsonl line 3: invalid JSON")
    assert stream.summary.succeeded == 2 and stream.summary.missing == 1
    assert stream.summary.cost_usd_batch == pytest.approx(a.cost_usd + rows["b"].cost_usd, abs=1e-12)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e999"])
def test_an_answer_whose_usage_is_not_finite_keeps_its_answer_with_unknown_usage(
    tmp_path: Path, value: str
) -> None:
    """Usage that is not a finite number: the answer is kept, tokens and cost are unknown (NULL,
    never guessed), the row is flagged ``usage_unknown`` and the batch's sums leave it out."""
    bad = json.dumps(success_line("b", 2)).replace('"prompt_tokens": 12', f'"prompt_tokens": {value}')
    assert value in bad
    stream, rows = _batch(tmp_path, ["a", "b"], [success_line("a", 1), bad])
    b = rows["b"]
    assert (b.status, b.response_text, b.error_code) == ("succeeded", "answer 2", USAGE_UNKNOWN_CODE)
    assert "prompt_tokens" in (b.error_message or "")
    assert (b.prompt_tokens, b.completion_tokens, b.total_tokens, b.cost_usd) == (None, None, None, None)
    a = rows["a"]
    summary = stream.summary
    assert (summary.succeeded, summary.total_tokens) == (2, a.total_tokens)
    assert summary.cost_usd_batch == pytest.approx(a.cost_usd, abs=1e-12)
    assert stream.diagnostics.usage_unknown == 1 and stream.diagnostics.invalid_lines == 0


def test_invalid_json_and_utf8_stay_unreadable() -> None:
    parsed = decode_result_line(b'{"custom_id": "a", "response": {"status_code": 200, "body": {x}}}', 7)
    assert parsed.custom_id is None and parsed.reported_id == "a" and parsed.line_no == 7
    assert parsed.problem is not None and parsed.problem.startswith("invalid JSON")
    bad_utf8 = b'{"custom_id": "a", "response": {"status_code": 200, "body": {"text": "\xff"}}}'
    assert decode_result_line(bad_utf8, 8).custom_id is None


def test_a_200_with_an_error_body_fails_with_its_code(tmp_path: Path) -> None:
    body = {"error": {"code": "context_length_exceeded", "message": "too long"}}
    _, rows = _batch(tmp_path, ["a"], [_with_body("a", body)])
    row = rows["a"]
    assert (row.status, row.error_code, row.error_message) == (
        "failed",
        "context_length_exceeded",
        "too long",
    )


@pytest.mark.parametrize(
    "body",
    [{"choices": []}, {"id": "x", "usage": {"prompt_tokens": 3}}, {"choices": None}, {}],
    ids=["empty-choices", "no-choices", "null-choices", "empty-body"],
)
def test_a_200_without_an_answer_fails_with_no_answer(tmp_path: Path, body: dict) -> None:
    _, rows = _batch(tmp_path, ["a"], [_with_body("a", body)])
    assert (rows["a"].status, rows["a"].error_code) == ("failed", NO_ANSWER_ERROR_CODE)


def test_a_transcript_and_a_2xx_other_than_200_are_answers(tmp_path: Path) -> None:
    lines = [
        _with_body("a", {"text": "hello there"}),
        _with_body("b", {"choices": [{"text": "x"}]}, status=201),
    ]
    _, rows = _batch(tmp_path, ["a", "b"], lines)
    assert rows["a"].status == rows["b"].status == "succeeded" and rows["a"].response_text == "hello there"


def test_the_raw_body_bytes_are_stored_as_they_came(tmp_path: Path) -> None:
    body = '{"choices": [{"message": {"content": "é"}}],   "usage": {"prompt_tokens": 1.0}}'
    raw = '{"custom_id": "a", "response": {"status_code": 200, "body": ' + body + "}}"
    _, rows = _batch(tmp_path, ["a"], [raw])
    assert rows["a"].response_json == body  # not re-serialised
    assert rows["a"].prompt_tokens == 1


def test_duplicate_ids_first_line_wins_and_the_output_file_wins(tmp_path: Path) -> None:
    stream, rows = _batch(
        tmp_path,
        ["a", "b"],
        [success_line("a", 1), success_line("a", 2)],
        [error_line("a", 1), error_line("b", 3)],
    )
    assert rows["a"].status == "succeeded" and rows["a"].response_text == "answer 1"
    assert rows["b"].status == "failed" and stream.diagnostics.duplicates == 2
    assert list(rows) == ["a", "b"]


def test_a_completed_batch_without_output_or_error_file_is_a_retryable_error(tmp_path: Path) -> None:
    from airflow_provider_batch._compat import AirflowFailException

    job = _job(output_file_id=None, error_file_id=None)
    with pytest.raises(TogetherBatchFilesMissingError, match="neither an output nor an error file") as raised:
        download_batch_files(None, job, tmp_path, vendor=TOGETHER)  # type: ignore[arg-type]  # refused before any call
    assert not isinstance(raised.value, AirflowFailException) and raised.value.batch_ids == ["batch-1"]


def test_there_is_one_iter_expected() -> None:
    assert not hasattr(_results_io, "iter_expected") or _results_io.iter_expected is parse.iter_expected
    assert _results_io.open_stream.__globals__["iter_expected"] is parse.iter_expected


def test_iter_expected_names_file_and_line_of_a_bad_input_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "input.jsonl", [{"custom_id": "a", "body": {"model": "m"}}, '{"custom_id": NaN}']
    )
    with pytest.raises(ValueError, match=r"input.jsonl: input line 2 is not a batch request: invalid JSON"):
        list(parse.iter_expected(path))
    path = _write(tmp_path / "input2.jsonl", [{"custom_id": "a", "body": "not an object"}])
    assert [(r.custom_id, r.model) for r in parse.iter_expected(path)] == [("a", None)]


def test_parsed_file_names_itself_in_reports(tmp_path: Path) -> None:
    assert ParsedFile(tmp_path / "errors.jsonl", "error").label == "error file errors.jsonl"


def test_a_row_with_unknown_usage_loads_null_tokens_and_cost(tmp_path: Path, warehouse) -> None:
    """On every dialect: the answer is stored, its tokens and cost are NULL (unknown) and flagged,
    and the spend row sums only the known usage, so the current spend still equals the rows'."""
    from airflow_provider_batch.results import WarehouseLoader

    bad = json.dumps(success_line("b", 2)).replace('"total_tokens": 17', '"total_tokens": -Infinity')
    assert "-Infinity" in bad
    _batch(tmp_path, ["a", "b"], [success_line("a", 1), bad])  # writes the files
    loader = WarehouseLoader(warehouse.hook, results_table=warehouse.table("r"),
                             summary_table=warehouse.table("s"))  # fmt: skip
    loader.ensure_tables()
    stream = open_stream(
        BatchFiles(job=_job(), input_path=tmp_path / "input.jsonl", output_path=tmp_path / "output.jsonl",
                   error_path=None),
        {}, prices=parse_prices(), endpoint=None, run=RUN, vendor=TOGETHER,
    )  # fmt: skip
    loader.load(stream.rows(), lambda: [stream.summary], run=RUN)
    found = warehouse.query(f"SELECT custom_id, status, response_text, total_tokens, cost_usd, error_code "
                            f"FROM {warehouse.table('r')} ORDER BY custom_id")  # fmt: skip
    assert found[1] == ("b", "succeeded", "answer 2", None, None, USAGE_UNKNOWN_CODE)
    assert found[0][:2] == ("a", "succeeded") and found[0][4] > 0
    ((spend,),) = warehouse.query(f"SELECT cost_usd_batch FROM {warehouse.table('s')}")
    assert spend == pytest.approx(found[0][4], abs=1e-12)
