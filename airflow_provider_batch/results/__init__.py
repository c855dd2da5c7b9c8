"""Reconcile batch output and error files by ``custom_id`` and load them into warehouse tables.

Pipeline: :func:`iter_expected` / :class:`ParsedFile` read the files line by line,
:class:`BatchStream` makes one :class:`ResultRow` per expected request in one pass plus a
:class:`BatchSummary` at its end (:func:`reconcile` does the same in memory, for small batches),
and :class:`WarehouseLoader` writes both in one transaction.

Typical use (local files already downloaded)::

    rec = reconcile(
        iter_expected(input_path, metadata_by_custom_id),
        ParsedFile(output_path, "output"),
        ParsedFile(error_path, "error"),  # a None path stands for "no error file"
        batch_id=record.batch_id,
        batch_status=record.status,
        prices=price_table,
        endpoint=record.endpoint,
        submitted_at=record.created_at,
        completed_at=record.completed_at,
        run=RunContext(dag_id, run_id, logical_date, datetime.now(timezone.utc)),
    )
    loader = WarehouseLoader(SqliteHook(sqlite_conn_id="warehouse"), metadata_columns=["team"])
    loader.ensure_tables()
    stats = loader.load_reconciliation(rec)  # or mode="replace_logical_date", logical_date=...
    log.info("counts %s, diagnostics %s", rec.counts, rec.diagnostics.as_dict())
"""

from __future__ import annotations

from airflow_provider_batch.results.models import (
    RESULT_COLUMNS,
    SUMMARY_COLUMNS,
    BatchSummary,
    Diagnostics,
    ExpectedRequest,
    ParsedLine,
    ResultRow,
    RowStatus,
    RunContext,
)
from airflow_provider_batch.results.parse import (
    JsonlLine,
    ParsedFile,
    iter_expected,
    iter_jsonl,
    parse_error_line,
    parse_output_line,
)
from airflow_provider_batch.results.reconcile import BatchStream, Reconciliation, reconcile
from airflow_provider_batch.results.warehouse import (
    LoadStats,
    WarehouseLoader,
    check_metadata_columns,
    check_table_names,
)

__all__ = [
    "RESULT_COLUMNS",
    "SUMMARY_COLUMNS",
    "BatchStream",
    "BatchSummary",
    "Diagnostics",
    "ExpectedRequest",
    "JsonlLine",
    "LoadStats",
    "ParsedFile",
    "ParsedLine",
    "Reconciliation",
    "ResultRow",
    "RowStatus",
    "RunContext",
    "WarehouseLoader",
    "check_metadata_columns",
    "check_table_names",
    "iter_expected",
    "iter_jsonl",
    "parse_error_line",
    "parse_output_line",
    "reconcile",
]
