"""BigQuery's embedding column keeps each vector of a row apart (no emulator needed: the values the
dialect binds, and its refusal of a flat column; the round trip is the bigquery case of
``test_endpoint_answers``)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_batch.warehouse.dialects._sql import Table
from airflow_provider_batch.warehouse.dialects.bigquery import BigQueryDialect


def test_one_vector_is_one_element_and_several_stay_apart() -> None:
    dialect = BigQueryDialect(emulator=False)
    assert dialect.types["vector"] == "ARRAY<STRUCT<vector ARRAY<FLOAT64>>>"
    assert dialect.vector([0.5, -0.25]) == [{"vector": [0.5, -0.25]}]
    assert dialect.vector([[1, 0], [0.0, 1.0], [2.5]]) == [
        {"vector": [1.0, 0.0]},
        {"vector": [0.0, 1.0]},
        {"vector": [2.5]},
    ]


class _FlatTable:
    """A connection whose table holds the first dialect's flat ``ARRAY<FLOAT64>`` column."""

    def __init__(self) -> None:
        self.loaded: list[Any] = []

    def column_types(self, table: Table) -> dict[str, str]:
        return {"custom_id": "STRING", "response_embedding": "FLOAT"}

    def load_stage(self, *args: Any) -> str:
        self.loaded.append(args)
        return "`d`.`stage`"


def test_a_flat_vector_column_is_refused_before_anything_is_loaded() -> None:
    conn = _FlatTable()
    columns = [("custom_id", "key"), ("response_embedding", "vector")]
    with pytest.raises(ValueError, match=r"response_embedding .*flat ARRAY<FLOAT64>.*drop the column"):
        BigQueryDialect(emulator=False).write(
            conn, Table("results", "d"), columns, ["custom_id"], [("r-1", [{"vector": [1.0]}])], chunk_size=10
        )
    assert conn.loaded == []
