"""TogetherBuildRequestsOperator and the TaskFlow helper, end to end on SQLite, files and S3."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from airflow_provider_batch._compat import AirflowSkipException
from airflow_provider_batch.inputs.validate import EmptyInputError, InputValidationError
from airflow_provider_batch.operators.build import (
    TogetherBuildRequestsOperator,
    build_requests,
    build_requests_from_sql,
)

from .factories import MODEL


@pytest.fixture
def reviews_db(tmp_path: Path, sqlite_conn_id: str) -> str:
    with sqlite3.connect(tmp_path / "warehouse.sqlite") as conn:
        conn.execute("create table reviews (id integer, body text, lang text)")
        rows = [(i, f"text {i}", "en") for i in range(1, 21)]
        conn.executemany("insert into reviews values (?, ?, ?)", rows)
    return sqlite_conn_id


def test_operator_builds_from_sql_and_returns_small_xcom(tmp_path: Path, reviews_db: str) -> None:
    out = tmp_path / "out" / "requests.jsonl"
    op = TogetherBuildRequestsOperator(
        task_id="build",
        sql_conn_id=reviews_db,
        sql="select * from reviews where id <= ?",
        parameters=(5,),
        key_column="id",
        model=MODEL,
        user_template="Sentiment of: {body}",
        system_prompt="One word.",
        body={"max_tokens": 4},
        metadata_columns=["lang"],
        output_path=str(out),
        id_prefix="rev-",
    )
    result = op.execute(context={})  # type: ignore[arg-type]
    assert sorted(p.name for p in out.parent.iterdir()) == ["requests.jsonl", "requests.jsonl.meta.jsonl"]
    assert result == {
        "path": str(out),
        "metadata_path": f"{out}.meta.jsonl",
        "count": 5,
        "bytes": out.stat().st_size,
        "models": {MODEL: 5},
    }
    json.dumps(result)  # XCom-safe
    first = json.loads(out.read_bytes().splitlines()[0])
    assert first["custom_id"] == "rev-1" and first["body"]["max_tokens"] == 4


def test_invalid_output_fails_the_task(tmp_path: Path, reviews_db: str) -> None:
    op = TogetherBuildRequestsOperator(
        task_id="build",
        sql_conn_id=reviews_db,
        sql="select * from reviews",
        key_column="id",
        model=MODEL,
        user_template="{body}",
        output_path=str(tmp_path / "r.jsonl"),
        limits={"max_lines": 10},
        check_totals=True,
    )
    with pytest.raises(InputValidationError, match="too_many_lines"):
        op.execute(context={})  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.iterdir()] == ["warehouse.sqlite"]  # nothing left behind


def test_taskflow_helper(tmp_path: Path, reviews_db: str) -> None:
    result = build_requests_from_sql(
        sql_conn_id=reviews_db,
        sql="select * from reviews",
        output_path=str(tmp_path / "t.jsonl"),
        key_column="id",
        model=MODEL,
        user_template="{body}",
        chunk_size=7,
    )
    assert result["count"] == 20


@pytest.fixture
def s3_bucket() -> Iterator[str]:
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="apb-build")
        yield "apb-build"


def test_records_from_s3_to_s3(tmp_path: Path, s3_bucket: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    records = "".join(json.dumps({"clip": f"c{i}", "url": f"https://x.test/{i}"}) + "\n" for i in range(3))
    s3.put_object(Bucket=s3_bucket, Key="in/clips.jsonl", Body=records.encode())
    op = TogetherBuildRequestsOperator(
        task_id="build",
        records_path=f"s3://{s3_bucket}/in/clips.jsonl",
        key_column="clip",
        model="openai/whisper-large-v3",
        endpoint="/v1/audio/transcriptions",
        audio_url_column="url",
        output_path=f"s3://{s3_bucket}/out/requests.jsonl",
    )
    result = op.execute(context={})  # type: ignore[arg-type]
    assert result["path"] == f"s3://{s3_bucket}/out/requests.jsonl"
    assert result["metadata_path"] == f"s3://{s3_bucket}/out/requests.jsonl.meta.jsonl"
    body = s3.get_object(Bucket=s3_bucket, Key="out/requests.jsonl")["Body"].read()
    assert body.count(b'"method":"FILE"') == 3 and len(body) == result["bytes"]


def test_invalid_build_publishes_nothing_to_s3(s3_bucket: str, reviews_db: str) -> None:
    op = TogetherBuildRequestsOperator(
        task_id="build",
        sql_conn_id=reviews_db,
        sql="select * from reviews",
        key_column="id",
        model=MODEL,
        user_template="{body}",
        output_path=f"s3://{s3_bucket}/out/r.jsonl",
        limits={"max_line_bytes": 50},
    )
    with pytest.raises(InputValidationError, match="line_too_large"):
        op.execute(context={})  # type: ignore[arg-type]
    assert "Contents" not in boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=s3_bucket)


def test_templated_fields_and_argument_checks() -> None:
    templated = set(TogetherBuildRequestsOperator.template_fields)
    assert {"sql", "output_path", "user_template", "system_prompt"} <= templated
    with pytest.raises(ValueError, match="exactly one of sql"):
        TogetherBuildRequestsOperator(task_id="a", key_column="id", model=MODEL, output_path="x")
    with pytest.raises(ValueError, match="sql needs sql_conn_id"):
        TogetherBuildRequestsOperator(task_id="b", key_column="id", model=MODEL, output_path="x", sql="s")


def test_templates_render_but_format_placeholders_survive(tmp_path: Path) -> None:
    import jinja2

    op = TogetherBuildRequestsOperator(
        task_id="t",
        sql_conn_id="x",
        sql="select * from t where day = '{{ ds }}'",
        key_column="id",
        model=MODEL,
        user_template="Review from {{ ds }}: {body}",
        system_prompt="Today is {{ ds }}.",
        output_path=str(tmp_path / "{{ ds }}.jsonl"),
    )
    op.render_template_fields({"ds": "2026-11-21"}, jinja_env=jinja2.Environment())  # type: ignore[arg-type]
    assert op.sql == "select * from t where day = '2026-11-21'"
    assert op.user_template == "Review from 2026-11-21: {body}"
    assert op.system_prompt == "Today is 2026-11-21."
    assert op.output_path.endswith("/2026-11-21.jsonl")


# ---- empty days ---------------------------------------------------------------------------------


def _empty_day_op(tmp_path: Path, conn_id: str, **kwargs: Any) -> TogetherBuildRequestsOperator:
    return TogetherBuildRequestsOperator(
        task_id="build",
        sql_conn_id=conn_id,
        sql="select * from reviews where id > 1000",
        key_column="id",
        model=MODEL,
        user_template="{body}",
        output_path=str(tmp_path / "out" / "requests.jsonl"),
        **kwargs,
    )


def test_no_rows_skips_by_default_and_publishes_nothing(tmp_path: Path, reviews_db: str) -> None:
    out = tmp_path / "out" / "requests.jsonl"
    with pytest.raises(AirflowSkipException) as caught:
        _empty_day_op(tmp_path, reviews_db).execute(context={})  # type: ignore[arg-type]
    assert str(caught.value) == (
        f"the source gave no rows for {out}: no requests, so there is nothing to submit; skipping "
        "(on_empty='skip'). Nothing was uploaded or paid for; downstream tasks follow Airflow's skip rules"
    )
    assert list(out.parent.iterdir()) == []  # neither the requests nor the sidecar, nor a temp file


def test_no_rows_fails_with_on_empty_fail(tmp_path: Path, reviews_db: str) -> None:
    expected = (
        r"no requests, so there is nothing to submit; failing because on_empty='fail' "
        r"\(pass on_empty='skip' to skip empty days\)"
    )
    with pytest.raises(EmptyInputError, match=expected):
        _empty_day_op(tmp_path, reviews_db, on_empty="fail").execute(context={})  # type: ignore[arg-type]
    assert list((tmp_path / "out").iterdir()) == []


def test_on_empty_is_checked_when_the_operator_is_created(tmp_path: Path, reviews_db: str) -> None:
    with pytest.raises(ValueError, match="on_empty must be 'skip' or 'fail'"):
        _empty_day_op(tmp_path, reviews_db, on_empty="warn")


def test_taskflow_helpers_take_on_empty(tmp_path: Path, reviews_db: str) -> None:
    common = {
        "sql_conn_id": reviews_db,
        "sql": "select * from reviews where id < 0",
        "key_column": "id",
        "model": MODEL,
        "user_template": "{body}",
        "output_path": str(tmp_path / "t.jsonl"),
    }
    with pytest.raises(AirflowSkipException):
        build_requests_from_sql(**common)
    with pytest.raises(EmptyInputError):
        build_requests_from_sql(**common, on_empty="fail")
    with pytest.raises(AirflowSkipException):
        build_requests([], str(tmp_path / "r.jsonl"), key_column="id", model=MODEL, user_template="{x}")
    with pytest.raises(ValueError, match="on_empty"):
        build_requests([], str(tmp_path / "r.jsonl"), key_column="id", model=MODEL, on_empty=None)
    assert [p.name for p in tmp_path.iterdir()] == ["warehouse.sqlite"]
