"""Test-session set-up shared by every test package.

Airflow reads its configuration at import time, so the environment is prepared here, before
any test module imports Airflow: a throw-away AIRFLOW_HOME with an SQLite metadata DB, no
example DAGs, and no real network for AWS.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.vendors import VENDORS as _VENDOR_REGISTRY
from airflow_provider_batch.vendors import vendor_named

REPO_ROOT = Path(__file__).resolve().parent.parent

_home = Path(tempfile.mkdtemp(prefix="apb-airflow-home-"))
os.environ.setdefault("AIRFLOW_HOME", str(_home))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags_examples"))
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_home / 'airflow.db'}")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
# Every tests/<area>/dags folder is a DAG bundle too, so dag.test() finds test DAGs defined in files.
_LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
os.environ.setdefault(
    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
    json.dumps(
        [
            {"name": f"tests-{d.parent.name}", "classpath": _LOCAL_BUNDLE, "kwargs": {"path": str(d)}}
            for d in sorted((REPO_ROOT / "tests").glob("*/dags"))
        ]
        + [
            {
                "name": "dags-folder",
                "classpath": _LOCAL_BUNDLE,
                "kwargs": {"path": str(REPO_ROOT / "dags_examples")},
            }
        ]
    ),
)
# The local server finishes a batch in under a second, so these tests poll every 0.01-0.05 s: they opt
# out of the 5 s poll-interval floor explicitly (see airflow_provider_batch._poll_interval).
os.environ.setdefault("APB_MIN_POLL_INTERVAL", "0.01")
# moto and boto3 must never reach real AWS.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def pytest_configure(config: object) -> None:
    from tests.airflow_compat import share_in_process_api_server

    share_in_process_api_server()


@pytest.fixture(autouse=True)
def _own_submission_ledger(request: pytest.FixtureRequest) -> None:
    """Every test gets its own submission ledger, as a fresh deployment would.

    Tests that need one across several steps (a clear and a re-run) use ``together_ledger``.
    """
    request.getfixturevalue("together_ledger")


#: The vendor every vendor-parametrised test (a ``vendor_server`` or ``vendor`` parameter) runs on in
#: every leg; the others' cases are marked ``other_vendor``: a vendor's wire does not change with
#: Airflow's version or a dependency floor, so the 3.1, 3.2 and lowest legs run these tests on this
#: vendor only (the 3.3 leg runs every vendor; tests/ci_matrix.py decides what each leg runs).
MATRIX_VENDOR = "together"


#: Every vendor-parametrised test runs once per registered vendor (the ``vendor_server`` fixture).
VENDORS = tuple(_VENDOR_REGISTRY)


@pytest.fixture(params=VENDORS)
def vendor_server(request: pytest.FixtureRequest) -> Any:
    """The local server of one vendor (``together_server``, ``openai_server``...: the pytest plugin
    makes one per registered vendor); ``.vendor`` names it.

    The tests name Together's models: every server serves the shared models
    (``DEFAULT_MODELS``) beside its vendor's own (``BatchVendor.emulation_models``), and a
    connection of another vendor's type made for the tests prices them (its ``price_table`` extra,
    over that vendor's table), so every figure the tests expect holds on every vendor. Their
    request bodies (``model``, ``messages`` of user turns, ``max_tokens``) are valid Messages
    bodies too; an operator given no ``endpoint`` takes the vendor's.
    """
    server = request.getfixturevalue(f"{request.param}_server")
    own = vendor_named(request.param).emulation_models()
    if own:
        from airflow_provider_batch.testing.server.config import DEFAULT_MODELS

        server.configure(models=tuple(dict.fromkeys((*DEFAULT_MODELS, *own))))
    return server


#: Anthropic cases of the vendor-parametrised suites that do not run on Anthropic, and why: each
#: asserts something Anthropic's API does not have (input files, a FAILED batch status, Together's
#: fault routes) or a request shape it refuses. Anthropic's own tests of these behaviours are in
#: tests/vendors/anthropic (lost creates, statuses, results) and tests/doctor.
_NO_UPLOAD = "counts file uploads; Anthropic's requests go inline in the create"
_NO_FAILED = (
    "forces a FAILED batch; Anthropic's batches never fail as a whole (a failed request is an errored result)"
)
_MAX_TOKENS = (
    "its requests lack max_tokens, which Messages requires: validation refuses the line "
    "(max_tokens_missing) before the budget guard"
)
_HOSTILE_IDS = (
    "its custom_ids break Anthropic's ^[a-zA-Z0-9_-]{1,64}$, which validation refuses before any spend; "
    "test_hostile_values_under_mapped_custom_ids_are_stored_exactly_on_anthropic runs them mapped"
)
_LOST_CREATES = "tests/vendors/anthropic/test_anthropic_lost_create.py kills the submit at each point"
ANTHROPIC_NOT_APPLICABLE: dict[str, str] = {
    "test_idempotency.py::test_retry_reattaches_through_the_ledger_without_listing_anything": _NO_UPLOAD,
    "test_idempotency.py::test_a_create_interrupted_before_it_reached_the_server_is_sent_once": (
        f"{_NO_UPLOAD}; {_LOST_CREATES}"
    ),
    "test_idempotency.py::test_unknown_batches_on_our_own_file_are_never_guessed_between": (
        f"looks for batches on the part's input file; Anthropic's lost creates are settled by the ledger "
        f"({_LOST_CREATES})"
    ),
    "test_idempotency.py::test_failed_batch_is_not_paid_for_twice_unless_forced": _NO_FAILED,
    "test_idempotency.py::test_a_crash_after_the_bytes_arrived_reuses_the_file": (
        "re-uses an uploaded file; Anthropic has no files (a part is staged again on every try)"
    ),
    "test_trigger_batch.py::test_terminal_outcomes[anthropic-FAILED]": _NO_FAILED,
    "test_sensor_batch.py::test_sensor_fails_on_a_failed_batch": _NO_FAILED,
    "test_trigger_batch.py::test_unknown_status_is_logged_and_polling_continues": (
        "sets a status the Anthropic emulation shows as in_progress; an unknown processing_status is "
        "tests/vendors/anthropic/test_anthropic_client.py's"
    ),
    "test_operator_guards.py::test_missing_max_tokens_is_refused_before_upload": _MAX_TOKENS,
    "test_operator_guards.py::test_assumed_max_tokens_lets_it_through": _MAX_TOKENS,
    "test_operator_guards.py::test_max_tokens_in_the_body_is_a_remedy_that_works": _MAX_TOKENS,
    "test_operator_guards.py::test_an_unpriced_model_under_a_budget_names_remedies_that_work": _MAX_TOKENS,
    "test_follow_up_pipeline.py::test_delete_input_files_removes_the_uploaded_inputs_once_loaded": (
        f"{_NO_UPLOAD}: there is no input file to delete (test_a_rerun_after_delete_input_files_loads_"
        "every_answer_and_error_again runs on Anthropic, where it deletes none)"
    ),
    "test_hostile_pipeline.py::test_hostile_values_are_stored_exactly_in_sqlite": _HOSTILE_IDS,
    "test_hostile_pipeline.py::test_hostile_values_are_stored_exactly_in_a_database_server": _HOSTILE_IDS,
    "test_operator_guards.py::test_n_completions_count_against_the_budget": (
        "counts n completions per request; Messages has no n"
    ),
}


def _skip_on_anthropic(item: pytest.Item) -> None:
    """Skip an Anthropic case listed in :data:`ANTHROPIC_NOT_APPLICABLE` (by ``file::test[params]``
    or ``file::test``), saying why."""
    where = Path(item.path).name
    for name in (f"{where}::{item.name}", f"{where}::{getattr(item, 'originalname', item.name)}"):
        if name in ANTHROPIC_NOT_APPLICABLE:
            item.add_marker(pytest.mark.skip(reason=f"not on Anthropic: {ANTHROPIC_NOT_APPLICABLE[name]}"))
            return


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from tests import ci_matrix

    root = Path(__file__).parent
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("vendor_server", params.get("vendor")) == "anthropic":
            _skip_on_anthropic(item)
        if params.get("vendor_server", params.get("vendor", MATRIX_VENDOR)) != MATRIX_VENDOR:
            item.add_marker(pytest.mark.other_vendor)
    ci_matrix.apply(config, items)
