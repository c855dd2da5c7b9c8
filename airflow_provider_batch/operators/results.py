"""``TogetherBatchResultsOperator``: download, reconcile by custom_id, and load into tables."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseHook, BaseOperator

from airflow_provider_batch._poll_interval import check_poll_interval
from airflow_provider_batch._wrap import wrap
from airflow_provider_batch.core.figures import Figures
from airflow_provider_batch.core.status import ROW_STATUSES
from airflow_provider_batch.events import XCOM_MANIFEST, BatchEvent, EventStatus
from airflow_provider_batch.exceptions import TogetherBatchPartialFailureError, TogetherBatchPollingError
from airflow_provider_batch.hooks.ledger import get_ledger
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.manifest import BatchRecord, SubmitManifest
from airflow_provider_batch.operators._batch_common import defer_timeout, poll_once, wait_sync
from airflow_provider_batch.operators._empty import skip_if_upstream_skipped
from airflow_provider_batch.operators._follow_up import (
    DEFAULT_FOLLOW_UP_STATUSES,
    XCOM_FOLLOW_UP,
    RetryTap,
    Source,
    apply_round,
    can_follow_up,
    check_follow_up_args,
    merge_round,
    submit_round,
)
from airflow_provider_batch.operators._outcomes import (
    FailureTally,
    OutcomeTarget,
    record_answered,
    record_outcomes,
    record_statuses,
)
from airflow_provider_batch.operators._report import report_table
from airflow_provider_batch.operators._results_io import (
    check_load_mode_allowed,
    diagnostics,
    load_metadata,
    reconcile_job,
    recover_inputs,
    run_context,
)
from airflow_provider_batch.operators._spend import EarlierBatches, earlier_batches
from airflow_provider_batch.operators._state import FollowUpState, ResultManifest, merge_failures
from airflow_provider_batch.pricing import PriceTable
from airflow_provider_batch.results import LoadStats, RunContext, WarehouseLoader, check_table_names
from airflow_provider_batch.results.reconcile import BatchStream
from airflow_provider_batch.triggers.batch import TogetherBatchTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["BatchResultsOperator", "TogetherBatchResultsOperator", "results_asset"]

DEFAULT_RESULTS_TABLE = "together_batch_results"
DEFAULT_SUMMARY_TABLE = "together_batch_summary"
DEFAULT_POLL_INTERVAL = 30.0


def results_asset(warehouse_conn_id: str, results_table: str) -> Asset:
    """The Asset a results operator emits; downstream DAGs can schedule on it."""
    return Asset(
        name=f"together_batch_results/{warehouse_conn_id}/{results_table}",
        uri=f"together-results://{warehouse_conn_id}/{results_table}",
        group="together_batch",
    )


class TogetherBatchResultsOperator(BaseOperator):
    """Reconcile a finished batch's output and error files with its inputs and load warehouse tables.

    One row per input request lands in ``results_table`` with status ``succeeded``, ``failed``,
    ``missing``, ``expired`` or ``cancelled``; one row per batch lands in ``summary_table`` with
    counts, tokens and spend. Loads are one transaction and idempotent: re-running never
    duplicates a row.

    :param manifest: the submit operator's XCom manifest (``submit.output``). One of this,
        ``submit_task_id`` or ``batch_ids`` (checked in that order).
    :param batch_ids: ids of batches created elsewhere.
    :param submit_task_id: read the manifest the submit task pushed under XCom key ``manifest``
        (templated). That push happens even when submit fails with an expired or cancelled
        batch, so with ``trigger_rule="all_done"`` the finished requests are still collected.
    :param together_conn_id: Together connection.
    :param warehouse_conn_id: any common.sql connection (SQLite, PostgreSQL, ...).
    :param results_table: table for per-request rows (``schema.table`` allowed). Unsafe table
        names are refused when the operator is created, before any batch is paid for.
    :param summary_table: table for per-batch spend rows.
    :param metadata_manifest: sidecar of carried input columns; defaults to the manifest's.
    :param load_mode: ``merge`` (upsert this task instance's rows; rows of its other batches
        that the load answers again are marked ``superseded``) or ``replace_logical_date`` (the
        rows this task loaded for this logical date in any run, at any map index, are replaced,
        but never those of the other mapped shards of this run; for backfills). No mode touches
        another DAG's or task's rows, and spend rows are never deleted. ``replace_logical_date``
        is refused, before any download, in a run without a logical date.
    :param fail_on_partial_error: fail the task (after loading) when any request did not succeed.
    :param max_failed_fraction: fail the task (after loading) when more than this fraction of
        requests did not succeed; ``None`` disables the check.
    :param price_table: prices overriding the connection's and the defaults.
    :param allow_unfinished: load whatever exists for batches that are not terminal yet instead
        of failing.
    :param follow_up_rounds: after loading, re-send the requests that failed transiently as up to
        this many (at most 3) rounds of follow-up batches and merge their answers into the same
        rows; see :mod:`airflow_provider_batch.operators._follow_up` for the exact rule. Each
        follow-up batch is created retry-safely and gets its own spend-table row.
    :param follow_up_statuses: row statuses that are re-sent (``failed``, ``missing``, and on
        request ``expired``, ``cancelled``); failures with a permanent error code never are.
    :param deferrable: wait for follow-up batches in the triggerer (default) or on the worker.
    :param poll_interval: seconds between polls of follow-up batches; default: connection extra,
        else 30.
    :param follow_up_timeout: how long each follow-up batch may take, from its own creation.
    :param aws_conn_id: AWS connection used to read an ``s3://`` metadata sidecar.
    :param delete_input_files: once the results are loaded and the partial-failure policy passed,
        delete the input files this provider uploaded for these batches (and their follow-ups) from
        the Together account, best effort. Off by default: a later re-run of this task re-reads
        the inputs to name the requests that got no answer.
    """

    template_fields: Sequence[str] = ("manifest", "batch_ids", "submit_task_id", "metadata_manifest")
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        manifest: dict[str, Any] | str | None = None,
        batch_ids: list[str] | None = None,
        submit_task_id: str | None = None,
        together_conn_id: str = TogetherBatchHook.default_conn_name,
        warehouse_conn_id: str = "together_warehouse",
        results_table: str = DEFAULT_RESULTS_TABLE,
        summary_table: str = DEFAULT_SUMMARY_TABLE,
        metadata_manifest: str | None = None,
        load_mode: str = "merge",
        fail_on_partial_error: bool = False,
        max_failed_fraction: float | None = None,
        price_table: dict[str, Any] | None = None,
        allow_unfinished: bool = False,
        follow_up_rounds: int = 0,
        follow_up_statuses: Sequence[str] = DEFAULT_FOLLOW_UP_STATUSES,
        deferrable: bool = True,
        poll_interval: float | None = None,
        follow_up_timeout: timedelta | float = timedelta(hours=25),
        aws_conn_id: str | None = "aws_default",
        delete_input_files: bool = False,
        **kwargs: Any,
    ) -> None:
        if load_mode not in ("merge", "replace_logical_date"):
            raise ValueError(f"load_mode must be 'merge' or 'replace_logical_date', not {load_mode!r}")
        if max_failed_fraction is not None and not 0 <= max_failed_fraction <= 1:
            raise ValueError("max_failed_fraction must be between 0 and 1")
        check_table_names(results_table, summary_table)  # at parse time: before anything is paid for
        if "outlets" not in kwargs:
            kwargs["outlets"] = [results_asset(warehouse_conn_id, results_table)]
        super().__init__(**kwargs)
        self.manifest = manifest
        self.aws_conn_id = aws_conn_id
        self.batch_ids = batch_ids
        self.submit_task_id = submit_task_id
        self.together_conn_id = together_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.results_table = results_table
        self.summary_table = summary_table
        self.metadata_manifest = metadata_manifest
        self.load_mode = load_mode
        self.fail_on_partial_error = fail_on_partial_error
        self.max_failed_fraction = max_failed_fraction
        self.price_table = price_table
        self.allow_unfinished = allow_unfinished
        self.follow_up_statuses = check_follow_up_args(follow_up_rounds, follow_up_statuses)
        self.follow_up_rounds = follow_up_rounds
        self.deferrable = deferrable
        if poll_interval is not None:
            where = f"{type(self).__name__} {self.task_id!r}"
            poll_interval = check_poll_interval(poll_interval, name="poll_interval", where=where)
        self.poll_interval = poll_interval
        if not isinstance(follow_up_timeout, timedelta):
            follow_up_timeout = timedelta(seconds=follow_up_timeout)
        self.follow_up_timeout = follow_up_timeout
        self.delete_input_files = delete_input_files

    # -- execute ------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        check_load_mode_allowed(self.load_mode, context)  # before anything is downloaded
        hook = TogetherBatchHook(together_conn_id=self.together_conn_id)
        manifest = self._manifest(context)
        prices = self._prices(hook)
        run = run_context(context, expansion=self.load_mode == "replace_logical_date")
        with tempfile.TemporaryDirectory(prefix="together-results-") as tmp, hook.get_conn() as client:
            tmp_dir = Path(tmp)
            metadata = load_metadata(self._metadata_path(manifest.metadata_manifest, tmp_dir))
            streams, inputs = [], {}
            submitted = recover_inputs(client, manifest, tmp_dir, aws_conn_id=self.aws_conn_id)
            for part, record in enumerate(manifest.batches, start=1):
                job = client.batches.retrieve(record.batch_id)
                if manifest.owner is not None:  # the submit task's ledger knows this batch
                    record_statuses(manifest.ledger_conn_id, [(job.id, job.status.value, job.progress)])
                if not job.status.is_terminal and not self.allow_unfinished:
                    raise ValueError(
                        f"batch {job.id} is {job.status.value}; results can be loaded once it is terminal "
                        "(set allow_unfinished=True to load what exists now)"
                    )
                stream, files = reconcile_job(
                    client,
                    job,
                    tmp_dir / job.id,
                    metadata,
                    prices=prices,
                    endpoint=manifest.endpoint,
                    run=run,
                    local_input=submitted.get(job.id),
                )
                streams.append(stream)
                if can_follow_up(job.status.value) and files.input_path is not None:
                    inputs[job.id] = (part, files.input_path)
            loader = self._loader(metadata)
            earlier = earlier_batches(
                client, manifest, loader, run=run, prices=prices, work_dir=tmp_dir / "earlier"
            )
            tap = RetryTap(self.follow_up_statuses)
            target = self._outcome_target(manifest.ledger_conn_id)
            stats = self._load(loader, streams, earlier, run, tap, target.tally)
            record_outcomes(target, [s.summary for s in streams] + earlier.summaries, run)
            self._warn_unreadable(streams)
            result = self._result_manifest(streams, stats, earlier, target.tally)
            if self.follow_up_rounds and set(tap.by_batch) & set(inputs):
                sources = [Source(b, *inputs[b], carry) for b, carry in tap.by_batch.items() if b in inputs]
                chains = submit_round(
                    client, context, 1, sources, endpoint=manifest.endpoint, work_dir=tmp_dir,
                    ledger=get_ledger(manifest.ledger_conn_id), together_conn_id=self.together_conn_id,
                    vendor=hook.vendor, prices=self._prices(hook),
                )  # fmt: skip
                state = FollowUpState(
                    round=1,
                    result=result,
                    endpoint=manifest.endpoint,
                    metadata_manifest=self.metadata_manifest or manifest.metadata_manifest,
                    ledger_conn_id=manifest.ledger_conn_id,
                    chains=chains,
                )
                return self._await_follow_up(context, client, hook, state)
        return self._finish(context, result)

    # -- follow-up batches --------------------------------------------------------------------
    def _await_follow_up(
        self, context: Context, client: Any, hook: TogetherBatchHook, state: FollowUpState
    ) -> Any:
        batch_ids = [c.batch_id for c in state.chains]
        if not batch_ids:  # nothing left that could be re-sent
            return self._finish(context, state.result)
        payload = state.model_dump(mode="json")
        context["ti"].xcom_push(key=XCOM_FOLLOW_UP, value=payload)
        poll = float(self.poll_interval or hook.poll_interval() or DEFAULT_POLL_INTERVAL)
        # Each follow-up batch's own deadline: its created_at plus follow_up_timeout.
        timeout = self.follow_up_timeout.total_seconds()
        first = poll_once(client, batch_ids, self.log, timeout=timeout, cancel_on_timeout=True)
        event = first.event
        if event is None and self.deferrable:
            self.defer(
                trigger=TogetherBatchTrigger(
                    batch_ids=batch_ids, together_conn_id=self.together_conn_id, poll_interval=poll,
                    deadlines=first.deadlines,
                ),
                method_name="execute_follow_up",
                kwargs={"state": payload},
                timeout=defer_timeout(first.deadlines, batch_ids, poll),
            )  # fmt: skip
        if event is None:
            event = wait_sync(
                client, batch_ids, poll_interval=poll, deadlines=first.deadlines,
                max_poll_failures=5, cancel_on_timeout=True, logger=self.log,
            )  # fmt: skip
        return self._merge_follow_up(context, client, hook, event, state)

    def execute_follow_up(
        self, context: Context, event: dict[str, Any] | None = None, state: dict[str, Any] | None = None
    ) -> Any:
        """Resume after a follow-up round's trigger fired; everything comes from ``state`` (defer
        kwargs, else the XCom pushed before deferring), never from ``self``."""
        if state is None:
            ti = context["ti"]
            state = ti.xcom_pull(task_ids=ti.task_id, key=XCOM_FOLLOW_UP, map_indexes=ti.map_index)
        if not state:
            raise ValueError("resumed a follow-up round without its state (XCom 'follow_up' is gone)")
        hook = TogetherBatchHook(together_conn_id=self.together_conn_id)
        typed = FollowUpState.model_validate(state)
        with hook.get_conn() as client:
            return self._merge_follow_up(context, client, hook, BatchEvent.from_payload(event), typed)

    def _merge_follow_up(
        self, context: Context, client: Any, hook: TogetherBatchHook, event: BatchEvent, state: FollowUpState
    ) -> Any:
        if event.status is EventStatus.ERROR:
            raise TogetherBatchPollingError(
                f"waiting for follow-up batches stopped: {event.message}; a retry re-attaches to them",
                batch_ids=event.batch_ids,
            )
        round_no = state.round
        record_statuses(state.ledger_conn_id, ((b.batch_id, b.status, b.progress) for b in event.batches))
        with tempfile.TemporaryDirectory(prefix="together-follow-up-") as tmp:
            tmp_dir = Path(tmp)
            metadata = load_metadata(self._metadata_path(state.metadata_manifest, tmp_dir))
            run, target = run_context(context), self._outcome_target(state.ledger_conn_id)
            submitted = recover_inputs(client, self._manifest(context), tmp_dir, aws_conn_id=self.aws_conn_id)
            outcome = merge_round(
                client, state.chains, round_no, metadata=metadata, prices=self._prices(hook),
                run=run, loader=self._loader(metadata), work_dir=tmp_dir,
                statuses=self.follow_up_statuses, endpoint=state.endpoint, tally=target.tally,
                origins=submitted,
            )  # fmt: skip
            record_outcomes(target, outcome.summaries, run)
            record_answered(state.ledger_conn_id, outcome.answered)
            result = apply_round(state.result, outcome, round_no)
            self.log.info(
                "Follow-up round %d merged %d answer(s): %s", round_no, outcome.merged, result.counts
            )
            if outcome.sources and round_no < self.follow_up_rounds:
                chains = submit_round(
                    client, context, round_no + 1, outcome.sources,
                    endpoint=state.endpoint, work_dir=tmp_dir,
                    ledger=get_ledger(state.ledger_conn_id), together_conn_id=self.together_conn_id,
                    vendor=hook.vendor, prices=self._prices(hook),
                )  # fmt: skip
                following = state.model_copy(
                    update={"round": round_no + 1, "result": result, "chains": chains}
                )
                return self._await_follow_up(context, client, hook, following)
        return self._finish(context, result)

    def _finish(self, context: Context, result: ResultManifest) -> dict[str, Any]:
        self._emit_asset_event(context, result)
        self._log_summary(result)
        self._apply_policy(result)
        if self.delete_input_files:
            result = self._delete_inputs(context, result)
        return result.dump()

    def _delete_inputs(self, context: Context, result: ResultManifest) -> ResultManifest:
        """Delete the uploaded inputs of the finished batches this task loaded (best effort)."""
        hook = TogetherBatchHook(together_conn_id=self.together_conn_id)
        batch_ids = [r.batch_id for r in self._manifest(context).batches] + result.follow_up_batch_ids
        file_ids = []
        with hook.get_conn() as client:
            for batch_id in batch_ids:
                job = client.batches.retrieve(batch_id)
                if job.status.is_terminal and job.input_file_id:
                    file_ids.append(job.input_file_id)
                else:
                    self.log.info("batch %s is %s; its input file is kept", batch_id, job.status.value)
        report = hook.delete_files(file_ids)
        return result.model_copy(update={"deleted_input_files": len(report.deleted) + len(report.missing)})

    # -- helpers ------------------------------------------------------------------------------
    def _manifest(self, context: Context) -> SubmitManifest:
        if self.manifest:
            return SubmitManifest.model_validate(self.manifest)
        if self.submit_task_id:
            pushed = context["ti"].xcom_pull(task_ids=self.submit_task_id, key=XCOM_MANIFEST)
            if not pushed:
                skip_if_upstream_skipped(context, [self.submit_task_id])
                raise ValueError(
                    f"task {self.submit_task_id!r} pushed no manifest (it failed before submitting)"
                )
            return SubmitManifest.model_validate(pushed)
        if self.batch_ids:
            records = [BatchRecord(batch_id=b, status="UNKNOWN", input_file_id="") for b in self.batch_ids]
            return SubmitManifest(together_conn_id=self.together_conn_id, batches=records)
        skip_if_upstream_skipped(context, self.upstream_task_ids)
        raise ValueError("pass manifest (the submit operator's output), submit_task_id or batch_ids")

    def _prices(self, hook: TogetherBatchHook) -> PriceTable:
        return hook.price_table(self.price_table)

    def _metadata_path(self, sidecar: str | None, tmp_dir: Path) -> Path | None:
        location = self.metadata_manifest or sidecar
        if not location:
            return None
        from airflow_provider_batch.inputs.storage import fetch_to_local

        return fetch_to_local(location, tmp_dir, aws_conn_id=self.aws_conn_id)

    def _loader(self, metadata: dict[str, dict[str, Any]]) -> WarehouseLoader:
        hook = BaseHook.get_connection(self.warehouse_conn_id).get_hook()
        metadata_columns = sorted({col for meta in metadata.values() for col in meta})
        loader = WarehouseLoader(
            hook,
            results_table=self.results_table,
            summary_table=self.summary_table,
            metadata_columns=metadata_columns,
        )
        loader.ensure_tables()
        return loader

    def _outcome_target(self, ledger_conn_id: str | None) -> OutcomeTarget:
        return OutcomeTarget(ledger_conn_id, self.warehouse_conn_id, self.results_table, self.summary_table)

    def _load(
        self,
        loader: WarehouseLoader,
        streams: list[BatchStream],
        earlier: EarlierBatches,
        run: RunContext,
        tap: RetryTap,
        tally: FailureTally,
    ) -> LoadStats:
        """One transaction: this task instance's rows as each batch's lines are read, then the
        spend rows of its batches (complete once their rows are), and the spend rows of the
        submission's earlier batches (marked superseded)."""
        rows = tally.watch(tap.watch(itertools.chain.from_iterable(s.rows() for s in streams)))
        return loader.load(
            rows, lambda: [s.summary for s in streams] + earlier.summaries, mode=self.load_mode,
            logical_date=run.logical_date, run=run, superseded=earlier.superseded,
        )  # fmt: skip

    def _result_manifest(
        self, streams: list[BatchStream], stats: LoadStats, earlier: EarlierBatches, tally: FailureTally
    ) -> ResultManifest:
        summaries = [s.summary for s in streams]
        failures = merge_failures([], {}, [b for s in summaries for b in tally.buckets(s.batch_id)])
        return ResultManifest(
            batch_ids=[s.batch_id for s in summaries],
            final_statuses={s.batch_id: s.final_status for s in summaries},
            requests=sum(s.requests for s in summaries),
            counts={status: sum(getattr(s, status) for s in summaries) for status in ROW_STATUSES},
            **Figures.total(summaries).as_dict(),
            rows_loaded=stats.rows,
            rows_superseded=stats.superseded_rows,
            rows_replaced=stats.deleted_rows,
            superseded_batch_ids=sorted(earlier.superseded),
            results_table=self.results_table,
            summary_table=self.summary_table,
            warehouse_conn_id=self.warehouse_conn_id,
            diagnostics=diagnostics(streams),
            failures=failures,
        )

    def _warn_unreadable(self, streams: list[BatchStream]) -> None:
        for stream in streams:
            diag = stream.diagnostics
            if diag.invalid_lines:
                self.log.warning(
                    "%s",
                    wrap(
                        f"Batch {stream.batch_id}: {diag.invalid_lines} unreadable line(s), their requests "
                        f"are loaded as missing: {'; '.join(diag.invalid_samples[:5])}"
                    ),
                )

    def _emit_asset_event(self, context: Context, result: ResultManifest) -> None:
        data = result.dump()
        extra = {k: data[k] for k in ("requests", "counts", "total_tokens", "cost_usd_batch", "batch_ids")}
        for outlet in self.outlets or []:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = extra

    def _log_summary(self, result: ResultManifest) -> None:
        diag = result.diagnostics
        if diag.get("duplicate_ids") or diag.get("unknown_ids") or diag.get("invalid_lines"):
            self.log.warning(
                "%s",
                wrap(
                    f"Reconciliation found {diag['duplicate_ids']} duplicate and {diag['unknown_ids']} "
                    f"unknown custom_id(s) and {diag['invalid_lines']} unreadable line(s); examples: "
                    f"{diag['examples']}"
                ),
            )
        self.log.info(
            "Loaded %d requests from %d batch(es) into %s:\n%s",
            result.requests, len(result.batch_ids), self.results_table, report_table(result),
        )  # fmt: skip

    def _apply_policy(self, result: ResultManifest) -> None:
        requests = result.requests
        not_ok = requests - result.counts["succeeded"]
        fraction = not_ok / requests if requests else 0.0
        if self.fail_on_partial_error and not_ok:
            raise TogetherBatchPartialFailureError(
                f"{not_ok} of {requests} requests did not succeed; results were loaded, failing "
                "because fail_on_partial_error=True",
                result=result.dump(),
                failures=result.failures,
            )
        if self.max_failed_fraction is not None and fraction > self.max_failed_fraction:
            raise TogetherBatchPartialFailureError(
                f"{fraction:.2%} of requests did not succeed, above max_failed_fraction="
                f"{self.max_failed_fraction:.2%}; results were loaded",
                result=result.dump(),
                failures=result.failures,
            )


class BatchResultsOperator(TogetherBatchResultsOperator):
    """:class:`TogetherBatchResultsOperator` under its neutral name: the vendor comes from the
    connection's type.

    :param conn_id: the batch API connection; every other parameter is
        :class:`TogetherBatchResultsOperator`'s.
    """

    def __init__(self, *, conn_id: str = "batch_default", **kwargs: Any) -> None:
        super().__init__(together_conn_id=conn_id, **kwargs)
