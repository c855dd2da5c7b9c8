"""WarehouseLoader against a real file SQLite database, the real PostgreSQL and the real MariaDB."""

from __future__ import annotations

import itertools
import json
import re
from contextlib import closing
from datetime import datetime, timezone

import pytest

from airflow_provider_batch.results import (
    ExpectedRequest,
    ParsedFile,
    RunContext,
    WarehouseLoader,
    parse_output_line,
    reconcile,
)
from tests.results._data import MODEL, success_line

D1 = datetime(2026, 1, 1, tzinfo=timezone.utc)
D2 = datetime(2026, 1, 2, tzinfo=timezone.utc)
LOADED = datetime(2026, 1, 3, 12, 30, tzinfo=timezone.utc)
META = ("row_id", "category")


@pytest.fixture(scope="module")
def big_batch(batch_50k):
    batch = batch_50k
    rec = reconcile(
        batch.expected,
        ParsedFile(batch.output_path, "output"),
        ParsedFile(batch.error_path, "error"),
        batch_id="batch-50k",
        batch_status="COMPLETED",
        endpoint="/v1/chat/completions",
        run=RunContext("dag", "run", D1, LOADED),
    )
    return batch, rec


def loader_for(wh, **kwargs) -> WarehouseLoader:
    kwargs.setdefault("metadata_columns", META)
    return WarehouseLoader(
        wh.hook, results_table=wh.table("results"), summary_table=wh.table("summary"), **kwargs
    )


def small_rec(batch_id: str, ids, logical_date=D1, texts=None):
    expected = [ExpectedRequest(cid, MODEL, {"row_id": cid, "category": "x"}) for cid in ids]
    outputs = []
    for i, cid in enumerate(ids):
        line = success_line(cid, i)
        if texts:
            line["response"]["body"]["choices"][0]["message"]["content"] = texts[i]
        outputs.append(parse_output_line(line))
    return reconcile(
        expected,
        outputs,
        [],
        batch_id=batch_id,
        batch_status="COMPLETED",
        run=RunContext("dag", f"run-{batch_id}", logical_date, LOADED),
    )


def test_acceptance_fifty_thousand_rows_rerun_and_sums(warehouse, big_batch):
    _batch, rec = big_batch
    loader = loader_for(warehouse)
    loader.ensure_tables()
    loader.ensure_tables()  # idempotent
    stats = loader.load_reconciliation(rec)
    assert (stats.rows, stats.summaries) == (50_000, 1)
    assert stats.dialect == {"sqlite": "sqlite", "postgres": "postgresql", "mysql": "mysql",
                             "bigquery": "bigquery", "duckdb": "duckdb",
                             "snowflake": "snowflake"}[warehouse.name]  # fmt: skip
    assert warehouse.count("results") == 50_000
    again = loader.load_reconciliation(rec)
    assert again.rows == 50_000 and warehouse.count("results") == 50_000 and warehouse.count("summary") == 1

    results = warehouse.table("results")
    by_status = dict(warehouse.query(f"SELECT status, COUNT(*) FROM {results} GROUP BY status"))
    assert by_status == {"succeeded": 48_000, "failed": 1_500, "missing": 500}
    sums = warehouse.query(
        f"SELECT SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), SUM(cost_usd) "
        f"FROM {warehouse.table('results')}"
    )[0]
    summary = warehouse.query(
        f"SELECT requests, succeeded, failed, missing, prompt_tokens, completion_tokens, total_tokens, "
        f"cost_usd_batch, cost_usd_list, savings_usd FROM {warehouse.table('summary')}"
    )[0]
    assert summary[:4] == (50_000, 48_000, 1_500, 500)
    assert tuple(summary[4:7]) == tuple(sums[:3])
    assert float(summary[7]) == pytest.approx(float(sums[3]), abs=1e-9)
    assert float(summary[7]) > 0 and float(summary[8]) == pytest.approx(2 * float(summary[7]))
    row = warehouse.query(
        f"SELECT row_id, category, response_text, error_code FROM {warehouse.table('results')} "
        "WHERE custom_id = 'req-000097'"
    )[0]
    assert row == ("97", "c1", None, "timeout")


class Boom(RuntimeError):
    pass


def failing(rows, after):
    for i, row in enumerate(rows):
        if i == after:
            raise Boom("injected failure")
        yield row


@pytest.mark.parametrize("dialect", [None, "generic"])
def test_failure_mid_load_leaves_tables_as_they_were(warehouse, dialect):
    loader = loader_for(warehouse, dialect=dialect, chunk_size=500)
    loader.ensure_tables()
    before = small_rec("b1", [f"old-{i}" for i in range(100)])
    loader.load_reconciliation(before)
    select = f"SELECT custom_id, response_text FROM {warehouse.table('results')} ORDER BY custom_id"
    snapshot = warehouse.query(select)

    changed = small_rec(
        "b1",
        [f"old-{i}" for i in range(100)] + [f"new-{i}" for i in range(3000)],
        texts=[f"changed {i}" for i in range(3100)],
    )
    with pytest.raises(Boom):
        loader.load(failing(changed.rows(), after=2500), [changed.summary])
    assert warehouse.query(select) == snapshot
    assert warehouse.query(f"SELECT requests FROM {warehouse.table('summary')}") == [(100,)]


@pytest.mark.parametrize("dialect", [None, "generic"])
def test_merge_is_idempotent_and_updates(warehouse, dialect):
    loader = loader_for(warehouse, dialect=dialect)
    loader.ensure_tables()
    loader.load_reconciliation(small_rec("b1", ["a", "b"], texts=["one", "two"]))
    loader.load_reconciliation(small_rec("b1", ["a", "b"], texts=["uno", "dos"]))
    loader.load_reconciliation(small_rec("b2", ["a"], texts=["other batch"]))
    select = f"SELECT batch_id, custom_id, response_text FROM {warehouse.table('results')} ORDER BY 1, 2"
    got = warehouse.query(select)
    assert got == [("b1", "a", "uno"), ("b1", "b", "dos"), ("b2", "a", "other batch")]
    assert warehouse.count("summary") == 2


def test_replace_logical_date_replaces_only_that_date(warehouse):
    loader = loader_for(warehouse)
    loader.ensure_tables()
    loader.load_reconciliation(small_rec("b1", ["a", "b", "c"], logical_date=D1))
    loader.load_reconciliation(small_rec("b2", ["a", "b"], logical_date=D2))
    redo = small_rec("b1-retry", ["a", "z"], logical_date=D1)
    stats = loader.load_reconciliation(redo, mode="replace_logical_date", logical_date=D1)
    assert (stats.deleted_rows, stats.deleted_summaries, stats.rows) == (3, 0, 2)
    assert stats.superseded_summaries == 1
    got = warehouse.query(f"SELECT batch_id, custom_id FROM {warehouse.table('results')} ORDER BY 1, 2")
    assert got == [("b1-retry", "a"), ("b1-retry", "z"), ("b2", "a"), ("b2", "b")]
    # The spend table is a ledger of money: the replaced batch stays, marked.
    summaries = warehouse.query(
        f"SELECT batch_id, superseded, superseded_by FROM {warehouse.table('summary')} ORDER BY 1"
    )
    assert [(b, bool(s), by) for b, s, by in summaries] == [
        ("b1", True, "b1-retry"),
        ("b1-retry", False, None),
        ("b2", False, None),
    ]
    with pytest.raises(ValueError, match="needs logical_date"):
        loader.load([], [], mode="replace_logical_date")
    with pytest.raises(ValueError, match="unknown load mode"):
        loader.load([], [], mode="append")  # type: ignore[arg-type]


HOSTILE_TEXTS = [
    'it\'s "quoted" `back` \\ slash',
    "'; DROP TABLE results; --",
    "ctrl:\x01\x02\x07\x08\t\n\r\x0b\x0c\x1b\x1f\x7f end",
    "emoji 🚀👩‍👩‍👧 and 中文 and é",
    "x" * 10_240,
    "",
    "\\N",
    ',"\n',
]


def test_hostile_values_are_stored_exactly(warehouse):
    loader = loader_for(warehouse)
    loader.ensure_tables()
    ids = [f"id-{i}-'\";" for i in range(len(HOSTILE_TEXTS))]
    pairs = list(zip(ids, HOSTILE_TEXTS, strict=True))
    expected = [ExpectedRequest(cid, MODEL, {"row_id": text, "category": None}) for cid, text in pairs]
    outputs = []
    for i, (cid, text) in enumerate(zip(ids, HOSTILE_TEXTS, strict=True)):
        line = success_line(cid, i)
        line["response"]["body"]["choices"][0]["message"]["content"] = text
        outputs.append(parse_output_line(line))
    rec = reconcile(expected, outputs, [], batch_id="b'; DROP", batch_status="COMPLETED")
    loader.load_reconciliation(rec)
    loader.load_reconciliation(rec)
    got = warehouse.query(
        f"SELECT custom_id, response_text, row_id, category, response_json FROM {warehouse.table('results')}"
    )
    by_id = {r[0]: r[1:] for r in got}
    assert len(by_id) == len(ids)
    expected_json = {row.custom_id: row.response_json for row in rec.rows()}
    for cid, text in zip(ids, HOSTILE_TEXTS, strict=True):
        if warehouse.name == "snowflake":  # VARIANT keeps the document, not its spelling
            assert by_id[cid][:3] == (text, text, None)
            assert json.loads(by_id[cid][3]) == json.loads(expected_json[cid])
            continue
        assert by_id[cid] == (text, text, None, expected_json[cid])


@pytest.mark.parametrize(
    "name",
    ["x; DROP TABLE y", 'a"b', "1abc", "a.b.c", "", "x" * 64, "tbl--", "tablé", "a b", ".t", "s.", None],
)
def test_hostile_identifiers_raise_before_any_sql(name):
    class NoSqlHook:
        def get_conn(self):
            raise AssertionError("no SQL may run")

    with pytest.raises(ValueError, match="unsafe"):
        WarehouseLoader(NoSqlHook(), results_table=name)
    with pytest.raises(ValueError, match="unsafe"):
        WarehouseLoader(NoSqlHook(), summary_table=name)
    with pytest.raises(ValueError, match="unsafe"):
        WarehouseLoader(NoSqlHook(), metadata_columns=["ok", name])


def test_metadata_columns_may_not_clash():
    with pytest.raises(ValueError, match="clash"):
        WarehouseLoader(object(), metadata_columns=["Status"])
    with pytest.raises(ValueError, match="clash"):
        WarehouseLoader(object(), metadata_columns=["a", "A"])


def test_schema_is_quoted_and_ordered():
    loader = WarehouseLoader(
        object(), results_table="wh.res", metadata_columns=["team"], dialect="postgresql"
    )
    results_sql, summary_sql = loader.create_table_statements()
    assert results_sql.startswith('CREATE TABLE IF NOT EXISTS "wh"."res" ("batch_id" TEXT, ')
    assert '"response_json" TEXT, "team" TEXT, "dag_id" TEXT' in results_sql
    owner = (
        '"task_id" TEXT, "map_index" BIGINT, "owner_key" TEXT, "superseded" BOOLEAN, '
        '"superseded_by" TEXT, "superseded_at" TIMESTAMPTZ'
    )
    key = 'PRIMARY KEY ("owner_key", "batch_id", "custom_id"))'
    cache = '"cache_creation_tokens" BIGINT, "cache_read_tokens" BIGINT'
    assert results_sql.endswith(f'"attempts" BIGINT, {owner}, {cache}, {key}')
    assert summary_sql.endswith(f'"loaded_at" TIMESTAMPTZ, {owner}, {cache}, PRIMARY KEY ("batch_id"))')


@pytest.mark.parametrize("dialect", [None, "generic"])
def test_repeated_key_within_one_load_last_row_wins(warehouse, dialect):
    loader = loader_for(warehouse, dialect=dialect)
    loader.ensure_tables()
    first = list(small_rec("b1", ["a", "b"], texts=["first a", "first b"]).rows())
    second = list(small_rec("b1", ["a"], texts=["second a"]).rows())
    stats = loader.load(first + second, [])
    assert stats.rows == 3
    got = warehouse.query(f"SELECT custom_id, response_text FROM {warehouse.table('results')} ORDER BY 1")
    assert got == [("a", "second a"), ("b", "first b")]


@pytest.mark.postgres
def test_postgres_copy_through_psycopg2_too(postgres_schema):
    """The psycopg2 driver takes the CSV ``copy_expert`` path; same results, same exact values."""
    import psycopg2
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from tests.results._warehouse import PG_DSN

    class Psycopg2Hook(PostgresHook):
        def get_conn(self):
            return psycopg2.connect(**PG_DSN)

    wh = postgres_schema
    hook = Psycopg2Hook(postgres_conn_id="apb_wh_postgres")
    loader = WarehouseLoader(
        hook, results_table=wh.table("results"), summary_table=wh.table("summary"), metadata_columns=META
    )
    loader.ensure_tables()
    ids = [f"p2-{i}" for i in range(len(HOSTILE_TEXTS))]
    rec = small_rec("b1", ids, texts=HOSTILE_TEXTS)
    loader.load_reconciliation(rec)  # new batch: COPY straight into the table
    loader.load_reconciliation(rec)  # re-run: COPY into staging, then merge
    got = dict(wh.query(f"SELECT custom_id, response_text FROM {wh.table('results')}"))
    assert got == dict(zip(ids, HOSTILE_TEXTS, strict=True))
    assert wh.query(f"SELECT logical_date FROM {wh.table('results')} LIMIT 1") == [(D1,)]


@pytest.mark.postgres
def test_postgres_nul_characters_become_replacement_characters(postgres_schema):
    loader = loader_for(postgres_schema)
    loader.ensure_tables()
    loader.load_reconciliation(small_rec("b1", ["a"], texts=["before\x00after"]))
    assert postgres_schema.query(f"SELECT response_text FROM {postgres_schema.table('results')}") == [
        ("before\ufffdafter",)
    ]


def test_generic_ddl_uses_varchar_keys():
    loader = WarehouseLoader(object(), dialect="generic")
    results_sql, summary_sql = loader.create_table_statements()
    assert results_sql.startswith(
        'CREATE TABLE IF NOT EXISTS "together_batch_results" '
        '("batch_id" VARCHAR(255), "custom_id" VARCHAR(255), "status" TEXT'
    )
    # Three key columns of 255 characters fit MariaDB's 3072-byte index limit in utf8mb4.
    assert results_sql.count("VARCHAR(255)") == 3 and '"owner_key" VARCHAR(255)' in results_sql
    assert '"summary"' not in summary_sql and '"batch_id" VARCHAR(255)' in summary_sql


@pytest.mark.postgres
def test_postgres_staging_never_touches_a_user_table_of_the_same_name(postgres_schema):
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    schema = postgres_schema.prefix.rstrip(".")
    user_table = f'"{schema}"."_apb_stage"'
    postgres_schema.hook.run(f"CREATE TABLE {user_table} (x int); INSERT INTO {user_table} VALUES (7)")
    hook = PostgresHook(postgres_conn_id="apb_wh_postgres", options=f"-c search_path={schema}")
    loader = WarehouseLoader(hook, results_table="results", summary_table="summary", metadata_columns=META)
    loader.ensure_tables()
    loader.load_reconciliation(small_rec("b1", ["a"]))
    loader.load_reconciliation(small_rec("b1", ["a", "b"]))  # existing batch: staging path
    assert postgres_schema.count("results") == 2
    assert postgres_schema.query(f"SELECT x FROM {user_table}") == [(7,)]


def create_first_release_table(wh, *then: str) -> None:
    """The results table as the release before 0.1.0 created it (0.1.0's without
    ``answered_by_batch_id`` and ``attempts``), then the statements ``then``."""
    from tests.results._release_tables import RELEASE_DDL

    create = RELEASE_DDL[wh.name][0].format(results=wh.table("results"))
    old_create = re.sub(r', ["`]?(answered_by_batch_id|attempts)["`]? \w+', "", create)
    assert "attempts" not in old_create
    with closing(wh.hook.get_conn()) as conn:
        cur = conn.cursor()
        for sql in (old_create, *then):
            cur.execute(sql)
        cur.close()
        conn.commit()


def test_existing_table_gains_the_newer_columns_and_keeps_its_rows(warehouse):
    """A table of the release before 0.1.0 (no ``answered_by_batch_id``, ``attempts``)."""
    table = warehouse.table("results")
    create_first_release_table(
        warehouse, f"INSERT INTO {table} (batch_id, custom_id, status) VALUES ('old', 'o1', 'succeeded')"
    )
    loader = loader_for(warehouse)
    loader.ensure_tables()
    loader.ensure_tables()  # a second time finds nothing to add
    loader.load_reconciliation(small_rec("b1", ["a", "b"]))
    found = warehouse.query(
        f"SELECT batch_id, custom_id, answered_by_batch_id, attempts FROM {table} "
        "ORDER BY batch_id, custom_id"
    )
    assert [tuple(str(v) if v is not None else None for v in r) for r in found] == [
        ("b1", "a", "b1", "1"),
        ("b1", "b", "b1", "1"),
        ("old", "o1", None, None),
    ]


def test_keys_compare_exactly(warehouse):
    """Case, trailing spaces and accents make different keys on every database (MySQL's default
    collations would merge them: the key columns use a binary, no-pad one)."""
    loader = loader_for(warehouse)
    loader.ensure_tables()
    ids = ["a", "A", "a ", "á", "ａ"]
    loader.load_reconciliation(small_rec("b1", ids, texts=[f"text {i}" for i in range(len(ids))]))
    loader.load_reconciliation(small_rec("b1", ids, texts=[f"again {i}" for i in range(len(ids))]))
    got = dict(warehouse.query(f"SELECT custom_id, response_text FROM {warehouse.table('results')}"))
    assert got == {cid: f"again {i}" for i, cid in enumerate(ids)}


@pytest.mark.parametrize("dialect", [None, "generic"])
def test_load_is_one_transaction_even_if_the_connection_came_in_autocommit(
    server_warehouse, dialect, monkeypatch
):
    """A hook whose connections start in autocommit (SQLite has no such switch)."""
    warehouse = server_warehouse
    real_get_conn = warehouse.hook.get_conn

    def autocommit_conn():
        conn = real_get_conn()
        warehouse.hook.set_autocommit(conn, True)
        return conn

    monkeypatch.setattr(warehouse.hook, "get_conn", autocommit_conn)
    loader = loader_for(warehouse, dialect=dialect, chunk_size=500)
    loader.ensure_tables()
    # A whole first batch (PostgreSQL: its own COPY; elsewhere: several statements), then a failure.
    first, second = small_rec("b1", [f"r{i}" for i in range(1500)]), small_rec("b2", ["x", "y", "z"])
    with pytest.raises(Boom):
        loader.load(itertools.chain(first.rows(), failing(second.rows(), after=2)), [first.summary])
    assert warehouse.count("results") == 0 and warehouse.count("summary") == 0


@pytest.mark.postgres
def test_postgres_copies_every_new_batch_straight_into_the_table(postgres_schema, monkeypatch):
    """Each batch without rows yet goes by COPY straight into the table, not only the first;
    a batch that has rows, or a key repeated in the stream, goes through staging (last row wins)."""
    from airflow_provider_batch.warehouse.dialects.postgres import PostgresDialect

    targets: list[str] = []
    real_copy = PostgresDialect._copy

    def spy(self, cur, target, columns, rows, size):
        targets.append("staging" if target == PostgresDialect._STAGE else "table")
        return real_copy(self, cur, target, columns, rows, size)

    monkeypatch.setattr(PostgresDialect, "_copy", spy)
    loader = loader_for(postgres_schema)
    loader.ensure_tables()
    ids = [f"r{j}" for j in range(50)]
    recs = [small_rec(f"b{i}", ids) for i in range(3)]
    stats = loader.load(itertools.chain.from_iterable(r.rows() for r in recs), [r.summary for r in recs])
    assert stats.rows == 150 and targets == ["table", "table", "table"]

    targets.clear()
    again, new = small_rec("b1", [*ids, "r50"], texts=[f"again {j}" for j in range(51)]), small_rec("b3", ids)
    loader.load(itertools.chain(again.rows(), new.rows()), [again.summary, new.summary])
    assert targets == ["staging", "table"]
    assert postgres_schema.count("results") == 201
    table = postgres_schema.table("results")
    query = f"SELECT response_text FROM {table} WHERE batch_id = 'b1' AND custom_id = 'r7'"
    assert postgres_schema.query(query) == [("again 7",)]

    targets.clear()
    first, repeat = (
        small_rec("b4", ["a", "b"], texts=["first a", "first b"]),
        small_rec("b4", ["a"], texts=["last a"]),
    )
    loader.load(itertools.chain(first.rows(), repeat.rows()), [first.summary])
    assert targets == ["table", "staging"]
    got = postgres_schema.query(
        f"SELECT custom_id, response_text FROM {table} WHERE batch_id = 'b4' ORDER BY 1"
    )
    assert got == [("a", "last a"), ("b", "first b")]
