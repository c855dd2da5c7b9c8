"""Build (and validate) a Together batch input file from a SQL query or a JSONL of records."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_batch.inputs.build import (
    METADATA_SUFFIX,
    BuiltInput,
    build_batch_file,
    records_from_jsonl,
    records_from_sql,
)
from airflow_provider_batch.inputs.limits import CHAT_ENDPOINT, SUPPORTED_ENDPOINTS, BatchLimits
from airflow_provider_batch.inputs.storage import fetch_to_local, is_s3_uri, publish
from airflow_provider_batch.inputs.validate import ensure_valid
from airflow_provider_batch.operators._empty import check_on_empty, on_empty_input
from airflow_provider_batch.results.warehouse import check_metadata_columns
from airflow_provider_batch.vendors import vendor_named

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "BuildRequestsOperator",
    "TogetherBuildRequestsOperator",
    "build_requests",
    "build_requests_from_sql",
]


def _as_limits(limits: BatchLimits | Mapping[str, Any] | None) -> BatchLimits:
    if limits is None:
        return BatchLimits()
    return limits if isinstance(limits, BatchLimits) else BatchLimits().merged(limits)


def _staging_path(output_path: str, tmp: str) -> Path:
    # Build where a failed validation leaves nothing at output_path: a temp dir for S3, a hidden
    # sibling (same filesystem, so the final move is a rename) for a local path.
    if is_s3_uri(output_path):
        return Path(tmp) / (output_path.rsplit("/", 1)[-1] or "requests.jsonl")
    target = Path(output_path)
    return target.with_name(f".{target.name}.building")


def _publish_built(built: BuiltInput, output_path: str, aws_conn_id: str | None) -> tuple[str, str]:
    meta_uri = output_path + METADATA_SUFFIX
    if is_s3_uri(output_path):
        meta_uri = publish(built.metadata_path, meta_uri, aws_conn_id)
        return publish(built.path, output_path, aws_conn_id), meta_uri
    os.replace(built.metadata_path, meta_uri)
    os.replace(built.path, output_path)
    return output_path, meta_uri


def build_requests(
    records: Iterable[Mapping[str, Any]],
    output_path: str,
    *,
    limits: BatchLimits | Mapping[str, int] | None = None,
    check_totals: bool = False,
    aws_conn_id: str | None = "aws_default",
    on_empty: str = "skip",
    vendor: str | None = None,
    **build_options: Any,
) -> dict[str, Any]:
    """Build the request file and its sidecar, validate it, then publish both to ``output_path``.

    ``build_options`` are the keyword arguments of
    :func:`~airflow_provider_batch.inputs.build.build_batch_file` (``key_column``, ``model``,
    ``user_template``, ``endpoint``, ...). ``output_path`` is a local path or ``s3://bucket/key``;
    the files are built under a temporary name and moved (or uploaded, for S3) only after
    validation passed, so a failed build leaves nothing at ``output_path``. ``check_totals``
    defaults to ``False`` because files over the per-batch limits are split at submission time.
    ``on_empty`` decides what no records at all means: ``"skip"`` (the default) raises
    ``AirflowSkipException``, ``"fail"`` raises :class:`~airflow_provider_batch.inputs.EmptyInputError`;
    either way nothing is published. ``vendor`` (``"openai"``...) names the batch API the file is
    for, whose endpoints are then accepted and whose limits apply unless ``limits`` is given
    (Together's otherwise).

    :returns: ``{"path", "metadata_path", "count", "bytes", "models"}`` (paths as given/published).
    :raises InputValidationError: the built file breaks a batch rule (nothing is published).
    """
    check_on_empty(on_empty)
    endpoint = build_options.get("endpoint", CHAT_ENDPOINT)
    endpoints = vendor_named(vendor).endpoints if vendor else SUPPORTED_ENDPOINTS
    with tempfile.TemporaryDirectory(prefix="apb-build-") as tmp:
        built = build_batch_file(
            records, _staging_path(output_path, tmp), endpoints=endpoints, **build_options
        )
        try:
            if built.count == 0:
                on_empty_input(on_empty, f"the source gave no rows for {output_path}")
            ensure_valid(
                built.path,
                endpoint=endpoint,
                limits=vendor_named(vendor).limits if limits is None and vendor else _as_limits(limits),
                check_totals=check_totals,
                endpoints=endpoints,
            )
            path, metadata_path = _publish_built(built, output_path, aws_conn_id)
        finally:
            built.path.unlink(missing_ok=True)
            built.metadata_path.unlink(missing_ok=True)
    return {**built.to_xcom(), "path": path, "metadata_path": metadata_path}


def build_requests_from_sql(
    *,
    sql_conn_id: str,
    sql: str,
    output_path: str,
    key_column: str,
    model: str,
    parameters: Sequence[Any] | Mapping[str, Any] | None = None,
    chunk_size: int = 5000,
    **options: Any,
) -> dict[str, Any]:
    """One-call form for a TaskFlow ``@task``: run ``sql`` on ``sql_conn_id`` and build the requests.

    ``options`` are the keyword arguments of :func:`build_requests` and of
    :func:`~airflow_provider_batch.inputs.build.build_batch_file` (``user_template``, ``body``,
    ``endpoint``, ``metadata_columns``, ``limits``, ``check_totals``, ``aws_conn_id``,
    ``on_empty``, ...). A query that returns no rows skips the task (``on_empty="skip"``, the
    default) or fails it (``on_empty="fail"``).
    """
    records = records_from_sql(sql_conn_id, sql, parameters, chunk_size=chunk_size)
    return build_requests(records, output_path, key_column=key_column, model=model, **options)


_BUILD_OPTIONS = (
    "key_column",
    "model",
    "user_template",
    "system_prompt",
    "body",
    "endpoint",
    "metadata_columns",
    "audio_url_column",
    "id_prefix",
)
"""Operator attributes passed through to :func:`build_batch_file`."""


class TogetherBuildRequestsOperator(BaseOperator):
    """Turn warehouse rows into a validated Together batch input file (and a metadata sidecar).

    Rows come from ``sql`` on ``sql_conn_id`` or from a JSONL file of records at ``records_path``
    (local or ``s3://``). Each row becomes one request keyed by ``key_column``; see
    :func:`airflow_provider_batch.inputs.build.build_batch_file` for the request shape. The file is
    validated before the task succeeds, so a bad input fails here, before any upload.

    :param sql_conn_id: common.sql connection to read rows from (with ``sql``).
    :param sql: query returning one row per request (templated; ``.sql`` files are rendered).
    :param parameters: query parameters.
    :param records_path: JSONL of records to use instead of SQL.
    :param key_column: column that gives each request's ``custom_id``.
    :param model: model for every request.
    :param user_template: ``str.format`` template over the row for the user message (templated).
    :param system_prompt: optional system message (templated).
    :param body: extra request body fields (``max_tokens``, ``temperature``, ...).
    :param endpoint: batch endpoint, chat by default.
    :param vendor: the vendor whose batch API the file is for (``"openai"`` for its Responses and
        embeddings endpoints); Together's endpoints when not given.
    :param metadata_columns: columns copied to the sidecar, never into the request. They become
        results-table columns, so each must be a safe SQL identifier that is not a result column
        name (e.g. not ``status``); others are refused when the operator is created.
    :param audio_url_column: column with the audio URL, for audio endpoints.
    :param output_path: where the request file goes, local or ``s3://`` (templated).
    :param limits: :class:`BatchLimits` or a dict of its fields.
    :param check_totals: also refuse files over the per-batch line/byte limits (off: they get split).
    :param aws_conn_id: AWS connection for ``s3://`` paths.
    :param on_empty: when the source has no rows: ``"skip"`` (default) raises
        ``AirflowSkipException``, so submit and results are skipped under the default trigger rule
        and nothing is uploaded or paid for; ``"fail"`` fails the task. Nothing is published.
    :returns: ``{"path", "metadata_path", "count", "bytes", "models"}`` via XCom.
    """

    template_fields: Sequence[str] = ("sql", "output_path", "user_template", "system_prompt", "records_path")
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql"}

    def __init__(
        self,
        *,
        key_column: str,
        model: str,
        output_path: str,
        sql_conn_id: str | None = None,
        sql: str | None = None,
        parameters: Sequence[Any] | Mapping[str, Any] | None = None,
        records_path: str | None = None,
        user_template: str | None = None,
        system_prompt: str | None = None,
        body: Mapping[str, Any] | None = None,
        endpoint: str = CHAT_ENDPOINT,
        metadata_columns: Sequence[str] = (),
        audio_url_column: str | None = None,
        id_prefix: str = "",
        limits: BatchLimits | Mapping[str, int] | None = None,
        check_totals: bool = False,
        aws_conn_id: str | None = "aws_default",
        on_empty: str = "skip",
        vendor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.on_empty = check_on_empty(on_empty)
        self.vendor = vendor
        if (sql is None) == (records_path is None):
            raise ValueError("give exactly one of sql (with sql_conn_id) or records_path")
        if sql is not None and not sql_conn_id:
            raise ValueError("sql needs sql_conn_id")
        self.key_column, self.model, self.output_path = key_column, model, output_path
        self.sql_conn_id, self.sql, self.parameters = sql_conn_id, sql, parameters
        self.records_path = records_path
        self.user_template, self.system_prompt, self.body = user_template, system_prompt, body
        # Metadata columns become results-table columns: refuse unusable names before any spend.
        self.endpoint, self.metadata_columns = endpoint, check_metadata_columns(metadata_columns)
        self.audio_url_column, self.id_prefix = audio_url_column, id_prefix
        self.limits, self.check_totals, self.aws_conn_id = limits, check_totals, aws_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="apb-records-") as tmp:
            result = build_requests(
                self._records(tmp),
                self.output_path,
                limits=self.limits,
                check_totals=self.check_totals,
                aws_conn_id=self.aws_conn_id,
                on_empty=self.on_empty,
                vendor=self.vendor,
                **{name: getattr(self, name) for name in _BUILD_OPTIONS},
            )
        self.log.info(
            "Built %d requests (%d bytes) at %s; models %s",
            result["count"],
            result["bytes"],
            result["path"],
            result["models"],
        )
        return result

    def _records(self, tmp: str) -> Iterator[dict[str, Any]]:
        if self.sql is not None:
            return records_from_sql(self.sql_conn_id or "", self.sql, self.parameters)
        local = fetch_to_local(self.records_path or "", tmp, aws_conn_id=self.aws_conn_id)
        return records_from_jsonl(local)


#: The request builder under its neutral name: the lines it writes (``{custom_id, body}``) are
#: every vendor's; a vendor whose wire needs more (OpenAI's ``method`` and ``url``) adds it on upload.
BuildRequestsOperator = TogetherBuildRequestsOperator
