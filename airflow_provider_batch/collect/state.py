"""Typed state of the results operator: its result, and what travels between deferrals.

The XCom return value is :meth:`ResultManifest.dump` (the same keys as ever, plus ``failures``);
:class:`FollowUpState` travels in the defer kwargs and in XCom, and follow-up rounds read its
fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from airflow_provider_batch.collect.outcomes import EXAMPLES_PER_CODE
from airflow_provider_batch.core.figures import Figures
from airflow_provider_batch.ledger import FailureBucket

__all__ = ["Carried", "Chain", "FollowUpState", "ResultManifest", "merge_failures"]


class Carried(BaseModel):
    """What a re-sent request's row held before the follow-up round."""

    status: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    error_code: str | None = None
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0

    @model_validator(mode="before")
    @classmethod
    def _from_positional(cls, data: Any) -> Any:
        """A round deferred by 0.1.0 carried ``[status, prompt, completion, total, cost]``."""
        if isinstance(data, list | tuple):
            names = ("status", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd")
            return dict(zip(names, data, strict=False))
        return data


class Chain(BaseModel):
    """One follow-up batch of a round: the original batch (and part) whose requests it re-sends."""

    origin: str = ""
    part: int = 0
    batch_id: str
    carry: dict[str, Carried] = Field(default_factory=dict)


class ResultManifest(Figures):
    """What the results task loaded: its XCom return value (see :meth:`dump`); its tokens and
    spend are the :class:`~airflow_provider_batch.core.figures.Figures` fields."""

    model_config = ConfigDict(frozen=False)

    batch_ids: list[str] = Field(default_factory=list)
    final_statuses: dict[str, str] = Field(default_factory=dict)
    requests: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    rows_loaded: int = 0
    rows_superseded: int = 0
    rows_replaced: int = 0
    superseded_batch_ids: list[str] = Field(default_factory=list)
    results_table: str = ""
    summary_table: str = ""
    warehouse_conn_id: str = ""
    diagnostics: dict[str, Any] = Field(default_factory=dict)
    follow_up_rounds: int = 0
    follow_up_batch_ids: list[str] = Field(default_factory=list)
    failures: list[FailureBucket] = Field(default_factory=list, description="final failed rows by code")
    rows_merged: int | None = None
    deleted_input_files: int | None = None

    def dump(self) -> dict[str, Any]:
        """Plain data for XCom; the optional keys appear only once they apply."""
        return self.model_dump(mode="json", exclude_none=True)


class FollowUpState(BaseModel):
    """Everything a resumed follow-up round needs (never read from the operator's attributes)."""

    round: int
    result: ResultManifest
    endpoint: str | None = None
    metadata_manifest: str | None = None
    ledger_conn_id: str | None = None
    chains: list[Chain] = Field(default_factory=list)


def merge_failures(
    buckets: list[FailureBucket],
    removed: dict[str, set[str]],
    added: list[FailureBucket],
    limit: int = EXAMPLES_PER_CODE,
) -> list[FailureBucket]:
    """Failures after a round: ``removed`` (code -> ids answered or re-failed) leave their bucket,
    ``added`` buckets join; most frequent code first."""
    merged: dict[str, FailureBucket] = {}
    for bucket in buckets:
        gone = removed.get(bucket.code, set())
        count = bucket.count - len(gone)
        if count > 0:
            examples = [cid for cid in bucket.examples if cid not in gone]
            merged[bucket.code] = FailureBucket(code=bucket.code, count=count, examples=examples)
    for bucket in added:
        kept = merged.setdefault(bucket.code, FailureBucket(code=bucket.code, count=0))
        kept.count += bucket.count
        kept.examples = (kept.examples + [c for c in bucket.examples if c not in kept.examples])[:limit]
    return sorted(merged.values(), key=lambda b: (-b.count, b.code))
