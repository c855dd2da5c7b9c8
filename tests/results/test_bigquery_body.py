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
    """A connection that keeps what each load job would upload and the statements run."""

    rowcount = -1

    def __init__(self, existing: bool = False) -> None:
        self.uploaded: list[bytes] = []
        self.statements: list[str] = []
        self.existing = existing

    def column_types(self, table: Table) -> dict[str, str]:
        return {"custom_id": "STRING", "response_json": "JSON"}

    def create_stage(self, table: Table, schema: Any) -> str:
        return "p.d.stage"

    def append_stage(self, ref: str, body: Any) -> str:
        assert ref == "p.d.stage"
        self.uploaded.append(body.read())
        return "job"

    def finish(self, job: Any) -> None:
        assert job == "job"

    def cursor(self) -> Any:
        return self

    def execute(self, sql: str, params: Any = ()) -> None:
        self.statements.append(sql)

    def fetchall(self) -> list[tuple]:
        return [(1,)] if self.existing else []

    def close(self) -> None:
        pass


COLUMNS = [("owner_key", "key"), ("custom_id", "key"), ("response_json", "text")]


@pytest.mark.parametrize("existing", [False, True], ids=["new keys", "keys present"])
def test_write_uploads_bounded_parts_then_inserts_new_keys_or_merges(
    monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    monkeypatch.setattr(bigquery, "_BLOCK_ROWS", 2)
    monkeypatch.setattr(bigquery, "_UPLOAD_BYTES", 100)  # about two blocks of these rows a part
    conn = _Stage(existing)
    dialect = BigQueryDialect(emulator=True)
    rows = [("o", f"r-{i}", '{"a": 1}' if i % 2 else None) for i in range(9)]
    table, key = Table("results", "d"), ["owner_key", "custom_id"]
    written = dialect.write(conn, table, COLUMNS, key, rows, chunk_size=10)
    assert written == 9
    assert len(conn.uploaded) > 2 and all(len(part) < 100 + 2 * 60 for part in conn.uploaded)
    lines = [line for part in conn.uploaded for line in _lines(part)]
    assert [line["custom_id"] for line in lines] == [f"r-{i}" for i in range(9)]
    assert [line["_apb_seq"] for line in lines] == list(range(1, 10))
    probe, statement = conn.statements
    assert "JOIN (SELECT DISTINCT `owner_key` FROM `d`.`stage`)" in probe
    if existing:
        assert statement.startswith("MERGE `d`.`results` T USING") and dialect.direct_loads == 0
    else:
        assert statement.startswith("INSERT INTO `d`.`results`") and dialect.direct_loads == 1
    assert "QUALIFY ROW_NUMBER()" in statement  # the last row of a repeated key, either way
    assert dialect.write(conn, table, COLUMNS, key, [], chunk_size=10) == 0
    assert len(conn.statements) == 2
