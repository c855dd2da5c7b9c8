"""Step 4 of the results task: report what a load wrote.

:func:`report` turns the first load into the task's :class:`~.state.ResultManifest` (its XCom
value), :func:`report_round` adds a follow-up round to it, and :func:`log_summary` ends the task's
log with :func:`report_table`: counts, failures by code, tokens, spend and where the rows went.
"""

from __future__ import annotations

from airflow_provider_batch._wrap import wrap
from airflow_provider_batch.collect.files import diagnostics
from airflow_provider_batch.collect.follow_up import RoundOutcome, apply_round
from airflow_provider_batch.collect.load import Loaded
from airflow_provider_batch.collect.plan import ResultsPlan
from airflow_provider_batch.collect.state import FollowUpState, ResultManifest, merge_failures
from airflow_provider_batch.collect.table import report_table
from airflow_provider_batch.core.figures import Figures
from airflow_provider_batch.core.status import ROW_STATUSES

__all__ = ["log_summary", "report", "report_round", "report_table"]


def report(plan: ResultsPlan, loaded: Loaded) -> ResultManifest:
    """The result of the first load; warns about each batch's unreadable lines."""
    for stream in loaded.streams:
        diag = stream.diagnostics
        if diag.invalid_lines:
            plan.log.warning(
                "%s",
                wrap(
                    f"Batch {stream.batch_id}: {diag.invalid_lines} unreadable line(s), their requests "
                    f"are loaded as missing: {'; '.join(diag.invalid_samples[:5])}"
                ),
            )
    summaries = [s.summary for s in loaded.streams]
    failures = merge_failures([], {}, [b for s in summaries for b in loaded.tally.buckets(s.batch_id)])
    targets, stats = plan.targets, loaded.stats
    return ResultManifest(
        batch_ids=[s.batch_id for s in summaries],
        final_statuses={s.batch_id: s.final_status for s in summaries},
        requests=sum(s.requests for s in summaries),
        counts={status: sum(getattr(s, status) for s in summaries) for status in ROW_STATUSES},
        **Figures.total(summaries).as_dict(),
        rows_loaded=stats.rows,
        rows_superseded=stats.superseded_rows,
        rows_replaced=stats.deleted_rows,
        superseded_batch_ids=sorted(loaded.earlier.superseded),
        results_table=targets.results_table,
        summary_table=targets.summary_table,
        warehouse_conn_id=targets.warehouse_conn_id,
        diagnostics=diagnostics(loaded.streams),
        failures=failures,
    )


def report_round(plan: ResultsPlan, state: FollowUpState, outcome: RoundOutcome) -> ResultManifest:
    """The result after the follow-up round ``state``: final counts and failures, its batches and
    their spend."""
    result = apply_round(state.result, outcome, state.round)
    plan.log.info("Follow-up round %d merged %d answer(s): %s", state.round, outcome.merged, result.counts)
    return result


def log_summary(plan: ResultsPlan, result: ResultManifest) -> None:
    """Warn about duplicate, unknown and unreadable lines, then log :func:`report_table`."""
    diag = result.diagnostics
    if diag.get("duplicate_ids") or diag.get("unknown_ids") or diag.get("invalid_lines"):
        plan.log.warning(
            "%s",
            wrap(
                f"Reconciliation found {diag['duplicate_ids']} duplicate and {diag['unknown_ids']} "
                f"unknown custom_id(s) and {diag['invalid_lines']} unreadable line(s); examples: "
                f"{diag['examples']}"
            ),
        )
    plan.log.info(
        "Loaded %d requests from %d batch(es) into %s:\n%s",
        result.requests, len(result.batch_ids), plan.targets.results_table, report_table(result),
    )  # fmt: skip
