"""Automatic follow-up batches: re-send the requests that failed transiently and merge the answers.

**Which rows are re-sent.** A row is re-sent when its status is one of ``follow_up_statuses``
(default ``failed`` and ``missing``; ``expired`` and ``cancelled`` only when asked for), except a
``failed`` row whose error is permanent: its code is in :data:`PERMANENT_ERROR_CODES`, or it is a
numeric HTTP 4xx other than 408, 409, 425 and 429. Re-sending those would pay for the same error.

**How.** Each original batch with such rows gets, per round, one follow-up batch whose input is
exactly those requests' original lines (byte for byte, taken from the batch's own input file). It
is created through :func:`~airflow_provider_batch.idempotency.submit_or_attach` under a task
identity that names the round (``<task_id>.follow_up_<n>``), so a retry or crash of the results
task re-attaches to it instead of paying again.

**Merge.** A request the follow-up *answered* (an output or error line) replaces its row, which
keeps its ``(batch_id, custom_id)`` key: ``answered_by_batch_id`` names the follow-up batch,
``attempts`` counts the batches that carried the request, and tokens and ``cost_usd`` are summed
over the attempts. A request the follow-up did not answer keeps its earlier row and is re-sent
in the next round. Every follow-up batch gets its own spend-table row, so spend stays exact.

**Which batches.** Only a batch that ended COMPLETED or EXPIRED is followed up: a FAILED batch
would most likely fail again, a CANCELLED one was stopped on purpose, and a batch that is still
running (``allow_unfinished``) may yet answer, so re-sending its requests could pay twice.

Known limit (that of :mod:`~airflow_provider_batch.idempotency`): when round *n+1* re-sends
exactly the lines of round *n*, the Files API de-duplicates the upload to round *n*'s file, so
that round is guarded by the task state store only, not after a *clear* or on Airflow < 3.3.

**State.** Everything a resumed task needs travels in the defer kwargs and, because some
Airflow versions drop those, in XCom under :data:`XCOM_FOLLOW_UP`: the round, the result so far,
and per follow-up batch the earlier status, tokens and cost of each re-sent request. Its size is
proportional to the number of re-sent requests (follow-ups are meant for a small tail).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from airflow_provider_batch.collect.files import reconcile_job
from airflow_provider_batch.collect.outcomes import FailureTally
from airflow_provider_batch.collect.plan import Session
from airflow_provider_batch.collect.state import Carried, Chain, FollowUpState, ResultManifest, merge_failures
from airflow_provider_batch.core.figures import Figures
from airflow_provider_batch.core.identity import TaskIdentity
from airflow_provider_batch.core.status import ANSWERED_ROW_STATUSES, UNSUCCESSFUL_ROW_STATUSES, BatchStatus
from airflow_provider_batch.idempotency import SubmitContext, ran_before, submit_or_attach
from airflow_provider_batch.inputs.split import file_sha256
from airflow_provider_batch.ledger import SubmissionLedger
from airflow_provider_batch.ledger.location import get_ledger
from airflow_provider_batch.pricing import PriceTable
from airflow_provider_batch.results import BatchSummary, ResultRow, RunContext
from airflow_provider_batch.results.parse import UNKNOWN_ERROR_CODE
from airflow_provider_batch.vendors.base import BatchVendor

__all__ = [
    "DEFAULT_FOLLOW_UP_STATUSES",
    "MAX_FOLLOW_UP_ROUNDS",
    "PERMANENT_ERROR_CODES",
    "XCOM_FOLLOW_UP",
    "RetryTap",
    "RoundOutcome",
    "Source",
    "apply_round",
    "can_follow_up",
    "check_follow_up_args",
    "is_permanent_error",
    "merge_round",
    "next_round",
    "should_follow_up",
    "submit_round",
]

log = logging.getLogger(__name__)

MAX_FOLLOW_UP_ROUNDS = 3
DEFAULT_FOLLOW_UP_STATUSES = ("failed", "missing")
XCOM_FOLLOW_UP = "follow_up"
#: Error codes that a second attempt cannot fix (compared case-insensitively).
PERMANENT_ERROR_CODES = frozenset(
    {
        "invalid_model",
        "model_not_found",
        "invalid_request",
        "invalid_request_error",
        "invalid_api_key",
        "authentication_error",
        "permission_denied",
        "context_length_exceeded",
        "content_policy_violation",
        "content_filter",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "billing_error",
    }
)
_RETRYABLE_4XX = {408, 409, 425, 429}
_ALLOWED_STATUSES = UNSUCCESSFUL_ROW_STATUSES
_ANSWERED = ANSWERED_ROW_STATUSES
_FOLLOWED_UP = frozenset({BatchStatus.COMPLETED.value, BatchStatus.EXPIRED.value})


def is_permanent_error(code: str | None) -> bool:
    """True when a failed request's error ``code`` says that re-sending it cannot help."""
    if not code:
        return False
    text = code.strip().lower()
    if text in PERMANENT_ERROR_CODES:
        return True
    return text.isdigit() and 400 <= int(text) < 500 and int(text) not in _RETRYABLE_4XX


def should_follow_up(status: str, error_code: str | None, statuses: Collection[str]) -> bool:
    """The re-send rule of the module docstring."""
    if status not in statuses:
        return False
    return not (status == "failed" and is_permanent_error(error_code))


def can_follow_up(batch_status: str) -> bool:
    """Whether a batch that ended with ``batch_status`` may have its requests re-sent."""
    return str(getattr(batch_status, "value", batch_status)).upper() in _FOLLOWED_UP


def check_follow_up_args(rounds: int, statuses: Iterable[str]) -> tuple[str, ...]:
    """Validate the operator's follow-up arguments; returns the statuses as a tuple.

    :raises ValueError: rounds outside ``0..MAX_FOLLOW_UP_ROUNDS`` or an unknown status.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 0 <= rounds <= MAX_FOLLOW_UP_ROUNDS:
        raise ValueError(f"follow_up_rounds must be an int from 0 to {MAX_FOLLOW_UP_ROUNDS}, not {rounds!r}")
    chosen = tuple(statuses)
    unknown = sorted(set(chosen) - set(_ALLOWED_STATUSES))
    if unknown:
        raise ValueError(f"follow_up_statuses may only contain {_ALLOWED_STATUSES}, not {unknown}")
    return chosen


def _carry(row: ResultRow) -> Carried:
    return Carried(
        status=row.status, prompt_tokens=row.prompt_tokens or 0, completion_tokens=row.completion_tokens or 0,
        total_tokens=row.total_tokens or 0, cost_usd=row.cost_usd or 0.0, error_code=row.error_code,
        cache_creation_tokens=row.cache_creation_tokens or 0, cache_read_tokens=row.cache_read_tokens or 0,
    )  # fmt: skip


class RetryTap:
    """Passes rows through to the loader and remembers, per batch, the ones to re-send."""

    def __init__(self, statuses: Collection[str]) -> None:
        self.statuses = statuses
        self.by_batch: dict[str, dict[str, Carried]] = {}

    def watch(self, rows: Iterable[ResultRow]) -> Iterator[ResultRow]:
        for row in rows:
            if should_follow_up(row.status, row.error_code, self.statuses):
                self.by_batch.setdefault(row.batch_id, {})[row.custom_id] = _carry(row)
            yield row


@dataclass
class Source:
    """What one original batch re-sends in the next round: lines of ``input_path`` in ``carry``."""

    origin: str
    part: int
    input_path: Path
    carry: dict[str, Carried]


@dataclass(frozen=True)
class _Part:
    index: int
    path: Path
    lines: int
    sha256: str
    #: The batch whose requests this part re-sends, and the part's model(s) and estimate (ledger).
    parent_batch_id: str | None = None
    model: str | None = None
    estimated_cost_usd: float | None = None


def _estimated(path: Path, prices: PriceTable | None) -> dict[str, Any]:
    """A follow-up part's model(s) and worst-case batch-price estimate (``None``: unpriced)."""
    from airflow_provider_batch.inputs.budget import BudgetTally

    tally = BudgetTally()
    with path.open("rb") as reader:
        for line_no, raw in enumerate(reader, start=1):
            if raw.strip():
                tally.add(line_no, json.loads(raw), 0)
    found = tally.part_estimates(prices or PriceTable()).get(0)
    if found is None:
        return {}
    return {"model": found.model, "estimated_cost_usd": found.batch_usd if prices is not None else None}


def _write_subset(source: Path, dest: Path, wanted: dict[str, Carried]) -> int:
    """Copy the raw lines of ``source`` whose ``custom_id`` is wanted; returns how many."""
    found: set[str] = set()
    with source.open("rb") as reader, dest.open("wb") as writer:
        for raw in reader:
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            cid = value.get("custom_id") if isinstance(value, dict) else None
            if isinstance(cid, str) and cid in wanted and cid not in found:
                found.add(cid)
                writer.write(raw if raw.endswith(b"\n") else raw + b"\n")
    for cid in set(wanted) - found:
        log.warning("request %r is not in %s; it cannot be re-sent", cid, source.name)
        del wanted[cid]
    return len(found)


def submit_round(
    client: Any,
    context: Any,
    round_no: int,
    sources: Sequence[Source],
    *,
    endpoint: str,
    work_dir: Path,
    ledger: SubmissionLedger | None = None,
    together_conn_id: str = "together_default",
    vendor: BatchVendor | None = None,
    prices: PriceTable | None = None,
) -> list[Chain]:
    """Create (or re-attach to) one follow-up batch per source; returns the round's chains.

    Each round is its own identity in the submission ledger (``<task_id>.follow_up_<n>``); each
    batch's row names its origin (``parent_batch_id``), its model and, with ``prices``, its
    estimate.
    """
    base = TaskIdentity.from_context(context)
    identity = replace(base, task_id=f"{base.task_id}.follow_up_{round_no}")
    parts, by_part = [], {}
    for source in sources:
        dest = work_dir / f"follow-up-{round_no}-p{source.part:04d}.jsonl"
        lines = _write_subset(source.input_path, dest, source.carry)
        if lines:
            extra = _estimated(dest, prices)
            parts.append(_Part(source.part, dest, lines, file_sha256(dest), source.origin, **extra))
            by_part[source.part] = source
    ctx = SubmitContext(
        identity=identity,
        ledger=ledger if ledger is not None else get_ledger(),
        endpoint=endpoint,
        together_conn_id=together_conn_id,
        logical_date=context.get("logical_date"),
        earlier_tries=ran_before(context),
        vendor=vendor,
    )
    outcomes = submit_or_attach(client, parts, ctx)
    chains = []
    for outcome in outcomes:
        source = by_part[outcome.part.index]
        log.info(
            "follow-up round %d: %d request(s) of batch %s -> batch %s (%s)",
            round_no, outcome.part.lines, source.origin, outcome.job.id, outcome.path,
        )  # fmt: skip
        chains.append(
            Chain(origin=source.origin, part=source.part, batch_id=outcome.job.id, carry=source.carry)
        )
    return chains


@dataclass
class RoundOutcome:
    """What merging one round did, and what the next round would re-send."""

    sources: list[Source] = field(default_factory=list)
    summaries: list[BatchSummary] = field(default_factory=list)
    delta: Counter[str] = field(default_factory=Counter)
    merged: int = 0
    #: error code -> ids whose failed row this round replaced; and the failed rows it wrote
    removed: dict[str, set[str]] = field(default_factory=dict)
    #: (original batch, follow-up batch) -> error code -> how many of its failures were answered
    answered: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    failed: FailureTally = field(default_factory=FailureTally)


def _merged(row: ResultRow, origin: str, round_no: int, old: Carried) -> ResultRow:
    return row._replace(
        batch_id=origin,
        answered_by_batch_id=row.batch_id,
        attempts=round_no + 1,
        prompt_tokens=_plus(row.prompt_tokens, old.prompt_tokens),
        completion_tokens=_plus(row.completion_tokens, old.completion_tokens),
        total_tokens=_plus(row.total_tokens, old.total_tokens),
        cache_creation_tokens=_plus(row.cache_creation_tokens, old.cache_creation_tokens),
        cache_read_tokens=_plus(row.cache_read_tokens, old.cache_read_tokens),
        cost_usd=None if row.cost_usd is None else round(row.cost_usd + old.cost_usd, 10),
    )


def _plus(new: int | None, old: int) -> int | None:
    """Tokens over the attempts; unknown (``None``) when the new attempt's usage is unknown."""
    return None if new is None else new + old


def _carried_requests(chain: Chain, origins: Mapping[str, Path] | None, work_dir: Path) -> Path | None:
    """The requests ``chain``'s follow-up batch re-sent, cut from its origin's re-read input."""
    origin = (origins or {}).get(chain.origin)
    if origin is None:
        return None
    dest = work_dir / f"{chain.batch_id}.requests.jsonl"
    return dest if _write_subset(origin, dest, chain.carry) else None


def merge_round(
    session: Session,
    chains: Sequence[Chain],
    round_no: int,
    *,
    run: RunContext,
    endpoint: str | None,
    tally: FailureTally | None = None,
) -> RoundOutcome:
    """Reconcile the round's follow-up batches and merge their answers in one transaction.

    The session gives the client, the metadata, prices and vendor, the loader and, for a vendor
    whose input files cannot be downloaded, each original batch's requests re-read from the
    submit's input: a follow-up batch's requests are a subset of its origin's, and only the
    carried ones are read from it.

    :param tally: counts each follow-up batch's failures by error code (for its outcome).
    """
    plan, work_dir, outcome, rows = session.plan, session.work_dir, RoundOutcome(), []
    for chain in chains:
        job = session.retrieve(chain.batch_id)
        stream, files = reconcile_job(
            session.client, job, work_dir / job.id, session.metadata, prices=plan.prices,
            endpoint=endpoint, run=run, local_input=_carried_requests(chain, session.submitted, work_dir),
            vendor=plan.vendor,
        )  # fmt: skip
        carry, again = chain.carry, {}
        for row in tally.watch(stream.rows()) if tally is not None else stream.rows():
            old = carry[row.custom_id]
            if row.status in _ANSWERED:
                new = _merged(row, chain.origin, round_no, old)
                rows.append(new)
                outcome.delta[old.status] -= 1
                outcome.delta[new.status] += 1
                if old.status == "failed":
                    code = old.error_code or UNKNOWN_ERROR_CODE
                    outcome.removed.setdefault(code, set()).add(row.custom_id)
                    outcome.answered.setdefault((chain.origin, chain.batch_id), Counter())[code] += 1
                if new.status == "failed":
                    outcome.failed.add("all", new.error_code, new.custom_id)
                if should_follow_up(new.status, new.error_code, plan.follow_up.statuses):
                    again[row.custom_id] = _carry(new)
            elif can_follow_up(job.status.value):
                again[row.custom_id] = old
        outcome.summaries.append(stream.summary)
        if again and files.input_path is not None:  # a deleted input cannot be re-sent
            outcome.sources.append(Source(chain.origin, chain.part, files.input_path, again))
    session.loader.load(rows, outcome.summaries, mode="merge", run=run)
    outcome.merged = len(rows)
    return outcome


def next_round(
    session: Session, done: int, result: ResultManifest, sources: Sequence[Source]
) -> FollowUpState | None:
    """Create (or re-attach to) follow-up round ``done + 1`` when the plan allows one more round
    and some request can be re-sent; returns the state the round is waited for and merged with,
    or ``None``: the task finishes with ``result``."""
    plan = session.plan
    if not sources or done >= plan.follow_up.rounds:
        return None
    chains = submit_round(
        session.client, plan.context, done + 1, sources, endpoint=plan.endpoint,
        work_dir=session.work_dir, ledger=plan.ledger(), together_conn_id=plan.hook.together_conn_id,
        vendor=plan.vendor, prices=plan.prices,
    )  # fmt: skip
    if not chains:  # nothing left that could be re-sent
        return None
    return FollowUpState(
        round=done + 1,
        result=result,
        endpoint=plan.endpoint,
        metadata_manifest=plan.metadata_location,
        ledger_conn_id=plan.ledger.conn_id,
        chains=chains,
    )


def apply_round(result: ResultManifest, outcome: RoundOutcome, round_no: int) -> ResultManifest:
    """The results manifest after a round: final counts and failures, follow-up batches and their
    spend."""
    summaries = outcome.summaries
    update: dict[str, Any] = {
        "counts": {k: v + outcome.delta.get(k, 0) for k, v in result.counts.items()},
        "follow_up_rounds": round_no,
        "follow_up_batch_ids": [*result.follow_up_batch_ids, *(s.batch_id for s in summaries)],
        "final_statuses": {**result.final_statuses, **{s.batch_id: s.final_status for s in summaries}},
        "rows_merged": (result.rows_merged or 0) + outcome.merged,
        "failures": merge_failures(result.failures, outcome.removed, outcome.failed.buckets("all")),
    }
    update |= Figures.total([result, *summaries]).as_dict()
    return result.model_copy(update=update)
