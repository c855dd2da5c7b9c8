"""Batch inputs: build request files from rows, validate, split, estimate cost, move to/from S3.

Everything here is local and runs before any upload, so bad input costs nothing.
"""

from __future__ import annotations

from airflow_provider_batch.inputs.budget import (
    BudgetExceededError,
    CostEstimate,
    ModelEstimate,
    UnboundedCostError,
    check_budget,
    check_budget_args,
    estimate_batch_cost,
    estimate_tokens,
    guard_budget,
)
from airflow_provider_batch.inputs.build import (
    METADATA_SUFFIX,
    BuildError,
    BuiltInput,
    build_batch_file,
    metadata_path_for,
)
from airflow_provider_batch.inputs.limits import (
    AUDIO_ENDPOINTS,
    CHAT_ENDPOINT,
    SUPPORTED_ENDPOINTS,
    BatchLimits,
    check_endpoint,
)
from airflow_provider_batch.inputs.prepare import PreparedInput, prepare_input
from airflow_provider_batch.inputs.sources import records_from_jsonl, records_from_sql
from airflow_provider_batch.inputs.split import InputPart, file_sha256, split_batch_file
from airflow_provider_batch.inputs.storage import fetch_to_local, publish
from airflow_provider_batch.inputs.validate import (
    EmptyInputError,
    InputValidationError,
    Problem,
    ValidationReport,
    ensure_valid,
    validate_batch_file,
)

__all__ = [
    "AUDIO_ENDPOINTS",
    "CHAT_ENDPOINT",
    "METADATA_SUFFIX",
    "SUPPORTED_ENDPOINTS",
    "BatchLimits",
    "BudgetExceededError",
    "BuildError",
    "BuiltInput",
    "CostEstimate",
    "EmptyInputError",
    "InputPart",
    "InputValidationError",
    "ModelEstimate",
    "PreparedInput",
    "Problem",
    "UnboundedCostError",
    "ValidationReport",
    "build_batch_file",
    "check_budget",
    "check_budget_args",
    "check_endpoint",
    "ensure_valid",
    "estimate_batch_cost",
    "estimate_tokens",
    "fetch_to_local",
    "guard_budget",
    "file_sha256",
    "metadata_path_for",
    "prepare_input",
    "publish",
    "records_from_jsonl",
    "records_from_sql",
    "split_batch_file",
    "validate_batch_file",
]
