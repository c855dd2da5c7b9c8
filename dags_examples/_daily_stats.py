"""The ``daily_stats`` step the nightly backfill examples share: rebuild one day's row of a stats
table from the results the run loaded (rows a follow-up superseded are left out).

The statements go through the results connection's SQL dialect (the one the results task loads
through): the column types, the identifier quoting and the parameter marker are the dialect's,
so the same step runs on every warehouse the provider loads into (SQLite, PostgreSQL,
MySQL/MariaDB, DuckDB, Snowflake, BigQuery).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_batch.warehouse.dialects import dialect_for, warehouse_hook
from airflow_provider_batch.warehouse.dialects._sql import parse_table

#: The stats table's columns (name, the dialect's column kind); keyed on ``day``.
STATS_COLUMNS = [
    ("day", "key"),
    ("tickets", "int"),
    ("succeeded", "int"),
    ("failed", "int"),
    ("total_tokens", "int"),
    ("cost_usd", "money"),
    ("enterprise_tickets", "int"),
]


def daily_stats_sql(dialect: Any, stats_table: str, results_table: str) -> list[str]:
    """The statements, in ``dialect``, that rebuild one day's row of ``stats_table`` from
    ``results_table``: create (if missing), delete the day, insert the day from the run's rows.
    The delete binds the day; the insert binds the day and the run id."""
    stats, results = parse_table(stats_table), parse_table(results_table)
    q, mark = dialect.quote.format, dialect.placeholder
    names = ", ".join(q(name) for name, _ in STATS_COLUMNS)
    return [
        dialect.create_table_sql(stats, STATS_COLUMNS, ["day"]),
        f"DELETE FROM {stats.sql(dialect.quote)} WHERE {q('day')} = {mark}",
        f"""INSERT INTO {stats.sql(dialect.quote)} ({names})
       SELECT {mark}, COUNT(*),
              SUM(CASE WHEN {q("status")} = 'succeeded' THEN 1 ELSE 0 END),
              SUM(CASE WHEN {q("status")} <> 'succeeded' THEN 1 ELSE 0 END),
              COALESCE(SUM({q("total_tokens")}), 0), COALESCE(SUM({q("cost_usd")}), 0),
              SUM(CASE WHEN {q("customer_tier")} = 'enterprise' THEN 1 ELSE 0 END)
       FROM {results.sql(dialect.quote)} WHERE {q("run_id")} = {mark} AND NOT {q("superseded")}""",
    ]


def rebuild_daily_stats(conn_id: str, stats_table: str, results_table: str, day: str, run_id: str) -> int:
    """Rebuild ``day``'s row of ``stats_table`` from run ``run_id``'s rows of ``results_table``
    on the warehouse connection ``conn_id`` (the ``daily_stats`` task); returns the rows inserted."""
    from airflow.sdk import BaseHook

    hook = warehouse_hook(BaseHook.get_connection(conn_id))
    return rebuild_daily_stats_on(hook, stats_table, results_table, day, run_id)


def rebuild_daily_stats_on(hook: Any, stats_table: str, results_table: str, day: str, run_id: str) -> int:
    """:func:`rebuild_daily_stats` on a warehouse hook."""
    dialect = dialect_for(hook)
    create, delete, insert = daily_stats_sql(dialect, stats_table, results_table)
    conn = dialect.connect(hook)
    try:
        # DDL first, committed on its own: some warehouses cannot run it inside a transaction.
        dialect.execute(conn, create)
        conn.commit()
        dialect.begin(conn)
        dialect.execute(conn, delete, (day,))
        inserted = dialect.execute(conn, insert, (day, run_id))
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    return inserted


def daily_stats_task(conn_id: str, stats_table: str, results_table: str) -> Any:
    """The ``daily_stats`` task: :func:`rebuild_daily_stats` for the logical date and this run."""
    from airflow.providers.standard.operators.python import PythonOperator

    return PythonOperator(
        task_id="daily_stats",
        python_callable=rebuild_daily_stats,
        op_kwargs={"conn_id": conn_id, "stats_table": stats_table, "results_table": results_table,
                   "day": "{{ ds }}", "run_id": "{{ run_id }}"},
    )  # fmt: skip
