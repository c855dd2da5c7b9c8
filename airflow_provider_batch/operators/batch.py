"""Submit a JSONL input to Together's Batch API and wait for it without holding a worker slot."""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_batch._compat import AirflowFailException, warn_if_kill_cannot_cancel
from airflow_provider_batch._poll_interval import check_poll_interval
from airflow_provider_batch.client.errors import (
    AuthenticationError,
    BadRequestError,
    BatchCreateRejectedError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
)
from airflow_provider_batch.client.models import CHAT_COMPLETIONS
from airflow_provider_batch.core.identity import TaskIdentity
from airflow_provider_batch.events import XCOM_MANIFEST, BatchEvent, BatchState
from airflow_provider_batch.exceptions import TogetherLedgerUnavailableError
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.idempotency import PartOutcome, SubmitContext, ran_before, submit_or_attach
from airflow_provider_batch.inputs import (
    SUPPORTED_ENDPOINTS,
    BatchLimits,
    InputPart,
    check_budget_args,
    check_endpoint,
    fetch_to_local,
    prepare_input,
)
from airflow_provider_batch.ledger import LedgerConflictError, LedgerUnavailableError
from airflow_provider_batch.ledger.location import get_ledger
from airflow_provider_batch.links import (
    BatchConsoleLink,
    LLMBatchesPageLink,
    TogetherBatchesPageLink,
    TogetherBatchLink,
)
from airflow_provider_batch.manifest import SubmitManifest
from airflow_provider_batch.operators._batch_common import (
    cancel_sync,
    check_once,
    defer_timeout,
    finish,
    push_batch_ids,
    record_from_state,
    status_recorder,
    wait_sync,
)
from airflow_provider_batch.operators._empty import check_on_empty, on_empty_input
from airflow_provider_batch.pricing import PriceTable
from airflow_provider_batch.triggers._polling import epoch_seconds
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger

__all__ = ["BatchOperator", "TogetherBatchOperator", "DEFAULT_TIMEOUT", "DEFAULT_POLL_INTERVAL"]

#: Together's completion window is 24 h; jobs may still finish a little later.
DEFAULT_TIMEOUT = timedelta(hours=25)
DEFAULT_POLL_INTERVAL = 30.0

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
    assumed_max_tokens: int | None = None,
    on_empty: str = "fail",
    allow_unpriced: bool = False,
    endpoints: Collection[str] = SUPPORTED_ENDPOINTS,
) -> list[InputPart]:
    """Fetch the input, then validate, budget-check and split it in one read; returns parts ready to upload.

    Everything here happens before any upload: bad input or an exceeded budget costs nothing.

    :raises ValueError: (``InputValidationError``, ``BudgetExceededError``, ``EmptyInputError``)
        the input is refused.
    :raises AirflowSkipException: an empty input with ``on_empty="skip"``.
    :raises FileNotFoundError: no such local input.
    """
    check_endpoint(endpoint, endpoints)
    check_budget_args(max_cost_usd, assumed_max_tokens, endpoint)
    local = fetch_to_local(input_path, work_dir / "fetched", aws_conn_id=aws_conn_id)
    if local.stat().st_size == 0:
        on_empty_input(on_empty, f"batch input {input_path} is empty")
    prepared = prepare_input(
        local,
        work_dir / "parts",
        endpoint=endpoint,
        limits=limits,
        prices=prices,
        max_cost_usd=max_cost_usd,
        assumed_max_tokens=assumed_max_tokens,
        allow_unpriced=allow_unpriced,
        endpoints=endpoints,
    )
    return prepared.parts


def _refuse_unloadable_run(task: BaseOperator, context: Any) -> None:
    """A run without a logical date cannot be loaded with ``replace_logical_date``: say so before paying."""
    if context.get("logical_date") is not None:
        return
    from airflow_provider_batch.collect.plan import check_load_mode_allowed
    from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

    try:
        downstream = task.get_flat_relatives(upstream=False)
    except Exception:  # a task outside a DAG has no downstream to check
        return
    for other in downstream:
        if isinstance(other, TogetherBatchResultsOperator):
            check_load_mode_allowed(other.load_mode, context, task_id=other.task_id, before="any upload")


def _preflight_results(task: TogetherBatchOperator) -> None:
    """Every results target this submission loads into can take the rows: checked before paying."""
    from airflow_provider_batch.warehouse.preflight import (
        ResultsTarget,
        check_results_target,
        downstream_targets,
    )

    targets = downstream_targets(task) if task.preflight_results else []
    if task.results_conn_id is not None:
        targets.append(ResultsTarget(task.results_conn_id, task.results_table, task.summary_table))
    for target in dict.fromkeys(targets):
        check_results_target(target)


# ---- operator ----------------------------------------------------------------------------------


class TogetherBatchOperator(BaseOperator):
    """Validate, split and submit a JSONL batch input, then wait for the batches.

    Retry safe: a retry, a worker crash or a clear re-attaches to the batches already created for
    the same input and task instance instead of paying again, and never to another task
    instance's batches (see :mod:`airflow_provider_batch.idempotency` and the submission ledger,
    :mod:`airflow_provider_batch.ledger`). Returns the
    :class:`~airflow_provider_batch.manifest.SubmitManifest` as a dict.

    :param input_path: local path or ``s3://`` URI of the JSONL input (templated).
    :param endpoint: batch endpoint (templated); default: the connection's vendor's first
        (chat completions on Together and OpenAI, ``/v1/messages`` on Anthropic).
    :param together_conn_id: connection of type ``together``.
    :param deferrable: wait in the triggerer (default) instead of on the worker.
    :param wait_for_completion: ``False`` returns right after the batches are created.
    :param poll_interval: seconds between polls; default: connection extra, else 30.
    :param timeout: wall-clock limit of each batch, from its own creation (``None``: no limit).
    :param max_poll_failures: consecutive failed polling rounds tolerated.
    :param cancel_on_kill: cancel the batches when the task is killed (worker or deferred).
    :param cancel_on_timeout: cancel a batch still running when its ``timeout`` passes.
    :param limits: :class:`~airflow_provider_batch.inputs.limits.BatchLimits` for validation/splitting.
    :param max_cost_usd: refuse to submit when the worst-case estimate exceeds this, or cannot be
        bounded (a request without ``max_tokens``; any audio batch, which is not budget-checked).
    :param price_table: price overrides (mapping); default: connection extra, else built-in prices.
    :param metadata_manifest: sidecar location passed through to the manifest (templated).
    :param force_resubmit: replace an earlier FAILED/EXPIRED/CANCELLED batch instead of re-attaching.
    :param aws_conn_id: AWS connection used to fetch an ``s3://`` input.
    :param ledger_conn_id: DB-API connection of the submission ledger; default: the Airflow
        option ``[together_batch] ledger_conn_id``, else an SQLite file under ``AIRFLOW_HOME``
        (refused under a distributed executor).
    :param assumed_max_tokens: completion tokens the budget guard assumes for a request without
        ``max_tokens`` (an assumption, not a cap the API enforces); without it such a request is
        refused when ``max_cost_usd`` is set.
    :param allow_unpriced: with ``max_cost_usd``, let requests for a model the price table has no
        price for through, and check the limit against the priced requests only (their cost is
        not bounded); without it such a model is refused.
    :param on_empty: an input file with no requests fails the task (``"fail"``, the default: here
        it usually means a broken upstream) or skips it (``"skip"``). Nothing is uploaded.
    :param preflight_results: before any upload, check that the warehouse of every downstream
        results operator can take the rows (hook installed, driver present, tables creatable and
        writable; see :mod:`airflow_provider_batch.warehouse.preflight`). ``False`` skips that,
        e.g. when only the results task's workers can reach the warehouse.
    :param results_conn_id: also check this results target (a results task in another DAG, or one
        whose connection is mapped); with ``results_table`` and ``summary_table``.
    :param results_table: the results table of ``results_conn_id``.
    :param summary_table: the spend table of ``results_conn_id``.
    """

    template_fields: Sequence[str] = ("input_path", "endpoint", "metadata_manifest")
    operator_extra_links = (TogetherBatchLink(), TogetherBatchesPageLink())
    ui_color = "#0f6fff"

    def __init__(
        self,
        *,
        input_path: str,
        endpoint: str | None = None,
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
        ledger_conn_id: str | None = None,
        assumed_max_tokens: int | None = None,
        on_empty: str = "fail",
        allow_unpriced: bool = False,
        preflight_results: bool = True,
        results_conn_id: str | None = None,
        results_table: str = "together_batch_results",
        summary_table: str = "together_batch_summary",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.preflight_results = preflight_results
        self.results_conn_id = results_conn_id
        if results_conn_id is not None:
            from airflow_provider_batch.results.warehouse import check_table_names

            check_table_names(results_table, summary_table)  # at parse time
        self.results_table = results_table
        self.summary_table = summary_table
        # Refused where the DAG is parsed, before any run could pay for a batch.
        check_budget_args(max_cost_usd, assumed_max_tokens, endpoint or CHAT_COMPLETIONS)
        self.assumed_max_tokens = assumed_max_tokens
        self.allow_unpriced = allow_unpriced
        self.on_empty = check_on_empty(on_empty)
        self.input_path = input_path
        #: Empty until the connection's vendor is known, when none was given.
        self.endpoint: str = endpoint or ""
        self.together_conn_id = together_conn_id
        self.deferrable = deferrable
        self.wait_for_completion = wait_for_completion
        if poll_interval is not None:
            where = f"{type(self).__name__} {self.task_id!r}"
            poll_interval = check_poll_interval(poll_interval, name="poll_interval", where=where)
        self.poll_interval = poll_interval
        self.timeout = timedelta(seconds=timeout) if isinstance(timeout, (int, float)) else timeout
        self.max_poll_failures = max_poll_failures
        self.cancel_on_kill = cancel_on_kill
        self.cancel_on_timeout = cancel_on_timeout
        #: ``None``: the connection's vendor's limits, with its ``limits`` extra (see the hook).
        self.limits = limits
        self.max_cost_usd = max_cost_usd
        self.price_table = dict(price_table) if price_table else None
        self.metadata_manifest = metadata_manifest
        self.force_resubmit = force_resubmit
        self.aws_conn_id = aws_conn_id
        self.ledger_conn_id = ledger_conn_id
        self._waiting_on: list[str] = []

    # -- execute ----------------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        _refuse_unloadable_run(self, context)
        _preflight_results(self)
        hook = TogetherBatchHook(self.together_conn_id)
        ledger = self._ledger()
        with tempfile.TemporaryDirectory(prefix="apb-submit-") as work_dir:
            parts = self._prepare(hook, Path(work_dir))
            with hook.get_conn() as client:
                outcomes = self._submit(client, hook, parts, context, ledger)
                manifest = self._manifest(outcomes, context)
                batch_ids = [o.job.id for o in outcomes]
                if not self.wait_for_completion:
                    return manifest.to_xcom()
                deadline = self._deadline(manifest)
                poll_interval = self._poll_interval(hook)
                first = check_once(
                    client, batch_ids, self.log, deadlines=deadline, cancel_on_timeout=self.cancel_on_timeout
                )
                if first is not None:
                    return finish(context, first, manifest)
                if self.deferrable:
                    self._defer(batch_ids, manifest, deadline, poll_interval)
                return self._wait_here(context, client, batch_ids, manifest, deadline, poll_interval)

    def _ledger(self) -> Any:
        """The submission ledger, checked reachable before anything is uploaded."""
        try:
            ledger = get_ledger(self.ledger_conn_id)
            ledger.ensure()
        except LedgerUnavailableError as exc:
            raise TogetherLedgerUnavailableError(str(exc)) from exc
        return ledger

    def _prepare(self, hook: TogetherBatchHook, work_dir: Path) -> list[Any]:
        self._poll_interval(hook)  # a bad poll_interval extra is refused before any upload
        if not self.endpoint:
            self.endpoint = hook.vendor.endpoints[0]
        try:
            hook.vendor.check_endpoint(self.endpoint)
            prices = hook.price_table(self.price_table)
            return _prepare_parts(
                self.input_path,
                work_dir,
                endpoint=self.endpoint,
                limits=self.limits or hook.batch_limits(),
                prices=prices,
                max_cost_usd=self.max_cost_usd,
                aws_conn_id=self.aws_conn_id,
                assumed_max_tokens=self.assumed_max_tokens,
                on_empty=self.on_empty,
                allow_unpriced=self.allow_unpriced,
                endpoints=hook.vendor.endpoints,
            )
        except (ValueError, FileNotFoundError) as exc:
            raise AirflowFailException(f"batch input refused before upload: {exc}") from exc

    def _submit(
        self, client: Any, hook: TogetherBatchHook, parts: list[Any], context: Any, ledger: Any
    ) -> list[PartOutcome]:
        bound: list[PartOutcome] = []

        def publish(outcome: PartOutcome) -> None:
            # Part by part: if a later part fails, the batches already paid for are still named.
            bound.append(outcome)
            self.log.info("part %d -> batch %s: %s", outcome.part.index, outcome.job.id,
                          hook.console_url(outcome.job.id))  # fmt: skip
            push_batch_ids(context, [o.job.id for o in bound])
            context["ti"].xcom_push(key=XCOM_MANIFEST, value=self._manifest(bound, context).to_xcom())

        ctx = SubmitContext(
            identity=TaskIdentity.from_context(context),
            ledger=ledger,
            endpoint=self.endpoint,
            together_conn_id=self.together_conn_id,
            logical_date=context.get("logical_date"),
            legacy_store=context.get("task_state_store"),
            earlier_tries=ran_before(context),
            vendor=hook.vendor,
        )
        try:
            return submit_or_attach(client, parts, ctx, force_resubmit=self.force_resubmit, on_bound=publish)
        except _NOT_RETRYABLE as exc:
            vendor = hook.vendor.display_name
            raise AirflowFailException(f"{vendor} API refused the submission: {exc}") from exc
        except LedgerConflictError as exc:
            raise AirflowFailException(f"batch ownership cannot be established: {exc}") from exc
        except LedgerUnavailableError as exc:
            raise TogetherLedgerUnavailableError(str(exc)) from exc

    def _manifest(self, outcomes: Sequence[PartOutcome], context: Any) -> SubmitManifest:
        records = [
            record_from_state(
                BatchState.from_job(o.job),
                part=o.part.index,
                endpoint=self.endpoint,
                request_count=o.part.lines,
            ).model_copy(update={"input_span": getattr(o.part, "span", None), "input_sha256": o.part.sha256})
            for o in outcomes
        ]
        created = [r.created_at for r in records if r.created_at is not None]
        identity = TaskIdentity.from_context(context)
        return SubmitManifest(
            together_conn_id=self.together_conn_id,
            endpoint=self.endpoint,
            batches=records,
            metadata_manifest=self.metadata_manifest,
            input_path=str(self.input_path),
            submitted_at=min(created) if created else datetime.now(tz=timezone.utc),
            owner=identity,
            ledger_conn_id=self.ledger_conn_id,
        )

    def _deadline(self, manifest: SubmitManifest) -> dict[str, float] | None:
        """Each batch's own deadline: its ``created_at`` (as the API reported it) plus ``timeout``.

        A re-attached batch keeps the deadline of its creation and a batch created by this try
        gets a full ``timeout``, so one part from an earlier try never shortens another's wait.
        ``None`` when there is no ``timeout``.
        """
        if self.timeout is None:
            return None
        now = datetime.now(tz=timezone.utc)
        seconds = self.timeout.total_seconds()
        return {r.batch_id: epoch_seconds(r.created_at or now) + seconds for r in manifest.batches}

    def _poll_interval(self, hook: TogetherBatchHook) -> float:
        if self.poll_interval is not None:
            return float(self.poll_interval)
        return hook.poll_interval() or DEFAULT_POLL_INTERVAL

    def _defer(
        self, batch_ids: list[str], manifest: SubmitManifest, deadlines: dict[str, float] | None, poll: float
    ) -> None:
        warn_if_kill_cannot_cancel(self.log, cancel_on_kill=self.cancel_on_kill)
        self.defer(
            trigger=TogetherBatchTrigger(
                batch_ids=batch_ids,
                together_conn_id=self.together_conn_id,
                poll_interval=poll,
                deadlines=deadlines,
                max_poll_failures=self.max_poll_failures,
                cancel_on_kill=self.cancel_on_kill,
                cancel_on_timeout=self.cancel_on_timeout,
                # The submit task's batches are in its ledger: the page shows what the trigger sees.
                record_status=manifest.owner is not None,
                ledger_conn_id=manifest.ledger_conn_id,
            ),
            method_name="execute_complete",
            kwargs={"manifest": manifest.to_xcom()},
            timeout=defer_timeout(deadlines, batch_ids, poll),
        )

    def _wait_here(
        self,
        context: Any,
        client: Any,
        batch_ids: list[str],
        manifest: SubmitManifest,
        deadlines: dict[str, float] | None,
        poll_interval: float,
    ) -> dict[str, Any]:
        self._waiting_on = list(batch_ids)
        try:
            event = wait_sync(
                client,
                batch_ids,
                poll_interval=poll_interval,
                deadlines=deadlines,
                max_poll_failures=self.max_poll_failures,
                cancel_on_timeout=self.cancel_on_timeout,
                logger=self.log,
                on_changes=status_recorder(manifest.ledger_conn_id) if manifest.owner is not None else None,
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
            endpoint=self.endpoint or CHAT_COMPLETIONS,
            metadata_manifest=self.metadata_manifest,
            input_path=str(self.input_path),
        )

    def on_kill(self) -> None:
        """Cancel the batches this worker is waiting on (synchronous path) when asked to."""
        if not (self.cancel_on_kill and self._waiting_on):
            return
        with TogetherBatchHook(self.together_conn_id).get_conn() as client:
            cancel_sync(client, self._waiting_on, self.log)


class BatchOperator(TogetherBatchOperator):
    """:class:`TogetherBatchOperator` under its neutral name: the vendor comes from the connection's
    type (``together``, ``openai``; see :mod:`airflow_provider_batch.vendors`).

    :param conn_id: the batch API connection; every other parameter is
        :class:`TogetherBatchOperator`'s.
    """

    operator_extra_links = (BatchConsoleLink(), LLMBatchesPageLink())

    def __init__(self, *, conn_id: str = "batch_default", **kwargs: Any) -> None:
        super().__init__(together_conn_id=conn_id, **kwargs)
