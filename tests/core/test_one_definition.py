"""Identity, statuses and money are defined once, in ``core``; every other module uses those
objects (checked by identity), and no module spells the vocabulary out again."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import airflow_provider_batch
from airflow_provider_batch.core import figures, status
from airflow_provider_batch.core.figures import FIGURE_FIELDS, Figures
from airflow_provider_batch.core.status import BatchStatus, RowStatus

PACKAGE = Path(airflow_provider_batch.__file__).parent


def test_status_sets_everywhere_are_the_core_objects() -> None:
    from airflow_provider_batch import client, idempotency, results
    from airflow_provider_batch.client import models as client_models
    from airflow_provider_batch.collect import follow_up as _follow_up
    from airflow_provider_batch.collect import table as _report
    from airflow_provider_batch.testing.server import records
    from airflow_provider_batch.ui import view

    assert client.BatchStatus is client_models.BatchStatus is BatchStatus
    assert client_models.TERMINAL_BATCH_STATUSES is status.TERMINAL_BATCH_STATUSES
    assert results.RowStatus is RowStatus
    assert view.TERMINAL is records.TERMINAL is status.TERMINAL_STATUS_NAMES
    assert idempotency._REPLACEABLE is status.ENDED_UNSUCCESSFULLY
    assert _report._STATUSES is status.ROW_STATUSES
    assert _follow_up._ALLOWED_STATUSES is status.UNSUCCESSFUL_ROW_STATUSES
    assert _follow_up._ANSWERED is status.ANSWERED_ROW_STATUSES


def test_triggers_and_sensors_decide_terminal_by_the_core_set() -> None:
    from airflow_provider_batch.events import BatchStatus as EventsBatchStatus
    from airflow_provider_batch.triggers import _polling

    assert EventsBatchStatus is _polling.BatchStatus is BatchStatus
    assert {s for s in BatchStatus if s.is_terminal} == status.TERMINAL_BATCH_STATUSES
    assert {"COMPLETED", "FAILED", "EXPIRED", "CANCELLED"} == status.TERMINAL_STATUS_NAMES


def test_openai_terminal_statuses_follow_the_neutral_set() -> None:
    from airflow_provider_batch.vendors.openai import vendor
    from airflow_provider_batch.vendors.openai.client.models import BatchStatus as OpenAIStatus

    for wire in OpenAIStatus:
        neutral = vendor._STATUS.get(wire, BatchStatus.UNKNOWN)
        assert wire.is_terminal == neutral.is_terminal, wire


def test_row_status_vocabulary() -> None:
    assert status.ROW_STATUSES == ("succeeded", "failed", "missing", "expired", "cancelled")
    assert set(status.ROW_STATUSES) == status.ANSWERED_ROW_STATUSES | status.UNANSWERED_ROW_STATUSES
    assert not status.ANSWERED_ROW_STATUSES & status.UNANSWERED_ROW_STATUSES
    assert "succeeded" not in status.UNSUCCESSFUL_ROW_STATUSES
    assert RowStatus.FAILED in status.ANSWERED_ROW_STATUSES  # an enum member matches its string


def test_records_carrying_figures_declare_them_once() -> None:
    from airflow_provider_batch.collect.state import ResultManifest
    from airflow_provider_batch.ledger import BatchOutcome
    from airflow_provider_batch.results.models import SUMMARY_COLUMNS, BatchSummary

    assert issubclass(BatchOutcome, Figures) and issubclass(ResultManifest, Figures)
    summary_names = [name for name, _ in SUMMARY_COLUMNS]
    position = summary_names.index("prompt_tokens")
    assert tuple(summary_names[position : position + 6]) == (*figures.TOKEN_FIELDS, *figures.MONEY_FIELDS)
    assert tuple(summary_names[-2:]) == figures.CACHE_TOKEN_FIELDS  # the spend table's last columns
    assert (*figures.TOKEN_FIELDS, *figures.MONEY_FIELDS, *figures.CACHE_TOKEN_FIELDS) == FIGURE_FIELDS
    assert {n: k for n, k in SUMMARY_COLUMNS if n in figures.MONEY_FIELDS} == dict.fromkeys(
        figures.MONEY_FIELDS, "money"
    )
    assert all(name in BatchSummary.__dataclass_fields__ for name in FIGURE_FIELDS)


def test_figures_sum_once_with_money_rounded_after_the_sum() -> None:
    parts = [
        Figures(prompt_tokens=1, total_tokens=1, cost_usd_batch=0.1, cost_usd_list=0.2, savings_usd=0.1,
                cache_creation_tokens=7, cache_read_tokens=70)
    ] * 3  # fmt: skip
    total = Figures.total(parts)
    assert (total.prompt_tokens, total.total_tokens) == (3, 3)
    assert (total.cost_usd_batch, total.cost_usd_list, total.savings_usd) == (0.3, 0.6, 0.3)
    assert (total.cache_creation_tokens, total.cache_read_tokens) == (21, 210) and total.cached
    assert parts[0] + parts[0] == Figures.total(parts[:2])
    assert Figures.of(object()) == Figures() and not Figures().cached
    # A spend row not measured yet (NULL tokens) adds nothing; a read-only cache still counts.
    unmeasured = type("Row", (), dict.fromkeys(FIGURE_FIELDS))()
    assert Figures.total([unmeasured, Figures(cache_read_tokens=5)]) == Figures(cache_read_tokens=5)
    with pytest.raises(ValueError):
        parts[0].prompt_tokens = 2  # type: ignore[misc]


# Literal spellings that only core may hold: the row statuses as a sequence, a set of terminal
# batch statuses, an identity hash.
_SPELLED_OUT = [
    re.compile(r"""["']succeeded["'],\s*["']failed["'],\s*["']missing["']"""),
    re.compile(r"""["']failed["'],\s*["']missing["'],\s*["']expired["'],\s*["']cancelled["']"""),
    re.compile(r"""\{\s*["']COMPLETED["'],\s*["']FAILED["'],\s*["']EXPIRED["']""", re.IGNORECASE),
    re.compile(r"BatchStatus\.COMPLETED,\s*BatchStatus\.FAILED,\s*BatchStatus\.EXPIRED"),
    re.compile(r"hashlib\.sha256\(raw\.encode"),
]
_DEFINED_ONCE = {"TaskIdentity", "SubmitOwner", "RowStatus", "Figures"}


def test_no_module_outside_core_spells_the_vocabulary_again() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "core" and path.parent.parent == PACKAGE:
            continue
        text = path.read_text(encoding="utf-8")
        found += [f"{path.relative_to(PACKAGE)}: {p.pattern}" for p in _SPELLED_OUT if p.search(text)]
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.name in _DEFINED_ONCE:
                found.append(f"{path.relative_to(PACKAGE)}: class {node.name}")
    assert found == []


def test_a_follow_up_state_deferred_by_the_previous_release_resumes() -> None:
    from airflow_provider_batch.collect.state import FollowUpState, ResultManifest

    figures = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    money = {"cost_usd_batch": 0.25, "cost_usd_list": 0.5, "savings_usd": 0.25}
    result = {"batch_ids": ["b1"], "requests": 3, "counts": {"succeeded": 3}, **figures, **money}
    state = FollowUpState.model_validate({"round": 1, "result": result, "chains": []})
    assert Figures.of(state.result) == Figures(**figures, **money)  # no cache tokens then: 0
    assert state.result.dump()["cache_creation_tokens"] == state.result.dump()["cache_read_tokens"] == 0
    assert state.result.dump() == ResultManifest.model_validate(state.result.dump()).dump()
    assert {k: state.result.dump()[k] for k in result} == result
