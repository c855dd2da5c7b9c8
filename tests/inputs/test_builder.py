"""Request builder: rows (in memory, SQLite, PostgreSQL, JSONL) -> request file + metadata sidecar."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.inputs.build import (
    BuildError,
    build_batch_file,
    metadata_path_for,
    records_from_jsonl,
    records_from_sql,
)
from airflow_provider_batch.inputs.limits import AUDIO_ENDPOINTS
from airflow_provider_batch.inputs.validate import ensure_valid

from .factories import MODEL


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


ROWS = [
    {"id": 1, "title": "Apples", "text": "Red fruit", "price": Decimal("1.50"), "day": dt.date(2026, 1, 2)},
    {"id": 2, "title": "Pears", "text": "Green fruit", "price": Decimal("2.25"), "day": dt.date(2026, 1, 3)},
]


def test_chat_requests_and_sidecar(tmp_path: Path) -> None:
    out = tmp_path / "req.jsonl"
    built = build_batch_file(
        ROWS,
        out,
        key_column="id",
        model=MODEL,
        id_prefix="doc-",
        user_template="Summarise {title}: {text}",
        system_prompt="Be brief.",
        body={"max_tokens": 64, "temperature": 0.2, "response_format": {"type": "json_object"}},
        metadata_columns=("price", "day"),
    )
    assert built.count == 2 and built.bytes == out.stat().st_size and built.models == {MODEL: 2}
    assert built.metadata_path == metadata_path_for(out) == tmp_path / "req.jsonl.meta.jsonl"
    first = _read(out)[0]
    assert first == {
        "custom_id": "doc-1",
        "body": {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Summarise Apples: Red fruit"},
            ],
            "max_tokens": 64,
            "temperature": 0.2,
            "response_format": {"type": "json_object"},
        },
    }
    assert "price" not in out.read_text()  # metadata never reaches the request body
    assert _read(built.metadata_path) == [
        {"custom_id": "doc-1", "model": MODEL, "meta": {"price": "1.50", "day": "2026-01-02"}},
        {"custom_id": "doc-2", "model": MODEL, "meta": {"price": "2.25", "day": "2026-01-03"}},
    ]
    ensure_valid(out)
    assert built.to_xcom()["path"] == str(out)


def test_audio_requests(tmp_path: Path) -> None:
    rows = [{"clip": f"c{i}", "url": f"https://example.com/{i}.wav"} for i in (1, 2)]
    out = tmp_path / "audio.jsonl"
    build_batch_file(
        rows,
        out,
        key_column="clip",
        model="openai/whisper-large-v3",
        endpoint=AUDIO_ENDPOINTS[0],
        audio_url_column="url",
        body={"language": "en"},
    )
    assert _read(out)[1] == {
        "custom_id": "c2",
        "method": "FILE",
        "body": {"model": "openai/whisper-large-v3", "file": "https://example.com/2.wav", "language": "en"},
    }
    ensure_valid(out, endpoint=AUDIO_ENDPOINTS[0])


def test_control_characters_in_prompts_are_stored_escaped(tmp_path: Path) -> None:
    prompt = "line1\nline2\ttab\x00nul\x1b[31m \u2028 é"
    out = tmp_path / "ctl.jsonl"
    build_batch_file([{"k": "a", "p": prompt}], out, key_column="k", model=MODEL, user_template="{p}")
    raw = out.read_bytes()
    assert raw.count(b"\n") == 1 and b"\x00" not in raw and b"\x1b" not in raw
    assert _read(out)[0]["body"]["messages"][0]["content"] == prompt
    ensure_valid(out)


@pytest.mark.parametrize(
    ("rows", "kwargs", "message"),
    [
        pytest.param(
            [{"id": 1}],
            {"user_template": "Hi {name}"},
            r"row 1: user_template uses column 'name'",
            id="template_missing_column",
        ),
        pytest.param(
            [{"id": 1, "q": "a"}, {"id": 2}],
            {"user_template": "{q}"},
            r"row 2: .*column 'q'",
            id="template_missing_column_second_row",
        ),
        pytest.param(
            [{"id": 1, "q": "a"}],
            {"user_template": "{q"},
            r"row 1: user_template cannot be",
            id="template_syntax",
        ),
        pytest.param(
            [{"q": "a"}], {"user_template": "{q}"}, r"row 1: column 'id' is missing", id="no_key_column"
        ),
        pytest.param(
            [{"id": None, "q": "a"}],
            {"user_template": "{q}"},
            r"row 1: key column 'id' is NULL",
            id="null_key",
        ),
        pytest.param(
            [{"id": " ", "q": "a"}],
            {"user_template": "{q}"},
            r"row 1: key column 'id' is empty",
            id="blank_key",
        ),
        pytest.param(
            [{"id": "x" * 65, "q": "a"}],
            {"user_template": "{q}"},
            r"row 1: custom_id .* 65 char",
            id="long_key",
        ),
        pytest.param(
            [{"id": 7, "q": "a"}, {"id": "7", "q": "b"}],
            {"user_template": "{q}"},
            r"row 2: duplicate custom_id '7'",
            id="duplicate_key",
        ),
        pytest.param(
            [{"id": 1, "q": "a"}],
            {"user_template": "{q}", "metadata_columns": ["zz"]},
            r"row 1: column 'zz' is missing",
            id="missing_metadata_column",
        ),
        pytest.param(
            [{"id": 1, "q": "\ud800"}],
            {"user_template": "{q}"},
            r"row 1 \(custom_id='1'\)",
            id="lone_surrogate",
        ),
    ],
)
def test_bad_rows_fail_with_row_and_column_and_leave_nothing(
    tmp_path: Path, rows: list[dict[str, Any]], kwargs: dict[str, Any], message: str
) -> None:
    out = tmp_path / "bad.jsonl"
    with pytest.raises(BuildError, match=message):
        build_batch_file(rows, out, key_column="id", model=MODEL, **kwargs)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "need user_template"),
        ({"user_template": "{q}", "endpoint": "/v1/embeddings"}, "unsupported endpoint"),
        ({"endpoint": AUDIO_ENDPOINTS[0]}, "needs audio_url_column"),
        ({"user_template": "{q}", "body": {"messages": []}}, "must not set"),
        ({"user_template": "{q}", "body": {"stop": {1, 2}}}, "not JSON-serialisable"),
        ({"user_template": "{q}", "model": ""}, "model must be"),
    ],
)
def test_bad_arguments_are_refused_up_front(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {"key_column": "id", "model": MODEL, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_batch_file([{"id": 1, "q": "a"}], tmp_path / "x.jsonl", **options)


def test_records_stream_from_sqlite(tmp_path: Path, sqlite_conn_id: str) -> None:
    db = tmp_path / "warehouse.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("create table reviews (review_id integer, body text, stars integer)")
        rows = [(i, f"review {i}", i % 5) for i in range(1, 12)]
        conn.executemany("insert into reviews values (?, ?, ?)", rows)
    records = records_from_sql(
        sqlite_conn_id, "select * from reviews where stars >= ? order by review_id", (1,), chunk_size=3
    )
    out = tmp_path / "r.jsonl"
    built = build_batch_file(
        records,
        out,
        key_column="review_id",
        model=MODEL,
        user_template="Classify: {body}",
        metadata_columns=("stars",),
    )
    assert built.count == 9
    assert _read(out)[0]["body"]["messages"][0]["content"] == "Classify: review 1"
    assert _read(built.metadata_path)[0] == {"custom_id": "1", "model": MODEL, "meta": {"stars": 1}}


def test_records_from_sql_refuses_a_non_sql_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_APB_AWS", json.dumps({"conn_type": "aws"}))
    with pytest.raises(TypeError, match="'apb_aws' gives AwsGenericHook, not a SQL"):
        list(records_from_sql("apb_aws", "select 1"))


@pytest.mark.postgres
def test_records_stream_from_postgres_with_a_server_side_cursor(
    tmp_path: Path, postgres_conn_id: str
) -> None:
    from airflow.sdk import BaseHook

    from airflow_provider_batch.inputs.sources import _cursor

    sql = (
        "select n as id, 'item ' || n as name, (n * 1.5)::numeric as price, date '2026-01-01' + n as day "
        "from generate_series(1, 2500) as n where n > %(low)s order by n"
    )
    records = records_from_sql(postgres_conn_id, sql, {"low": 0}, chunk_size=1000)
    out = tmp_path / "pg.jsonl"
    built = build_batch_file(
        records,
        out,
        key_column="id",
        model=MODEL,
        user_template="Describe {name}",
        metadata_columns=("price", "day"),
    )
    assert built.count == 2500
    assert _read(built.metadata_path)[1] == {
        "custom_id": "2",
        "model": MODEL,
        "meta": {"price": "3.0", "day": "2026-01-03"},
    }
    ensure_valid(out)
    conn = BaseHook.get_connection(postgres_conn_id).get_hook().get_conn()
    try:
        assert getattr(_cursor(conn, 10), "name", None)  # named cursor = server-side streaming
    finally:
        conn.close()


def test_records_from_jsonl(tmp_path: Path) -> None:
    src = tmp_path / "rows.jsonl"
    src.write_text('{"id": 1, "q": "a"}\n\n{"id": 2, "q": "b"}\n', encoding="utf-8")
    assert list(records_from_jsonl(src)) == [{"id": 1, "q": "a"}, {"id": 2, "q": "b"}]
    src.write_text('{"id": 1}\n[1]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: a record must be a JSON object"):
        list(records_from_jsonl(src))
