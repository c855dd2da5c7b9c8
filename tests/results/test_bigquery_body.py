"""The BigQuery load job's body: newline-delimited JSON written a block at a time to a file (no
emulator needed; the round trip is the bigquery case of ``test_warehouse``)."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pendulum
import pytest

from airflow_provider_batch.warehouse.dialects import bigquery
from airflow_provider_batch.warehouse.dialects._sql import Table
from airflow_provider_batch.warehouse.dialects.bigquery import BigQueryDialect


def _lines(body: bytes) -> list[dict[str, Any]]:
    assert body.endswith(b"\n")
    return [json.loads(line) for line in body.splitlines()]


def test_rows_across_blocks_keep_their_order_and_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bigquery, "_BLOCK_ROWS", 3)
    out = io.BytesIO()
    rows = [(f"r-{i}", i if i % 2 else None) for i in range(7)]
    assert bigquery._ndjson(["custom_id", "n"], rows, out) == 7
    lines = _lines(out.getvalue())
    assert [line["_apb_seq"] for line in lines] == list(range(1, 8))
    assert [line["custom_id"] for line in lines] == [f"r-{i}" for i in range(7)]
    assert "n" not in lines[0] and lines[1]["n"] == 1  # None is left out: it loads as NULL


def test_values_are_written_as_bigquery_reads_them() -> None:
    out = io.BytesIO()
    row = (
        datetime(2026, 12, 7, 19, 0, 1, 5, tzinfo=timezone.utc),
        pendulum.datetime(2026, 12, 7, 19, 0, 2, tz="UTC"),
        date(2026, 12, 7),
        Decimal("0.000000123"),
        float("nan"),
        "é \u2028 ✓",
        [{"vector": [0.5, -0.25]}],
        True,
        float("-inf"),
    )
    names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
    bigquery._ndjson(names, [row], out)
    (line,) = _lines(out.getvalue())
    assert datetime.fromisoformat(line["a"]) == row[0]
    assert datetime.fromisoformat(line["b"]) == row[1]
    assert line["c"] == "2026-12-07" and line["d"] == "1.23E-7" and Decimal(line["d"]) == row[3]
    assert line["e"] is None and line["f"] == row[5] and line["g"] == row[6] and line["h"] is True
    assert line["i"] is None  # JSON has no NaN or infinity: NULL
    assert "é" in out.getvalue().decode()  # UTF-8, not escaped


def test_a_value_json_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot write a object value"):
        bigquery._ndjson(["a"], [(object(),)], io.BytesIO())


class _Stage:
    """A connection that keeps what the load job would upload."""

    rowcount = -1

    def __init__(self) -> None:
        self.uploaded: list[bytes] = []
        self.merged = ""

    def column_types(self, table: Table) -> dict[str, str]:
        return {"custom_id": "STRING", "response_json": "JSON"}

    def load_stage(self, table: Table, schema: Any, body: Any) -> str:
        self.uploaded.append(body.read())
        return "`d`.`stage`"

    def cursor(self) -> Any:
        return self

    def execute(self, sql: str, params: Any = ()) -> None:
        self.merged = sql

    def close(self) -> None:
        pass


def test_write_uploads_the_file_from_its_start_and_merges_once() -> None:
    conn = _Stage()
    columns = [("custom_id", "key"), ("response_json", "text")]
    rows = [("r-1", '{"a": 1}'), ("r-2", None)]
    written = BigQueryDialect(emulator=True).write(
        conn, Table("results", "d"), columns, ["custom_id"], rows, chunk_size=10
    )
    assert written == 2
    (body,) = conn.uploaded
    assert [line["custom_id"] for line in _lines(body)] == ["r-1", "r-2"]
    assert conn.merged.startswith("MERGE `d`.`results` T USING")
    assert (
        BigQueryDialect(emulator=True).write(
            conn, Table("results", "d"), columns, ["custom_id"], [], chunk_size=10
        )
        == 0
    )
    assert len(conn.uploaded) == 1
