"""This provider's batch vendors behind common.ai's ``LLMBatchOperator``.

:class:`VendorBatchAdapter` runs common.ai's batches on one registered vendor
(:mod:`airflow_provider_batch.vendors`): its client, its default endpoint's request and answer
shapes, its limits, its uploads and its lost-create search all come from the vendor contract.
``TogetherBatchAdapter`` is registered through the entry point ``together`` in the group
``airflow.providers.common.ai.batch_adapters``, so ``model_id="together:<model>"`` selects it;
:func:`adapter_for` builds the adapter of any registered vendor (``openai``, ``anthropic``), which
common.ai's ``register_adapter`` puts in place of its own. Every adapter keeps its retry-safety
record in this provider's submission ledger (see :mod:`airflow_provider_batch.common_ai._recovery`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from functools import cache
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
from airflow_provider_batch.vendors.base import BatchVendor

if TYPE_CHECKING:
    from airflow.providers.common.ai.batch.base import BatchRequest
    from airflow.providers.common.ai.batch.output_schema import OutputSpec

    from airflow_provider_batch.ledger import SubmissionLedger

__all__ = ["STATUS_MAP", "TogetherBatchAdapter", "VendorBatchAdapter", "adapter_for"]

log = logging.getLogger(__name__)

#: The neutral batch statuses (each vendor's client maps its own onto them) in common.ai's words.
#: ``CANCELING`` (one L, transient after a cancel) and any status the client does not know
#: (``UNKNOWN``) are still running.
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


def _build_client(vendor: BatchVendor, api_key: str | None, base_url: str | None) -> Any:
    env = f"{vendor.name.upper()}_API_KEY"
    key = api_key or os.environ.get(env)
    if not key:
        raise ValueError(
            f"The {vendor.display_name} batch adapter needs an API key: set the Password field of the "
            f"connection (llm_conn_id), or {env} in the worker's and triggerer's environment."
        )
    mask_secret(key)
    return vendor.client(
        ClientSettings(api_key=key, base_url=api_root(base_url, None, vendor.default_base_url))
    )


class VendorBatchAdapter(BatchAdapter):
    """Batch adapter for one of this provider's vendors, for ``@task.llm_batch``.

    The vendor (:attr:`vendor_name`) supplies the client, the endpoint (its first:
    ``/v1/chat/completions`` on Together and OpenAI, ``/v1/messages`` on Anthropic), the limits,
    the uploads and the search for a create whose answer was lost. Build one with
    :func:`adapter_for`; :class:`TogetherBatchAdapter` is Together's.

    Connections: the vendor's own types (``together``, ``openai``, ``anthropic``) or
    ``pydanticai``; common.ai passes the ``password`` as ``api_key`` and the ``host`` as
    ``base_url`` (empty: the vendor's public API). Extras of the connection (timeouts, retries,
    TLS) are not passed by common.ai and keep their defaults here.

    :param api_key: the vendor's API key; ``None`` reads ``<VENDOR>_API_KEY`` (``TOGETHER_API_KEY``).
    :param base_url: API root such as ``https://api.together.ai/v1`` (a bare host gets ``/v1``).
    :param client: a ready client of the vendor (``BatchVendor.client``; tests); it is
        closed by :meth:`close` like an own one.
    :param ledger: the submission ledger; ``None`` resolves the deployment's one on first use
        (:func:`airflow_provider_batch.ledger.location.get_ledger`).
    """

    #: The registered vendor (:func:`~airflow_provider_batch.vendors.vendor_named`) this adapter runs on.
    vendor_name: ClassVar[str]
    #: Every input line names its own model.
    allows_per_request_model = True

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: Any | None = None,
        ledger: SubmissionLedger | None = None,
    ) -> None:
        self._client = client if client is not None else _build_client(self.vendor, api_key, base_url)
        self._ledger = ledger

    @property
    def vendor(self) -> BatchVendor:
        """The vendor this adapter submits to."""
        return vendor_named(self.vendor_name)

    @property
    def endpoint(self) -> str:
        """The endpoint every request goes to: the vendor's first (its chat endpoint)."""
        return self.vendor.endpoints[0]

    @property
    def ledger(self) -> SubmissionLedger:
        """The submission ledger, resolved on first use (submit and orphan recovery need it)."""
        if self._ledger is None:
            from airflow_provider_batch.ledger.location import get_ledger

            self._ledger = get_ledger()
        return self._ledger

    @property
    def limits(self) -> BatchLimits:
        """The vendor's per-batch limits, with this instance's ``max_requests`` / ``max_payload_bytes``."""
        return dataclasses.replace(
            self.vendor.limits, max_lines=self.max_requests, max_bytes=self.max_payload_bytes
        )

    # -- requests -------------------------------------------------------------------------------

    def _builder(self, model: str, output_spec: OutputSpec, **kwargs: Any) -> _requests.LineBuilder:
        return _requests.LineBuilder(
            self.resolve_request_model,
            endpoint=self.endpoint,
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
        """Check the batch against the vendor's limits and the provider's line validator, offline.

        The exact lines :meth:`submit` would upload are written to a temporary file and validated
        there, so the size check includes the structured-output directive of every request.

        :raises LLMBatchLimitExceededError: over the vendor's requests, bytes, bytes per request or
            ``custom_id`` length (Together: 50,000, 100 MiB, 10 MiB, 64); the message names the
            ``.expand()`` remedy.
        :raises LLMBatchModelMismatchError: a per-request model names another provider.
        :raises LLMBatchInputError: a request breaks a line rule (e.g. a bad ``max_tokens``, or a
            ``custom_id`` outside the vendor's pattern).
        :raises LedgerUnavailableError: this deployment has no usable submission ledger (e.g. the
            embedded SQLite default under a distributed executor); raised here, before common.ai
            records its intent to submit.
        """
        _ = self.ledger
        limits = self.limits
        vendor = self.vendor.display_name
        self.check_custom_id_length(idempotency_key, len(requests), max_length=limits.max_custom_id_len)
        if len(requests) > limits.max_lines:
            raise LLMBatchLimitExceededError(
                f"{vendor}'s batch API accepts at most {limits.max_lines} requests per batch; got "
                f"{len(requests)}. Split the input across mapped task instances with .expand() so each "
                f"submits at most {limits.max_lines}, or use BatchOperator, which splits one input into "
                "several batches. Nothing was submitted."
            )
        builder = self._builder(model, output_spec, **kwargs)
        with tempfile.TemporaryDirectory(prefix="apb-commonai-") as tmp:
            path = Path(tmp) / "requests.jsonl"
            _requests.write_jsonl(builder.lines(requests, idempotency_key), path)
            report = _requests.validate_lines(path, limits, self.endpoint, self.vendor.endpoints)
        _requests.raise_for_report(
            report, limits=limits, directive_bytes=len(json.dumps(builder.directive)), vendor=vendor
        )

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
        """Upload the requests (the vendor's way) and create the batch, through the ledger.

        The submission is recorded in the ledger before the upload (key -> identity, fingerprint
        -> ``part_sha256``), so :meth:`find_orphaned_batch` can find the batch of a try that died
        before common.ai recorded it. If the ledger already holds a running or COMPLETED batch of
        this key and fingerprint (common.ai's own state was lost), that batch is returned instead
        of paying again; a FAILED, EXPIRED, CANCELLED or vanished one is replaced by a new
        generation (common.ai only submits again after such an ending, or a lost state). A create
        interrupted earlier is settled by the vendor's search first (bound, or refused when its
        batch cannot be told apart), never created a second time unseen.
        """
        builder = self._builder(model, output_spec, **kwargs)
        context = SubmitContext(
            identity=_recovery.identity_for(idempotency_key),
            ledger=self.ledger,
            endpoint=self.endpoint,
            together_conn_id=_recovery.LEDGER_CONN_LABEL,
            vendor=self.vendor,
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
        """Status in common.ai's words (``counts=None``: common.ai counts the results it reads)."""
        job = self._client.batches.retrieve(batch_id)
        if job.status is BatchStatus.UNKNOWN:
            log.warning("batch %s has status %r, unknown to this provider; treated as running",
                        batch_id, job.raw_status)  # fmt: skip
        status = STATUS_MAP[job.status]
        if status != "failed":
            return BatchState(status=status, counts=None, error_message=None)
        return BatchState(status=status, counts=None, error_message=job.error or f"batch {batch_id} FAILED")

    def cancel_batch(self, batch_id: str) -> None:
        """Ask the vendor to cancel; the batch is ``CANCELING`` (still running) until it is ``CANCELLED``."""
        self._client.batches.cancel(batch_id)

    # -- results --------------------------------------------------------------------------------

    def iter_results(self, batch_id: str) -> Iterator[RawResultItem]:
        """Every request of the batch exactly once: output lines, error lines, then the unreported.

        The batch is retrieved (and the ledger read) before this returns, so an unknown id raises
        here. A request with no line in either file, or named by the vendor as never run, comes out
        ``expired`` / ``cancelled`` for an EXPIRED / CANCELLED batch, else ``errored`` with
        ``type="missing_result"``.
        """
        job = self._client.batches.retrieve(batch_id)
        ledger: SubmissionLedger | None
        try:
            ledger = self.ledger
        except LedgerError as exc:  # reading results must not need the ledger: fall back to the input
            log.warning("batch %s: no submission ledger (%s); reading the input file instead", batch_id, exc)
            ledger = None
        expected = _results.expected_from_ledger(ledger, batch_id)
        return _results.iter_batch_results(
            self._client, job, expected, vendor=self.vendor, endpoint=self.endpoint
        )

    def build_output_directive(self, spec: OutputSpec) -> dict[str, Any]:
        """The endpoint's structured output, schema as given (chat: ``response_format`` of type
        ``json_schema``; Messages: ``output_config.format``)."""
        if not spec.is_structured:
            return {}
        return _requests.output_directive(self.endpoint, spec.schema_name, spec.json_schema)

    def extract_output(self, raw: RawResultItem, spec: OutputSpec) -> ExtractedOutput:
        """The answer's text: plain text, or JSON text for common.ai to validate."""
        if raw.raw is None:
            return ExtractedOutput(kind="absent")
        return ExtractedOutput(kind="json_text" if spec.is_structured else "text", text=raw.raw)

    # -- recovery -------------------------------------------------------------------------------

    def find_orphaned_batch(
        self, idempotency_key: str, input_fingerprint: str, not_before: str
    ) -> str | None:
        """The batch a crashed try created, read back from the submission ledger.

        The ledger is the record (Together and Anthropic batches carry no metadata). A batch is
        returned only when its row has this ``idempotency_key`` **and** this ``input_fingerprint``
        **and** was written at or after ``not_before``; the newest such batch wins. A create
        interrupted after the ledger marked it is resolved the vendor's way
        (:meth:`BatchVendor.find_lost_create`). Another task instance's batch is never returned:
        its rows carry another key.

        :raises LedgerUnavailableError: the ledger cannot be read (common.ai then does not resubmit).
        :raises LedgerConflictError: the vendor's search finds several batches this create may
            have made (nothing is adopted or paid again).
        """
        return _recovery.find_orphan(
            self._client,
            self.ledger,
            idempotency_key,
            input_fingerprint,
            not_before,
            vendor=self.vendor,
        )

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()


def _adapter_fields(vendor: BatchVendor) -> dict[str, Any]:
    return {
        "vendor_name": vendor.name,
        "name": vendor.name,
        "conn_types": frozenset({*vendor.conn_types, "pydanticai"}),
        "max_requests": vendor.limits.max_lines,
        "max_payload_bytes": vendor.limits.max_bytes,
    }


class TogetherBatchAdapter(VendorBatchAdapter):
    """Together AI (``/v1/chat/completions``) for ``@task.llm_batch``: ``model_id="together:<model>"``
    (entry point ``together``). Connections: ``together`` or ``pydanticai``; Together reports no
    per-request counts (``counts=None``) and writes no line for a request that never ran."""

    vendor_name: ClassVar[str] = "together"
    name = "together"
    conn_types: ClassVar[frozenset[str]] = frozenset({"together", "pydanticai"})
    max_requests = 50_000
    max_payload_bytes = 100 * 1024**2


#: Adapters declared in this module (importable by path, e.g. for an entry point), by vendor name.
_DECLARED: dict[str, type[VendorBatchAdapter]] = {TogetherBatchAdapter.vendor_name: TogetherBatchAdapter}


@cache
def adapter_for(vendor_name: str) -> type[VendorBatchAdapter]:
    """The adapter class of a registered vendor (``together``, ``openai``, ``anthropic``).

    Its :attr:`~VendorBatchAdapter.name` (the ``model_id`` prefix) is the vendor's name and its
    connection types the vendor's own plus ``pydanticai``. common.ai ships its own ``openai`` and
    ``anthropic`` adapters; ``register_adapter(adapter_for("anthropic"))`` puts this provider's
    (ledger-backed) one in their place.

    :raises UnknownVendorError: no vendor is registered under ``vendor_name``.
    """
    vendor = vendor_named(vendor_name)
    declared = _DECLARED.get(vendor.name)
    if declared is not None:
        return declared
    cls_name = f"{vendor.display_name.replace(' ', '')}BatchAdapter"
    fields = {**_adapter_fields(vendor), "__module__": __name__, "__qualname__": cls_name}
    fields["__doc__"] = f"{vendor.display_name} ({vendor.endpoints[0]}) for ``@task.llm_batch``."
    return type(cls_name, (VendorBatchAdapter,), fields)
