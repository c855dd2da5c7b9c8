"""The small manifest the submit operator returns to XCom and the results operator reads.

It never carries request or response payloads: only ids, statuses, counts and locations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_batch.core.identity import TaskIdentity

__all__ = ["BatchRecord", "SubmitManifest", "SubmitOwner", "MANIFEST_SCHEMA_VERSION"]

MANIFEST_SCHEMA_VERSION = 1


class BatchRecord(BaseModel):
    """One submitted batch (one part of a possibly split input)."""

    model_config = ConfigDict(extra="ignore")

    batch_id: str
    part: int = 0
    status: str
    input_file_id: str
    output_file_id: str | None = None
    error_file_id: str | None = None
    progress: float = 0.0
    request_count: int | None = None
    endpoint: str = "/v1/chat/completions"
    created_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    #: The part as ``[start, end)`` bytes of the submit's ``input_path``, and its SHA-256: where
    #: the results task re-reads its requests when the vendor does not let input files be
    #: downloaded (absent from manifests of earlier releases, and from Together's).
    input_span: tuple[int, int] | None = None
    input_sha256: str | None = None


#: The submit task instance that owns the batches (its key in the submission ledger); the
#: manifest's ``owner`` keeps its XCom shape ``{dag_id, task_id, run_id, map_index}``.
SubmitOwner = TaskIdentity


class SubmitManifest(BaseModel):
    """What ``TogetherBatchOperator`` returns (as JSON) and ``TogetherBatchResultsOperator`` reads.

    :param batches: one record per batch; a split input has several.
    :param metadata_manifest: location (local path or ``s3://`` URI) of the sidecar file that
        carries the input rows' metadata columns, keyed by ``custom_id``; ``None`` if none.
    :param owner: the submit task instance; with ``ledger_conn_id`` it finds every batch that task
        instance ever created (also those a re-run superseded) in the submission ledger.
    """

    model_config = ConfigDict(extra="ignore")

    schema_version: int = MANIFEST_SCHEMA_VERSION
    together_conn_id: str = "together_default"
    endpoint: str = "/v1/chat/completions"
    batches: list[BatchRecord] = Field(default_factory=list)
    metadata_manifest: str | None = None
    input_path: str | None = None
    submitted_at: datetime | None = None
    completed_at: datetime | None = None
    owner: TaskIdentity | None = None
    ledger_conn_id: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
