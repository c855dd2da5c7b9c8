"""Tables exactly as release 0.1.0 created them, for the upgrade tests.

The statements are what 0.1.0's ``WarehouseLoader(..., metadata_columns=["segment"])
.create_table_statements()`` returned (results keyed by ``(batch_id, custom_id)``, spend by
``batch_id``, no owner columns), and the rows are shaped as 0.1.0 wrote them. 0.1.0 had no MySQL
dialect: on a MySQL connection it used the generic one (``VARCHAR(255)`` keys, TEXT timestamps)
with the hook's backtick quoting.
"""

from __future__ import annotations

import functools
import re
from contextlib import closing
from datetime import datetime, timezone
from typing import Any

RELEASE_DDL = {
    "sqlite": (
        'CREATE TABLE IF NOT EXISTS {results} ("batch_id" TEXT, "custom_id" TEXT, "status" TEXT, '
        '"model" TEXT, "response_text" TEXT, "finish_reason" TEXT, "prompt_tokens" INTEGER, '
        '"completion_tokens" INTEGER, "total_tokens" INTEGER, "cost_usd" REAL, "error_code" TEXT, '
        '"error_message" TEXT, "response_json" TEXT, "segment" TEXT, "dag_id" TEXT, "run_id" TEXT, '
        '"logical_date" TEXT, "loaded_at" TEXT, "answered_by_batch_id" TEXT, "attempts" INTEGER, '
        'PRIMARY KEY ("batch_id", "custom_id"))',
        'CREATE TABLE IF NOT EXISTS {summary} ("batch_id" TEXT, "final_status" TEXT, "endpoint" TEXT, '
        '"model" TEXT, "requests" INTEGER, "succeeded" INTEGER, "failed" INTEGER, "missing" INTEGER, '
        '"expired" INTEGER, "cancelled" INTEGER, "prompt_tokens" INTEGER, "completion_tokens" INTEGER, '
        '"total_tokens" INTEGER, "cost_usd_batch" REAL, "cost_usd_list" REAL, "savings_usd" REAL, '
        '"submitted_at" TEXT, "completed_at" TEXT, "duration_seconds" REAL, "dag_id" TEXT, "run_id" TEXT, '
        '"logical_date" TEXT, "loaded_at" TEXT, PRIMARY KEY ("batch_id"))',
    ),
    "postgres": (
        'CREATE TABLE IF NOT EXISTS {results} ("batch_id" TEXT, "custom_id" TEXT, "status" TEXT, '
        '"model" TEXT, "response_text" TEXT, "finish_reason" TEXT, "prompt_tokens" BIGINT, '
        '"completion_tokens" BIGINT, "total_tokens" BIGINT, "cost_usd" DOUBLE PRECISION, '
        '"error_code" TEXT, "error_message" TEXT, "response_json" TEXT, "segment" TEXT, "dag_id" TEXT, '
        '"run_id" TEXT, "logical_date" TIMESTAMPTZ, "loaded_at" TIMESTAMPTZ, '
        '"answered_by_batch_id" TEXT, "attempts" BIGINT, PRIMARY KEY ("batch_id", "custom_id"))',
        'CREATE TABLE IF NOT EXISTS {summary} ("batch_id" TEXT, "final_status" TEXT, "endpoint" TEXT, '
        '"model" TEXT, "requests" BIGINT, "succeeded" BIGINT, "failed" BIGINT, "missing" BIGINT, '
        '"expired" BIGINT, "cancelled" BIGINT, "prompt_tokens" BIGINT, "completion_tokens" BIGINT, '
        '"total_tokens" BIGINT, "cost_usd_batch" DOUBLE PRECISION, "cost_usd_list" DOUBLE PRECISION, '
        '"savings_usd" DOUBLE PRECISION, "submitted_at" TIMESTAMPTZ, "completed_at" TIMESTAMPTZ, '
        '"duration_seconds" DOUBLE PRECISION, "dag_id" TEXT, "run_id" TEXT, "logical_date" TIMESTAMPTZ, '
        '"loaded_at" TIMESTAMPTZ, PRIMARY KEY ("batch_id"))',
    ),
}
_GENERIC_TYPES = {
    '"': "`",
    "`batch_id` TEXT": "`batch_id` VARCHAR(255)",
    "`custom_id` TEXT": "`custom_id` VARCHAR(255)",
    "INTEGER": "BIGINT",
    " REAL": " DOUBLE PRECISION",
}
_BIGQUERY_TYPES = {
    '"': "`",
    " TEXT": " STRING",
    " BIGINT": " INT64",
    " DOUBLE PRECISION": " FLOAT64",
    " TIMESTAMPTZ": " TIMESTAMP",
}
#: BigQuery had no dialect in 0.1.0: its tables of an older shape are the PostgreSQL ones in
#: BigQuery's types, without the key (bqemulator cannot parse one; BigQuery does not enforce it).
RELEASE_DDL["bigquery"] = tuple(
    re.sub(
        r", PRIMARY KEY \([^)]*\)",
        "",
        functools.reduce(lambda d, pair: d.replace(*pair), _BIGQUERY_TYPES.items(), ddl),
    )
    for ddl in RELEASE_DDL["postgres"]
)


_SNOWFLAKE_TYPES = {'"': "", " TEXT": " VARCHAR", "DOUBLE PRECISION": "DOUBLE", "TIMESTAMPTZ": "TIMESTAMP_TZ"}
RELEASE_DDL["mysql"] = tuple(
    functools.reduce(lambda ddl, pair: ddl.replace(*pair), _GENERIC_TYPES.items(), ddl)
    for ddl in RELEASE_DDL["sqlite"]
)
# DuckDB too went through the generic dialect, with double quotes.
RELEASE_DDL["duckdb"] = tuple(
    functools.reduce(lambda ddl, pair: ddl.replace(*pair), list(_GENERIC_TYPES.items())[1:], ddl)
    .replace('"batch_id" TEXT', '"batch_id" VARCHAR(255)')
    .replace('"custom_id" TEXT', '"custom_id" VARCHAR(255)')
    for ddl in RELEASE_DDL["sqlite"]
)

#: The same shape in Snowflake's terms (unquoted names, its types), for the in-place migration there
#: (0.1.0 itself reached Snowflake only through the generic path: quoted lower-case names). The
#: results table declares no key: fakesnow's DuckDB enforces keys and cannot drop one, so the
#: ``DROP PRIMARY KEY`` of a re-key is not tested offline (Snowflake only declares keys).
RELEASE_DDL["snowflake"] = tuple(
    functools.reduce(lambda ddl, pair: ddl.replace(*pair), _SNOWFLAKE_TYPES.items(), ddl)
    for ddl in RELEASE_DDL["postgres"]
)
RELEASE_DDL["snowflake"] = (
    RELEASE_DDL["snowflake"][0].replace(", PRIMARY KEY (batch_id, custom_id)", ""),
    RELEASE_DDL["snowflake"][1],
)

OLD_DATES = {1: datetime(2025, 11, 3, tzinfo=timezone.utc), 2: datetime(2025, 11, 4, tzinfo=timezone.utc)}
OLD_LOADED = datetime(2025, 11, 4, 1, 2, 3, tzinfo=timezone.utc)


def create_release_tables(
    wh: Any, rows_per_run: int = 3, *, results: str | None = None, summary: str | None = None
) -> dict[str, Any]:
    """Create 0.1.0's tables in ``wh`` (default names: its ``results`` and ``summary``) and fill
    them as 0.1.0 did: two runs of ``nightly``, one batch each, the same custom_ids; returns what
    was written."""
    results, summary = results or wh.table("results"), summary or wh.table("summary")
    ts = (lambda v: v) if wh.name in ("postgres", "bigquery") else (lambda v: v.isoformat())
    ph = "?" if wh.name in ("sqlite", "bigquery", "duckdb") else "%s"
    written: dict[str, Any] = {"rows": [], "batches": []}
    with closing(wh.hook.get_conn()) as conn:
        cur = conn.cursor()
        for ddl in RELEASE_DDL[wh.name]:
            cur.execute(ddl.format(results=results, summary=summary))
        for run_no in (1, 2):
            batch_id, run_id = f"old-batch-{run_no}", f"scheduled__2025-11-0{run_no + 2}"
            day = ts(OLD_DATES[run_no])
            for i in range(rows_per_run):
                row = (
                    batch_id,
                    f"t-{i}",
                    "succeeded",
                    "m",
                    f"old answer {run_no}.{i}",
                    10,
                    5,
                    15,
                    0.001,
                    f"seg-{i}",
                    "nightly",
                    run_id,
                    day,
                    ts(OLD_LOADED),
                    batch_id,
                    1,
                )
                cur.execute(
                    f"INSERT INTO {results} (batch_id, custom_id, status, model, response_text, "
                    "prompt_tokens, completion_tokens, total_tokens, cost_usd, segment, dag_id, run_id, "
                    "logical_date, loaded_at, answered_by_batch_id, attempts) "
                    f"VALUES ({', '.join([ph] * 16)})",
                    row,
                )
                written["rows"].append((batch_id, f"t-{i}", run_id))
            cur.execute(
                f"INSERT INTO {summary} (batch_id, final_status, requests, succeeded, prompt_tokens, "
                "completion_tokens, total_tokens, cost_usd_batch, dag_id, run_id, logical_date, loaded_at) "
                f"VALUES ({', '.join([ph] * 12)})",
                (
                    batch_id,
                    "COMPLETED",
                    rows_per_run,
                    rows_per_run,
                    10 * rows_per_run,
                    5 * rows_per_run,
                    15 * rows_per_run,
                    0.001 * rows_per_run,
                    "nightly",
                    run_id,
                    day,
                    ts(OLD_LOADED),
                ),
            )
            written["batches"].append((batch_id, run_id))
        conn.commit()
        cur.close()
    return written
