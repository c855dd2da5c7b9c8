"""``TogetherBatchResultsOperator``: download, reconcile by custom_id, and load into tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator

from airflow_provider_batch._poll_interval import check_poll_interval
from airflow_provider_batch.collect.fetch import fetch_batches
from airflow_provider_batch.collect.follow_up import (
    DEFAULT_FOLLOW_UP_STATUSES,
    XCOM_FOLLOW_UP,
    Source,
    check_follow_up_args,
    next_round,
)
from airflow_provider_batch.collect.load import load_batches, load_round
from airflow_provider_batch.collect.plan import ResultsPlan, Session, check_load_mode_allowed
from airflow_provider_batch.collect.report import log_summary, report, report_round
from airflow_provider_batch.collect.state import FollowUpState, ResultManifest
from airflow_provider_batch.core.figures import CACHE_TOKEN_FIELDS
from airflow_provider_batch.events import XCOM_MANIFEST, BatchEvent
from airflow_provider_batch.exceptions import TogetherBatchPartialFailureError
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.manifest import BatchRecord, SubmitManifest
from airflow_provider_batch.operators._batch_common import (
    defer_timeout,
    poll_once,
    status_recorder,
    wait_sync,
)
from airflow_provider_batch.operators._empty import skip_if_upstream_skipped
from airflow_provider_batch.results import check_table_names
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
        rows; see :mod:`airflow_provider_batch.collect.follow_up` for the exact rule. Each
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
        """Plan, fetch, load, report; then follow up or finish (see :mod:`airflow_provider_batch.collect`)."""
        check_load_mode_allowed(self.load_mode, context)  # before anything is downloaded
        plan = ResultsPlan.resolve(self, context, self._manifest(context))
        with plan.session() as session:
            loaded = load_batches(session, fetch_batches(session))
            return self._follow_up_or_finish(context, session, 0, report(plan, loaded), loaded.sources)

    def execute_follow_up(
        self, context: Context, event: dict[str, Any] | None = None, state: dict[str, Any] | None = None
    ) -> Any:
        """Resume after a follow-up round's trigger fired; everything comes from ``state`` (defer
        kwargs, else the XCom pushed before deferring), never from ``self``. Re-enters at load."""
        resumed = self._resumed_state(context, state)
        plan = ResultsPlan.resolve(self, context, self._manifest(context), resumed=resumed)
        with plan.session() as session:
            merged = load_round(session, resumed, BatchEvent.from_payload(event))
            result = report_round(plan, resumed, merged)
            return self._follow_up_or_finish(context, session, resumed.round, result, merged.sources)

    def _follow_up_or_finish(
        self, context: Context, session: Session, done: int, result: ResultManifest, sources: list[Source]
    ) -> dict[str, Any]:
        """Run follow-up rounds while the plan allows one and a request can be re-sent: each is
        created, waited for (deferring, when deferrable: the resume re-enters at load) and merged;
        then finish."""
        while (state := next_round(session, done, result, sources)) is not None:
            merged = load_round(session, state, self._await_follow_up(context, session, state))
            done, result, sources = state.round, report_round(session.plan, state, merged), merged.sources
        return self._finish(context, session, result)

    # -- follow-up batches --------------------------------------------------------------------
    def _await_follow_up(self, context: Context, session: Session, state: FollowUpState) -> BatchEvent:
        """The event that ends the wait for round ``state``'s batches: at once when they are
        already done; else the task defers (and resumes in :meth:`execute_follow_up`), or, when
        not deferrable, waits on the worker."""
        batch_ids = [c.batch_id for c in state.chains]
        payload = state.model_dump(mode="json")
        context["ti"].xcom_push(key=XCOM_FOLLOW_UP, value=payload)
        poll = float(self.poll_interval or session.plan.hook.poll_interval() or DEFAULT_POLL_INTERVAL)
        # Each follow-up batch's own deadline: its created_at plus follow_up_timeout.
        timeout = self.follow_up_timeout.total_seconds()
        first = poll_once(session.client, batch_ids, self.log, timeout=timeout, cancel_on_timeout=True)
        if first.event is not None:
            return first.event
        if self.deferrable:
            self.defer(
                trigger=TogetherBatchTrigger(
                    batch_ids=batch_ids, together_conn_id=self.together_conn_id, poll_interval=poll,
                    deadlines=first.deadlines, record_status=True, ledger_conn_id=state.ledger_conn_id,
                ),
                method_name="execute_follow_up",
                kwargs={"state": payload},
                timeout=defer_timeout(first.deadlines, batch_ids, poll),
            )  # fmt: skip
        return wait_sync(
            session.client, batch_ids, poll_interval=poll, deadlines=first.deadlines,
            max_poll_failures=5, cancel_on_timeout=True, logger=self.log,
            on_changes=status_recorder(session.plan.ledger),
        )  # fmt: skip

    @staticmethod
    def _resumed_state(context: Context, state: dict[str, Any] | None) -> FollowUpState:
        if state is None:
            ti = context["ti"]
            state = ti.xcom_pull(task_ids=ti.task_id, key=XCOM_FOLLOW_UP, map_indexes=ti.map_index)
        if not state:
            raise ValueError("resumed a follow-up round without its state (XCom 'follow_up' is gone)")
        return FollowUpState.model_validate(state)

    # -- finish -------------------------------------------------------------------------------
    def _finish(self, context: Context, session: Session, result: ResultManifest) -> dict[str, Any]:
        self._emit_asset_event(context, result)
        log_summary(session.plan, result)
        self._apply_policy(result)
        if self.delete_input_files:
            result = self._delete_inputs(session, result)
        return result.dump()

    def _delete_inputs(self, session: Session, result: ResultManifest) -> ResultManifest:
        """Delete the uploaded inputs of the finished batches this task loaded (best effort); a
        batch this task already saw terminal is not asked for again."""
        batch_ids = [r.batch_id for r in session.plan.manifest.batches] + result.follow_up_batch_ids
        file_ids = []
        for batch_id in batch_ids:
            job = session.jobs.get(batch_id)
            if job is None or not job.status.is_terminal:
                job = session.retrieve(batch_id)
            if job.status.is_terminal and job.input_file_id:
                file_ids.append(job.input_file_id)
            else:
                self.log.info("batch %s is %s; its input file is kept", batch_id, job.status.value)
        cleanup = session.client.files.delete_many(file_ids)
        self.log.info(
            "Deleted %d file(s); %d already gone; %d could not be deleted",
            len(cleanup.deleted), len(cleanup.missing), len(cleanup.failed),
        )  # fmt: skip
        return result.model_copy(update={"deleted_input_files": len(cleanup.deleted) + len(cleanup.missing)})

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

    def _emit_asset_event(self, context: Context, result: ResultManifest) -> None:
        data = result.dump()
        fields = ("requests", "counts", "total_tokens", *CACHE_TOKEN_FIELDS, "cost_usd_batch", "batch_ids")
        extra = {k: data[k] for k in fields}
        for outlet in self.outlets or []:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = extra

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
