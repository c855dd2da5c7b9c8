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

from airflow_provider_batch.core.figures import CACHE_TOKEN_FIELDS
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
    cache_creation_tokens: int = Field(default=0, description="prompt-cache tokens written, in that spend")
    cache_read_tokens: int = Field(default=0, description="prompt-cache tokens read, in that spend")


def _answered(failures_json: str) -> int:
    return sum(int(bucket.get("answered") or 0) for bucket in json.loads(failures_json))


def summarize(by_status: Iterable[Mapping[str, Any]], answered: Iterable[str] = ()) -> WindowSummary:
    """Add up :meth:`~airflow_provider_batch.ledger.SubmissionLedger.summary_rows`: its rows per
    status and the failure lists in which a follow-up answered something."""
    totals: dict[str, float] = dict.fromkeys(
        ("batches", "running", "finished", "failed", "not_loaded", "succeeded", "lost", "cost", "waiting",
         *CACHE_TOKEN_FIELDS), 0,
    )  # fmt: skip
    for row in by_status:
        n = int(row["batches"] or 0)
        totals["batches"] += n
        if row["status"] in TERMINAL:
            totals["finished"] += n
            totals["not_loaded"] += int(row["not_loaded"] or 0)
            totals["failed"] += n if row["status"] != "COMPLETED" else int(row["none_answered"] or 0)
        else:
            totals["running"] += n
            totals["waiting"] += float(row["waiting"] or 0.0)
        totals["succeeded"] += int(row["succeeded"] or 0)
        totals["lost"] += int(row["failed"] or 0)
        totals["cost"] += float(row["cost_usd_batch"] or 0.0)
        for name in CACHE_TOKEN_FIELDS:
            totals[name] += int(row.get(name) or 0)
    return WindowSummary(
        batches=int(totals["batches"]), running=int(totals["running"]), finished=int(totals["finished"]),
        failed=int(totals["failed"]), not_loaded=int(totals["not_loaded"]),
        requests_answered=int(totals["succeeded"]),
        requests_failed=max(int(totals["lost"]) - sum(_answered(f) for f in answered), 0),
        requests_waiting=round(totals["waiting"]), cost_usd_batch=totals["cost"],
        **{name: int(totals[name]) for name in CACHE_TOKEN_FIELDS},
    )  # fmt: skip
