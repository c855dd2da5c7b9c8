"""The MySQL/MariaDB dialect: its DDL, the key-width budget, and statements bounded by the packet."""

from __future__ import annotations

from datetime import datetime

import pytest

from airflow_provider_batch.results import WarehouseLoader
from airflow_provider_batch.results.models import RESULT_KEY
from airflow_provider_batch.warehouse.dialects._sql import parse_table
from airflow_provider_batch.warehouse.dialects.mysql import KEY_LIMIT_BYTES, MySqlDialect, sized_chunks
from tests.results.test_warehouse import D1, loader_for, small_rec


def test_mysql_ddl_is_innodb_utf8mb4_with_bounded_binary_keys():
    results_sql, summary_sql = WarehouseLoader(
        object(), results_table="wh.res", dialect="mysql", metadata_columns=["team"]
    ).create_table_statements()
    key = "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    head = f"CREATE TABLE IF NOT EXISTS `wh`.`res` (`batch_id` {key}, `custom_id` {key}, "
    assert results_sql.startswith(head)
    assert "`response_text` LONGTEXT" in results_sql and "`team` LONGTEXT" in results_sql
    assert "`prompt_tokens` BIGINT" in results_sql and "`cost_usd` DOUBLE" in results_sql
    assert "`logical_date` DATETIME(6)" in results_sql
    assert "`owner_key` VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" in results_sql
    assert "`superseded` BOOLEAN" in results_sql
    tail = (
        "PRIMARY KEY (`owner_key`, `batch_id`, `custom_id`)) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )
    assert results_sql.endswith(tail)
    assert f"`batch_id` {key}, `final_status` LONGTEXT" in summary_sql


def test_mysql_key_wider_than_innodb_allows_is_refused_when_the_ddl_is_built():
    dialect = MySqlDialect()
    owner = ("dag_id", "task_id", "run_id")
    columns = [("owner_key", "key"), ("batch_id", "key"), ("custom_id", "key"), *((c, "text") for c in owner),
               ("map_index", "int")]  # fmt: skip
    # The owner's readable columns in the key would not fit; its 32-character hash does.
    with pytest.raises(ValueError, match=f"InnoDB allows {KEY_LIMIT_BYTES}"):
        dialect.create_table_sql(parse_table("t"), columns, ["batch_id", "custom_id", *owner, "map_index"])
    sql = dialect.create_table_sql(parse_table("t"), columns, RESULT_KEY)  # 2,168 of 3,072 bytes
    assert "PRIMARY KEY (`owner_key`, `batch_id`, `custom_id`)" in sql
    # Two 255-character keys and an integer fit (2,048 of 3,072 bytes).
    sql = dialect.create_table_sql(parse_table("t"), columns, ["batch_id", "custom_id", "map_index"])
    assert "`map_index` BIGINT" in sql and "PRIMARY KEY (`batch_id`, `custom_id`, `map_index`)" in sql


def test_sized_chunks_bound_rows_and_characters():
    rows = [("x" * 100,)] * 10 + [("y" * 5000,)] + [("z",)] * 3
    chunks = list(sized_chunks(rows, max_rows=4, max_chars=350))
    assert [len(c) for c in chunks] == [3, 3, 3, 1, 1, 3]
    assert [row for chunk in chunks for row in chunk] == rows


@pytest.mark.mysql
def test_mysql_rows_larger_than_the_packet_in_all_load_in_several_statements(mysql_database):
    wh = mysql_database
    (packet,) = wh.query("SELECT @@max_allowed_packet")[0]
    per_row, n = int(packet) // 6, 9  # 1.5 packets of text in all
    loader = loader_for(wh)
    loader.ensure_tables()
    texts = [chr(ord("a") + i) * per_row for i in range(n)]
    loader.load_reconciliation(small_rec("big", [f"r{i}" for i in range(n)], texts=texts))
    select = "SELECT custom_id, LENGTH(response_text), LEFT(response_text, 1) FROM {}"
    got = wh.query(select.format(wh.table("results")))
    assert sorted(got) == [(f"r{i}", per_row, chr(ord("a") + i)) for i in range(n)]


@pytest.mark.mysql
def test_mysql_timestamps_are_utc_datetimes_and_keys_use_a_no_pad_collation(mysql_database):
    wh = mysql_database
    loader = loader_for(wh)
    loader.ensure_tables()
    loader.load_reconciliation(small_rec("b1", ["a"]))
    assert wh.query(f"SELECT logical_date FROM {wh.table('results')}") == [(D1.replace(tzinfo=None),)]
    assert isinstance(wh.query(f"SELECT loaded_at FROM {wh.table('summary')}")[0][0], datetime)
    (collation,) = wh.query(
        "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
        "AND TABLE_NAME = 'results' AND COLUMN_NAME = 'custom_id'",
        (wh.prefix.rstrip("."),),
    )[0]
    assert collation in ("utf8mb4_nopad_bin", "utf8mb4_0900_bin")
