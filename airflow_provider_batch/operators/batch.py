"""Submit a JSONL input to Together's Batch API and wait for it without holding a worker slot."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_batch._compat import AirflowFailException, warn_if_kill_cannot_cancel
from airflow_provider_batch.client.errors import (
    AuthenticationError,
    BadRequestError,
    BatchCreateRejectedError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
)
from airflow_provider_batch.client.models import CHAT_COMPLETIONS
from airflow_provider_batch.events import XCOM_MANIFEST, BatchEvent, BatchState
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.inputs import (
    BatchLimits,
    InputPart,
    check_budget,
    check_endpoint,
    ensure_valid,
    estimate_batch_cost,
    fetch_to_local,
    split_batch_file,
)
from airflow_provider_batch.idempotency import PartOutcome, SubmitLedger, TaskIdentity, submit_or_attach
from airflow_provider_batch.links import TogetherBatchLink
from airflow_provider_batch.manifest import SubmitManifest
from airflow_provider_batch.operators._batch_common import (
    cancel_sync,
    check_once,
    finish,
    push_batch_ids,
    record_from_state,
    wait_sync,
)
from airflow_provider_batch.pricing import PriceTable
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger

__all__ = ["TogetherBatchOperator", "DEFAULT_TIMEOUT", "DEFAULT_POLL_INTERVAL"]

#: Together's completion window is 24 h; jobs may still finish a little later.
DEFAULT_TIMEOUT = timedelta(hours=25)
DEFAULT_POLL_INTERVAL = 30.0
#: The defer timeout is only a backstop: the trigger's own deadline should always win.
_DEFER_BACKSTOP = timedelta(minutes=10)

_NOT_RETRYABLE = (
    BadRequestError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    UnprocessableEntityError,
    BatchCreateRejectedError,
)


# ---- input preparation ----------------------------------------------------------------------


def _prepare_parts(
    input_path: str,
    work_dir: Path,
    *,
    endpoint: str,
    limits: BatchLimits,
    prices: PriceTable,
    max_cost_usd: float | None,
    aws_conn_id: str | None,
) -> list[InputPart]:
    """Fetch, validate, split and budget-check the input; returns parts ready to upload.

    Everything here happens before any upload: bad input or an exceeded budget costs nothing.

    :raises ValueError: (``InputValidationError``, ``BudgetExceededError``) the input is refused.
    :raises FileNotFoundError: no such local input.
    """
    check_endpoint(endpoint)
    local = fetch_to_local(input_path, work_dir / "fetched", aws_conn_id=aws_conn_id)
    ensure_valid(local, endpoint=endpoint, limits=limits, check_totals=False)
    check_budget(estimate_batch_cost(local, prices), max_cost_usd)
    return split_batch_file(local, work_dir / "parts", limits=limits)


# ---- operator ----------------------------------------------------------------------------------


class TogetherBatchOperator(BaseOperator):
    """Validate, split and submit a JSONL batch input, then wait for the batches.

    Retry safe: a retry, a worker crash or a clear re-attaches to the batches already created for
    the same input and task instance instead of paying again (see
    :mod:`airflow_provider_batch.idempotency`). Returns the
    :class:`~airflow_provider_batch.manifest.SubmitManifest` as a dict.

    :param input_path: local path or ``s3://`` URI of the JSONL input (templated).
    :param endpoint: batch endpoint (templated).
    :param together_conn_id: connection of type ``together``.
    :param deferrable: wait in the triggerer (default) instead of on the worker.
    :param wait_for_completion: ``False`` returns right after the batches are created.
    :param poll_interval: seconds between polls; default: connection extra, else 30.
    :param timeout: wall-clock limit anchored to the first submit (``None``: no limit).
    :param max_poll_failures: consecutive failed polling rounds tolerated.
    :param cancel_on_kill: cancel the batches when the task is killed (worker or deferred).
    :param cancel_on_timeout: cancel unfinished batches when ``timeout`` passes.
    :param limits: :class:`~airflow_provider_batch.inputs.limits.BatchLimits` for validation/splitting.
    :param max_cost_usd: refuse to submit when the worst-case estimate exceeds this.
    :param price_table: price overrides (mapping); default: connection extra, else built-in prices.
    :param metadata_manifest: sidecar location passed through to the manifest (templated).
    :param force_resubmit: replace an earlier FAILED/EXPIRED/CANCELLED batch instead of re-attaching.
    :param aws_conn_id: AWS connection used to fetch an ``s3://`` input.
    """

    template_fields: Sequence[str] = ("input_path", "endpoint", "metadata_manifest")
    operator_extra_links = (TogetherBatchLink(),)
    ui_color = "#0f6fff"

    def __init__(
        self,
        *,
        input_path: str,
        endpoint: str = CHAT_COMPLETIONS,
        together_conn_id: str = TogetherBatchHook.default_conn_name,
        deferrable: bool = True,
        wait_for_completion: bool = True,
        poll_interval: float | None = None,
        timeout: timedelta | float | None = DEFAULT_TIMEOUT,
        max_poll_failures: int = 5,
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = True,
        limits: BatchLimits | None = None,
        max_cost_usd: float | None = None,
        price_table: Mapping[str, Any] | None = None,
        metadata_manifest: str | None = None,
        force_resubmit: bool = False,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.input_path = input_path
        self.endpoint = endpoint
        self.together_conn_id = together_conn_id
        self.deferrable = deferrable
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timedelta(seconds=timeout) if isinstance(timeout, (int, float)) else timeout
        self.max_poll_failures = max_poll_failures
        self.cancel_on_kill = cancel_on_kill
        self.cancel_on_timeout = cancel_on_timeout
        self.limits = limits or BatchLimits()
        self.max_cost_usd = max_cost_usd
        self.price_table = dict(price_table) if price_table else None
        self.metadata_manifest = metadata_manifest
        self.force_resubmit = force_resubmit
        self.aws_conn_id = aws_conn_id
        self._waiting_on: list[str] = []

    # -- execute ----------------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        hook = TogetherBatchHook(self.together_conn_id)
        with tempfile.TemporaryDirectory(prefix="apb-submit-") as work_dir:
            parts = self._prepare(hook, Path(work_dir))
            with hook.get_conn() as client:
                outcomes = self._submit(client, parts, context)
                manifest = self._manifest(outcomes)
                batch_ids = [o.job.id for o in outcomes]
                push_batch_ids(context, batch_ids)
                for o in outcomes:
                    url = hook.console_url(o.job.id)
                    self.log.info("part %d -> batch %s: %s", o.part.index, o.job.id, url)
                context["ti"].xcom_push(key=XCOM_MANIFEST, value=manifest.to_xcom())
                if not self.wait_for_completion:
                    return manifest.to_xcom()
                deadline = self._deadline(manifest)
                poll_interval = self._poll_interval(hook)
                first = check_once(client, batch_ids, self.log)
                if first is not None:
                    return finish(context, first, manifest)
                if self.deferrable:
                    self._defer(batch_ids, manifest, deadline, poll_interval)
                return self._wait_here(context, client, batch_ids, manifest, deadline, poll_interval)

    def _prepare(self, hook: TogetherBatchHook, work_dir: Path) -> list[Any]:
        prices = PriceTable.from_mapping(self.price_table) if self.price_table else hook.price_table()
        try:
            return _prepare_parts(
                self.input_path,
                work_dir,
                endpoint=self.endpoint,
                limits=self.limits,
                prices=prices,
                max_cost_usd=self.max_cost_usd,
                aws_conn_id=self.aws_conn_id,
            )
        except (ValueError, FileNotFoundError) as exc:
            raise AirflowFailException(f"batch input refused before upload: {exc}") from exc

    def _submit(self, client: Any, parts: list[Any], context: Any) -> list[PartOutcome]:
        try:
            return submit_or_attach(
                client,
                parts,
                identity=TaskIdentity.from_context(context),
                ledger=SubmitLedger(context.get("task_state_store")),
                endpoint=self.endpoint,
                force_resubmit=self.force_resubmit,
            )
        except _NOT_RETRYABLE as exc:
            raise AirflowFailException(f"Together API refused the submission: {exc}") from exc

    def _manifest(self, outcomes: list[PartOutcome]) -> SubmitManifest:
        records = [
            record_from_state(
                BatchState.from_job(o.job),
                part=o.part.index,
                endpoint=self.endpoint,
                request_count=o.part.lines,
            )
            for o in outcomes
        ]
        created = [r.created_at for r in records if r.created_at is not None]
        return SubmitManifest(
            together_conn_id=self.together_conn_id,
            endpoint=self.endpoint,
            batches=records,
            metadata_manifest=self.metadata_manifest,
            input_path=str(self.input_path),
            submitted_at=min(created) if created else datetime.now(tz=timezone.utc),
        )

    def _deadline(self, manifest: SubmitManifest) -> float | None:
        if self.timeout is None:
            return None
        anchor = manifest.submitted_at or datetime.now(tz=timezone.utc)
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=timezone.utc)
        return anchor.timestamp() + self.timeout.total_seconds()

    def _poll_interval(self, hook: TogetherBatchHook) -> float:
        if self.poll_interval is not None:
            return float(self.poll_interval)
        return hook.poll_interval() or DEFAULT_POLL_INTERVAL

    def _defer(
        self, batch_ids: list[str], manifest: SubmitManifest, deadline: float | None, poll: float
    ) -> None:
        backstop = None
        if deadline is not None:
            backstop = timedelta(seconds=max(0.0, deadline - time.time()) + 2 * poll) + _DEFER_BACKSTOP
        warn_if_kill_cannot_cancel(self.log, cancel_on_kill=self.cancel_on_kill)
        self.defer(
            trigger=TogetherBatchTrigger(
                batch_ids=batch_ids,
                together_conn_id=self.together_conn_id,
                poll_interval=poll,
                deadline=deadline,
                max_poll_failures=self.max_poll_failures,
                cancel_on_kill=self.cancel_on_kill,
                cancel_on_timeout=self.cancel_on_timeout,
            ),
            method_name="execute_complete",
            kwargs={"manifest": manifest.to_xcom()},
            timeout=backstop,
        )

    def _wait_here(
        self, context: Any, client: Any, batch_ids: list[str], manifest: SubmitManifest,
        deadline: float | None, poll_interval: float,
    ) -> dict[str, Any]:
        self._waiting_on = list(batch_ids)
        try:
            event = wait_sync(
                client,
                batch_ids,
                poll_interval=poll_interval,
                deadline=deadline,
                max_poll_failures=self.max_poll_failures,
                cancel_on_timeout=self.cancel_on_timeout,
                logger=self.log,
            )
        finally:
            self._waiting_on = []
        return finish(context, event, manifest)

    # -- resume -----------------------------------------------------------------------------

    def execute_complete(
        self, context: Any, event: dict[str, Any] | None = None, manifest: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger fired; every id comes from ``event`` (this is a fresh instance)."""
        parsed = BatchEvent.from_payload(event)
        return finish(context, parsed, self._resume_manifest(context, manifest))

    def _resume_manifest(self, context: Any, manifest: dict[str, Any] | None) -> SubmitManifest:
        if manifest is None:
            # dag.test() and some 3.x versions drop defer kwargs; the pre-defer push survives.
            ti = context["ti"]
            manifest = ti.xcom_pull(task_ids=ti.task_id, key=XCOM_MANIFEST, map_indexes=ti.map_index)
        if isinstance(manifest, Mapping):
            return SubmitManifest.model_validate(manifest)
        return SubmitManifest(
            together_conn_id=self.together_conn_id,
            endpoint=self.endpoint,
            metadata_manifest=self.metadata_manifest,
            input_path=str(self.input_path),
        )

    def on_kill(self) -> None:
        """Cancel the batches this worker is waiting on (synchronous path) when asked to."""
        if not (self.cancel_on_kill and self._waiting_on):
            return
        with TogetherBatchHook(self.together_conn_id).get_conn() as client:
            cancel_sync(client, self._waiting_on, self.log)

