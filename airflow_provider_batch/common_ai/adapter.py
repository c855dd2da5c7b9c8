"""``TogetherBatchAdapter``: Together's Batch API behind common.ai's ``LLMBatchOperator``.

Registered through the entry point ``together`` in the group
``airflow.providers.common.ai.batch_adapters``, so ``model_id="together:<model>"`` selects it.
It talks to Together through this provider's own typed client, and keeps its retry-safety record
in this provider's submission ledger (see :mod:`airflow_provider_batch.common_ai._recovery`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.ai.batch.base import (
    BatchAdapter,
    BatchState,
    ExtractedOutput,
    RawResultItem,
    SubmitResult,
)
from airflow.providers.common.ai.batch.base import (
    BatchStatus as CommonAIStatus,
)
from airflow.providers.common.ai.exceptions import LLMBatchLimitExceededError

from airflow_provider_batch.client import ClientSettings
from airflow_provider_batch.client.models import BatchStatus
from airflow_provider_batch.common_ai import _recovery, _requests, _results
from airflow_provider_batch.hooks.connection import api_root, mask_secret
from airflow_provider_batch.idempotency import SubmitContext, submit_or_attach
from airflow_provider_batch.inputs.limits import BatchLimits
from airflow_provider_batch.ledger import LedgerError
from airflow_provider_batch.vendors import vendor_named

if TYPE_CHECKING:
    from airflow.providers.common.ai.batch.base import BatchRequest
    from airflow.providers.common.ai.batch.output_schema import OutputSpec

    from airflow_provider_batch.ledger import SubmissionLedger

__all__ = ["STATUS_MAP", "TogetherBatchAdapter"]

log = logging.getLogger(__name__)

#: The batch vendor this adapter submits to (its client, uploads and lost-create search).
_VENDOR = "together"

#: Together's batch statuses in common.ai's vocabulary. ``CANCELING`` (one L, transient after a
#: cancel) and any status the client does not know (``UNKNOWN``) are still running.
STATUS_MAP: dict[BatchStatus, CommonAIStatus] = {
    BatchStatus.VALIDATING: "in_progress",
    BatchStatus.IN_PROGRESS: "in_progress",
    BatchStatus.CANCELING: "in_progress",
    BatchStatus.UNKNOWN: "in_progress",
    BatchStatus.COMPLETED: "completed",
    BatchStatus.FAILED: "failed",
    BatchStatus.EXPIRED: "expired",
    BatchStatus.CANCELLED: "cancelled",
}


def _build_client(api_key: str | None, base_url: str | None) -> Any:
    key = api_key or os.environ.get("TOGETHER_API_KEY")
    if not key:
        raise ValueError(
            "The Together batch adapter needs an API key: set the Password field of the connection "
            "(llm_conn_id), or TOGETHER_API_KEY in the worker's and triggerer's environment."
        )
    mask_secret(key)
    vendor = vendor_named(_VENDOR)
    return vendor.client(
        ClientSettings(api_key=key, base_url=api_root(base_url, None, vendor.default_base_url))
    )


class TogetherBatchAdapter(BatchAdapter):
    """Batch adapter for Together AI (``/v1/chat/completions``), for ``@task.llm_batch``.

    Connections: ``together`` (this provider's type) or ``pydanticai``; common.ai passes the
    ``password`` as ``api_key`` and the ``host`` as ``base_url`` (empty: Together's public API).
    Extras of the ``together`` connection (timeouts, retries, TLS) are not passed by common.ai and
    keep their defaults here.

    :param api_key: Together API key; ``None`` reads ``TOGETHER_API_KEY``.
    :param base_url: API root such as ``https://api.together.ai/v1`` (a bare host gets ``/v1``).
    :param client: a ready Together client (``BatchVendor.client``; tests); it is
        closed by :meth:`close` like an own one.
    :param ledger: the submission ledger; ``None`` resolves the deployment's one on first use
        (:func:`airflow_provider_batch.ledger.location.get_ledger`).
    """

    name = "together"
    conn_types: ClassVar[frozenset[str]] = frozenset({"together", "pydanticai"})
    max_requests = 50_000
    max_payload_bytes = 100 * 1024**2
    #: Every Together input line names its own ``body.model``.
    allows_per_request_model = True

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: Any | None = None,
        ledger: SubmissionLedger | None = None,
    ) -> None:
        self._client = client if client is not None else _build_client(api_key, base_url)
        self._ledger = ledger

    @property
    def ledger(self) -> SubmissionLedger:
        """The submission ledger, resolved on first use (submit and orphan recovery need it)."""
        if self._ledger is None:
            from airflow_provider_batch.ledger.location import get_ledger

            self._ledger = get_ledger()
        return self._ledger

    @property
    def limits(self) -> BatchLimits:
        """Together's per-batch limits, following this instance's ``max_requests`` / ``max_payload_bytes``."""
        return BatchLimits(max_lines=self.max_requests, max_bytes=self.max_payload_bytes)

    # -- requests -------------------------------------------------------------------------------

    def _builder(self, model: str, output_spec: OutputSpec, **kwargs: Any) -> _requests.LineBuilder:
        return _requests.LineBuilder(
            self.resolve_request_model,
            model=model,
            directive=self.build_output_directive(output_spec),
            system_prompt=kwargs.get("system_prompt") or "",
            max_tokens=kwargs.get("max_tokens") or 1024,
            request_params=kwargs.get("request_params"),
        )

    def validate_requests(
        self,
        requests: list[BatchRequest],
        *,
        model: str,
        output_spec: OutputSpec,
        idempotency_key: str,
        **kwargs: Any,
    ) -> None:
        """Check the batch against Together's limits and the provider's line validator, offline.

        The exact lines :meth:`submit` would upload are written to a temporary file and validated
        there, so the size check includes the structured-output directive of every request.

        :raises LLMBatchLimitExceededError: over 50,000 requests, 100 MiB, 10 MiB per request or a
            custom_id over 64 characters; the message names the ``.expand()`` remedy.
        :raises LLMBatchModelMismatchError: a per-request model names another provider.
        :raises LLMBatchInputError: a request breaks a line rule (e.g. a bad ``max_tokens``).
        :raises LedgerUnavailableError: this deployment has no usable submission ledger (e.g. the
            embedded SQLite default under a distributed executor); raised here, before common.ai
            records its intent to submit.
        """
        _ = self.ledger
        limits = self.limits
        self.check_custom_id_length(idempotency_key, len(requests), max_length=limits.max_custom_id_len)
        if len(requests) > limits.max_lines:
            raise LLMBatchLimitExceededError(
                f"Together's batch API accepts at most {limits.max_lines} requests per batch; got "
                f"{len(requests)}. Split the input across mapped task instances with .expand() so each "
                f"submits at most {limits.max_lines}, or use TogetherBatchOperator, which splits one "
                "input into several batches. Nothing was submitted."
            )
        builder = self._builder(model, output_spec, **kwargs)
        with tempfile.TemporaryDirectory(prefix="apb-commonai-") as tmp:
            path = Path(tmp) / "requests.jsonl"
            _requests.write_jsonl(builder.lines(requests, idempotency_key), path)
            report = _requests.validate_lines(path, limits)
        _requests.raise_for_report(report, limits=limits, directive_bytes=len(json.dumps(builder.directive)))

    def submit(
        self,
        requests: list[BatchRequest],
        *,
        model: str,
        idempotency_key: str,
        input_fingerprint: str,
        output_spec: OutputSpec,
        **kwargs: Any,
    ) -> SubmitResult:
        """Upload the requests (``purpose="batch-api"``) and create the batch, through the ledger.

        The submission is recorded in the ledger before the upload (key -> identity, fingerprint
        -> ``part_sha256``), so :meth:`find_orphaned_batch` can find the batch of a try that died
        before common.ai recorded it. If the ledger already holds a running or COMPLETED batch of
        this key and fingerprint (common.ai's own state was lost), that batch is returned instead
        of paying again; a FAILED, EXPIRED, CANCELLED or vanished one is replaced by a new
        generation (common.ai only submits again after such an ending, or a lost state).
        """
        builder = self._builder(model, output_spec, **kwargs)
        context = SubmitContext(
            identity=_recovery.identity_for(idempotency_key),
            ledger=self.ledger,
            endpoint=_requests.CHAT_ENDPOINT,
            together_conn_id=_recovery.LEDGER_CONN_LABEL,
            vendor=vendor_named(_VENDOR),
        )
        with tempfile.TemporaryDirectory(prefix="apb-commonai-") as tmp:
            path = Path(tmp) / f"{idempotency_key}.jsonl"
            count = _requests.write_jsonl(builder.lines(requests, idempotency_key), path)
            part = _recovery.RequestFile(path=path, lines=count, sha256=input_fingerprint)
            (outcome,) = submit_or_attach(self._client, [part], context, force_resubmit=True)
        job = outcome.job
        log.info("common.ai batch %s: %s (%d requests, status %s)", job.id, outcome.path, count, job.status)
        return SubmitResult(batch_id=job.id, provider_input_ref=job.input_file_id)

    # -- status ---------------------------------------------------------------------------------

    def get_batch(self, batch_id: str) -> BatchState:
        """Status in common.ai's words; Together reports no per-request counts (``counts=None``)."""
        job = self._client.batches.retrieve(batch_id)
        if job.status is BatchStatus.UNKNOWN:
            log.warning("batch %s has status %r, unknown to this provider; treated as running",
                        batch_id, job.raw_status)  # fmt: skip
        status = STATUS_MAP[job.status]
        if status != "failed":
            return BatchState(status=status, counts=None, error_message=None)
        return BatchState(status=status, counts=None, error_message=job.error or f"batch {batch_id} FAILED")

    def cancel_batch(self, batch_id: str) -> None:
        """Ask Together to cancel; the batch is ``CANCELING`` (still running) until it is ``CANCELLED``."""
        self._client.batches.cancel(batch_id)

    # -- results --------------------------------------------------------------------------------

    def iter_results(self, batch_id: str) -> Iterator[RawResultItem]:
        """Every request of the batch exactly once: output lines, error lines, then the unreported.

        The batch is retrieved (and the ledger read) before this returns, so an unknown id raises
        here. A request with no line in either file comes out ``expired`` / ``cancelled`` for an
        EXPIRED / CANCELLED batch, else ``errored`` with ``type="missing_result"``.
        """
        job = self._client.batches.retrieve(batch_id)
        ledger: SubmissionLedger | None
        try:
            ledger = self.ledger
        except LedgerError as exc:  # reading results must not need the ledger: fall back to the input
            log.warning("batch %s: no submission ledger (%s); reading the input file instead", batch_id, exc)
            ledger = None
        expected = _results.expected_from_ledger(ledger, batch_id)
        return _results.iter_batch_results(self._client, job, expected)

    def build_output_directive(self, spec: OutputSpec) -> dict[str, Any]:
        """Together's structured output: ``response_format`` of type ``json_schema``, schema as given."""
        if not spec.is_structured:
            return {}
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": spec.schema_name, "schema": spec.json_schema},
            }
        }

    def extract_output(self, raw: RawResultItem, spec: OutputSpec) -> ExtractedOutput:
        """The message content: plain text, or JSON text for common.ai to validate."""
        if raw.raw is None:
            return ExtractedOutput(kind="absent")
        return ExtractedOutput(kind="json_text" if spec.is_structured else "text", text=raw.raw)

    # -- recovery -------------------------------------------------------------------------------

    def find_orphaned_batch(
        self, idempotency_key: str, input_fingerprint: str, not_before: str
    ) -> str | None:
        """The batch a crashed try created, read back from the submission ledger.

        Together batches have no metadata, so the ledger is the only record. A batch is returned
        only when its row has this ``idempotency_key`` **and** this ``input_fingerprint`` **and**
        was written at or after ``not_before``; the newest such batch wins. A create interrupted
        after the ledger marked it is resolved through the row's own input file. Another task
        instance's batch is never returned: its rows carry another key.

        :raises LedgerUnavailableError: the ledger cannot be read (common.ai then does not resubmit).
        :raises LedgerConflictError: the row's file carries several unattributed batches.
        """
        ledger = self.ledger
        return _recovery.find_orphan(
            self._client,
            ledger,
            idempotency_key,
            input_fingerprint,
            not_before,
            vendor=vendor_named(_VENDOR),
        )

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()
