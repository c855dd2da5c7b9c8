"""Reconcile batch output and error files by ``custom_id`` and load them into warehouse tables.

Pipeline: :func:`iter_jsonl` / :class:`ParsedFile` read the files line by line,
:func:`reconcile` makes one :class:`ResultRow` per expected request plus a
:class:`BatchSummary`, and :class:`WarehouseLoader` writes both in one transaction.
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
from airflow_provider_batch.results.reconcile import Reconciliation, reconcile
from airflow_provider_batch.results.warehouse import LoadStats, WarehouseLoader

__all__ = [
    "RESULT_COLUMNS",
    "SUMMARY_COLUMNS",
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
    "iter_expected",
    "iter_jsonl",
    "parse_error_line",
    "parse_output_line",
    "reconcile",
]
