"""The page's summary: the whole chosen window at a glance, not just the page shown.

Pure: it adds up the rows :meth:`~airflow_provider_batch.ledger.SubmissionLedger.summary_rows`
returns (one per batch and load; a batch loaded into several tables counts once, with its newest
load).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from airflow_provider_batch.ui.view import TERMINAL

__all__ = ["WindowSummary", "summarize"]


class WindowSummary(BaseModel):
    """Every batch matching the page's filters and dates (all pages, follow-ups included)."""

    batches: int = 0
    running: int = Field(default=0, description="not terminal yet")
    finished: int = Field(default=0, description="terminal")
    failed: int = Field(
        default=0, description="finished other than COMPLETED, or COMPLETED with no request answered"
    )
    not_loaded: int = Field(default=0, description="finished, results not loaded yet")
    requests_answered: int = 0
    requests_failed: int = Field(default=0, description="failed requests no follow-up batch answered")
    requests_waiting: int = Field(default=0, description="requests of running batches not processed yet")
    cost_usd_batch: float = Field(default=0.0, description="spend of the loaded batches")


def _answered(failures_json: str | None) -> int:
    if not failures_json:
        return 0
    return sum(int(bucket.get("answered") or 0) for bucket in json.loads(failures_json))


def summarize(rows: Iterable[Mapping[str, Any]]) -> WindowSummary:
    """Add up :meth:`~airflow_provider_batch.ledger.SubmissionLedger.summary_rows`."""
    newest: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        kept = newest.get(row["batch_id"])
        if kept is None or str(row["loaded_at"] or "") > str(kept["loaded_at"] or ""):
            newest[row["batch_id"]] = row
    out = WindowSummary(batches=len(newest))
    for row in newest.values():
        loaded = row["loaded_at"] is not None
        succeeded, failed = int(row["succeeded"] or 0), int(row["failed"] or 0)
        if row["status"] not in TERMINAL:
            out.running += 1
            progress = min(max(float(row["last_progress"] or 0.0), 0.0), 100.0)
            out.requests_waiting += round(int(row["request_count"] or 0) * (100.0 - progress) / 100.0)
        else:
            out.finished += 1
            out.failed += row["status"] != "COMPLETED" or (loaded and failed > 0 and succeeded == 0)
            out.not_loaded += not loaded
        if loaded:
            out.requests_answered += succeeded
            out.requests_failed += max(failed - (_answered(row["failures_json"]) if failed else 0), 0)
            out.cost_usd_batch += float(row["cost_usd_batch"] or 0.0)
    return out
