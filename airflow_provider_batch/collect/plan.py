"""Step 1 of the results task: its plan, resolved once before anything is downloaded.

A :class:`ResultsPlan` is everything the later steps read: the submission (its manifest), whose
rows these are (the run), the vendor and its prices, the tables the rows go to, the follow-up
policy and one handle on the submission ledger. :meth:`ResultsPlan.session` then opens the one
vendor client and the one work directory that the whole task uses (:class:`Session`).

The decisions a plan makes before any I/O (``replace_logical_date`` needs a logical date) live
here too, so the operator's ``execute`` reads as its steps: plan, fetch, load, report, then follow
up or finish.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_batch.client import BatchJob
from airflow_provider_batch.collect._ledger import LedgerHandle
from airflow_provider_batch.collect.files import load_metadata, recover_inputs
from airflow_provider_batch.collect.outcomes import OutcomeTarget
from airflow_provider_batch.collect.state import FollowUpState
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.manifest import SubmitManifest
from airflow_provider_batch.pricing import PriceTable
from airflow_provider_batch.results import RunContext, WarehouseLoader
from airflow_provider_batch.results.warehouse import LoadMode
from airflow_provider_batch.vendors.base import BatchVendor

__all__ = [
    "FollowUpPolicy",
    "ResultsPlan",
    "ResultsTask",
    "Session",
    "Targets",
    "TaskLog",
    "check_load_mode_allowed",
    "current_map_indexes",
    "run_context",
]

log = logging.getLogger(__name__)


class TaskLog(Protocol):
    """The task's logger, as the steps use it (the operator's ``log``)."""

    def info(self, msg: str, /, *args: Any) -> Any: ...

    def warning(self, msg: str, /, *args: Any) -> Any: ...


class ResultsTask(Protocol):
    """What a plan reads from the results operator (its parameters)."""

    together_conn_id: str
    warehouse_conn_id: str
    results_table: str
    summary_table: str
    metadata_manifest: str | None
    load_mode: str
    price_table: dict[str, Any] | None
    allow_unfinished: bool
    follow_up_rounds: int
    follow_up_statuses: tuple[str, ...]
    aws_conn_id: str | None

    @property
    def log(self) -> TaskLog: ...


@dataclass(frozen=True)
class Targets:
    """Where the rows go: the warehouse connection, both tables and the load mode."""

    warehouse_conn_id: str
    results_table: str
    summary_table: str
    load_mode: LoadMode = "merge"


@dataclass(frozen=True)
class FollowUpPolicy:
    """How many follow-up rounds a task may run, and which row statuses they re-send."""

    rounds: int = 0
    statuses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResultsPlan:
    """Everything the results task's steps read, resolved once (see the module docstring).

    A plan is made at the start of ``execute`` and again when a follow-up round resumes; a
    resumed plan reads the submission's endpoint, sidecar and ledger from the round's typed
    state, never from the operator's attributes.
    """

    context: Any
    manifest: SubmitManifest
    #: the task instance that owns the loaded rows (with its map indexes in replace mode)
    run: RunContext
    hook: TogetherBatchHook
    vendor: BatchVendor
    prices: PriceTable
    targets: Targets
    follow_up: FollowUpPolicy
    ledger: LedgerHandle
    endpoint: str
    #: the sidecar of carried input columns: the operator's ``metadata_manifest``, else the submit's
    metadata_location: str | None
    allow_unfinished: bool = False
    aws_conn_id: str | None = None
    log: TaskLog = field(default=log, repr=False)

    @classmethod
    def resolve(
        cls,
        task: ResultsTask,
        context: Any,
        manifest: SubmitManifest,
        *,
        resumed: FollowUpState | None = None,
    ) -> ResultsPlan:
        """The plan of ``task`` for the submission ``manifest``; builds the task's one hook.

        :param resumed: the follow-up round being resumed, whose state names the endpoint, the
            sidecar and the ledger.
        """
        hook = TogetherBatchHook(together_conn_id=task.together_conn_id)
        mode: LoadMode = "replace_logical_date" if task.load_mode == "replace_logical_date" else "merge"
        source = resumed or manifest
        return cls(
            context=context,
            manifest=manifest,
            run=run_context(context, expansion=mode == "replace_logical_date" and resumed is None),
            hook=hook,
            vendor=hook.vendor,
            prices=hook.price_table(task.price_table),
            targets=Targets(task.warehouse_conn_id, task.results_table, task.summary_table, mode),
            follow_up=FollowUpPolicy(task.follow_up_rounds, tuple(task.follow_up_statuses)),
            ledger=LedgerHandle(source.ledger_conn_id),
            endpoint=source.endpoint or manifest.endpoint,
            metadata_location=task.metadata_manifest or source.metadata_manifest,
            allow_unfinished=task.allow_unfinished,
            aws_conn_id=task.aws_conn_id,
            log=task.log,
        )

    def outcome_target(self) -> OutcomeTarget:
        """Where one load's batch outcomes are recorded, with a fresh failure tally."""
        t = self.targets
        return OutcomeTarget(self.ledger, t.warehouse_conn_id, t.results_table, t.summary_table)

    def round_run(self) -> RunContext:
        """The owner of a follow-up round's rows, stamped now (rounds always merge)."""
        return run_context(self.context)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """The task's one vendor client and one work directory, closed and removed on exit."""
        with tempfile.TemporaryDirectory(prefix="batch-results-") as tmp, self.hook.get_conn() as client:
            yield Session(self, client, Path(tmp))


class Session:
    """One vendor client and one work directory for the whole task, and what they found once:
    the sidecar's metadata, the submit's re-read inputs, the warehouse loader and every batch
    retrieved (so nothing is asked of the API or the warehouse twice)."""

    def __init__(self, plan: ResultsPlan, client: Any, work_dir: Path) -> None:
        self.plan = plan
        self.client = client
        self.work_dir = work_dir
        #: batch id -> the batch as last retrieved by this task
        self.jobs: dict[str, BatchJob] = {}

    def retrieve(self, batch_id: str) -> BatchJob:
        """The batch now, from the API; kept in :attr:`jobs`."""
        job: BatchJob = self.client.batches.retrieve(batch_id)
        self.jobs[batch_id] = job
        return job

    @cached_property
    def metadata(self) -> dict[str, dict[str, Any]]:
        """``custom_id`` -> the carried input columns of the plan's sidecar (empty without one)."""
        location = self.plan.metadata_location
        if not location:
            return {}
        from airflow_provider_batch.inputs.storage import fetch_to_local

        return load_metadata(fetch_to_local(location, self.work_dir, aws_conn_id=self.plan.aws_conn_id))

    @cached_property
    def submitted(self) -> Mapping[str, Path]:
        """Batch id -> its requests re-read from the submit's input (a vendor whose input files
        cannot be downloaded; see :func:`~.files.recover_inputs`)."""
        plan = self.plan
        return recover_inputs(
            self.client, plan.manifest, self.work_dir, aws_conn_id=plan.aws_conn_id, vendor=plan.vendor
        )

    @cached_property
    def loader(self) -> WarehouseLoader:
        """The warehouse loader of the plan's tables, with one column per carried metadata field;
        its tables are created on first use."""
        from airflow.sdk import BaseHook

        from airflow_provider_batch.warehouse.dialects import warehouse_hook

        targets = self.plan.targets
        loader = WarehouseLoader(
            warehouse_hook(BaseHook.get_connection(targets.warehouse_conn_id)),
            results_table=targets.results_table,
            summary_table=targets.summary_table,
            metadata_columns=sorted({col for meta in self.metadata.values() for col in meta}),
        )
        loader.ensure_tables()
        return loader


def run_context(context: Any, *, expansion: bool = False) -> RunContext:
    """The task instance that owns the loaded rows (dag, task, run, map index) and its logical
    date, with ``loaded_at`` = now; with ``expansion``, also the map indexes the task has in this
    run now (for replace mode: what an earlier, wider expansion left behind is replaced)."""
    dag = context.get("dag")
    ti = context.get("ti")
    map_index = getattr(ti, "map_index", None)
    run = RunContext(
        dag_id=dag.dag_id if dag is not None else getattr(ti, "dag_id", None),
        run_id=context.get("run_id"),
        logical_date=context.get("logical_date"),
        loaded_at=datetime.now(timezone.utc),
        task_id=getattr(ti, "task_id", None),
        map_index=-1 if map_index is None else int(map_index),
    )
    return run._replace(map_indexes=current_map_indexes(ti, run)) if expansion else run


def current_map_indexes(ti: Any, run: RunContext) -> tuple[int, ...] | None:
    """The map indexes of ``run``'s task in its run, but those Airflow marked ``removed`` (an
    expansion that shrank); ``(-1,)`` for an unmapped task; ``None`` when Airflow cannot say."""
    if run.map_index is None or run.map_index < 0:
        return (-1,)
    try:
        states = ti.get_task_states(dag_id=run.dag_id, task_ids=[run.task_id], run_ids=[run.run_id])
    except Exception as exc:  # an Airflow without the call, or the API unreachable: keep to the owner
        log.info("could not read the map indexes of %s in %s (%s)", run.task_id, run.run_id, exc)
        return None
    found = {run.map_index}
    prefix = f"{run.task_id}_"
    for key, state in (states.get(run.run_id) or {}).items():
        index = key[len(prefix) :] if key.startswith(prefix) else ""
        if index.isdigit() and str(state) not in ("removed", "TaskInstanceState.REMOVED"):
            found.add(int(index))
    return tuple(sorted(found))


def check_load_mode_allowed(
    load_mode: str, context: Any, *, task_id: str | None = None, before: str = "any download"
) -> None:
    """Refuse ``replace_logical_date`` in a run without a logical date (a manual run triggered
    without one, an asset-triggered run): it would not know which rows to replace.

    Cheap and free of I/O: call it before anything is uploaded (the submit side, for its
    downstream results tasks) or downloaded (the results operator, first thing in ``execute``).

    :param load_mode: the results task's ``load_mode``.
    :param context: the Airflow task context of the calling task.
    :param task_id: the results task, when the caller is another task (named in the message).
    :param before: what the refusal comes before, for the message (``"any upload"`` on the
        submit side).
    :raises AirflowFailException: the run cannot be loaded in that mode (no retry would help).
    """
    if load_mode != "replace_logical_date" or context.get("logical_date") is not None:
        return
    from airflow_provider_batch._compat import AirflowFailException

    dag_run = context.get("dag_run")
    run = getattr(dag_run, "run_id", None) or context.get("run_id")
    who = f"task {task_id!r} loads" if task_id else "this task loads"
    raise AirflowFailException(
        f"run {run!r} has no logical date (a manual run triggered without one, or an asset-triggered "
        f"run), and {who} with load_mode='replace_logical_date', which replaces the rows of one logical "
        f"date: refused before {before}. Trigger the run with a logical date, or use load_mode='merge'."
    )
