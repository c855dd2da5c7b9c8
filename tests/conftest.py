"""Test-session set-up shared by every test package.

Airflow reads its configuration at import time, so the environment is prepared here, before
any test module imports Airflow: a throw-away AIRFLOW_HOME with an SQLite metadata DB, no
example DAGs, and no real network for AWS.
"""

from __future__ import annotations

import functools
import importlib.util
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


@functools.cache
def _not_applicable(vendor: str, root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``NOT_APPLICABLE`` (``file::test[params]`` or ``file::test`` -> why) and ``PENDING`` (folder
    of tests/ -> why) of ``tests/vendors/<vendor>/not_applicable.py``; empty when it has none."""
    path = root / "vendors" / vendor / "not_applicable.py"
    if not path.is_file():
        return {}, {}
    spec = importlib.util.spec_from_file_location(f"_not_applicable_{vendor}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(getattr(module, "NOT_APPLICABLE", {})), dict(getattr(module, "PENDING", {}))


def _skip_not_applicable(item: pytest.Item, root: Path, vendor: str) -> None:
    """Skip a case ``vendor`` lists as not applicable (by ``file::test[params]`` or ``file::test``),
    or of a suite it lists as pending, saying why."""
    not_applicable, pending = _not_applicable(vendor, root)
    for folder, reason in pending.items():
        if Path(item.path).is_relative_to(root / folder):
            item.add_marker(pytest.mark.skip(reason=reason))
            return
    _skip_listed(item, not_applicable, vendor_named(vendor).display_name)


def _skip_listed(item: pytest.Item, table: dict[str, str], label: str) -> None:
    """Skip ``item`` if ``table`` lists it (by ``file::test[params]``, ``file::test`` or ``file``),
    saying why it is not on ``label``."""
    where = Path(item.path).name
    for name in (f"{where}::{item.name}", f"{where}::{getattr(item, 'originalname', item.name)}", where):
        if name in table:
            item.add_marker(pytest.mark.skip(reason=f"not on {label}: {table[name]}"))
            return


def _skip_not_on_warehouse(item: pytest.Item, warehouse: str) -> None:
    """Skip a case ``tests/warehouses/not_applicable.py`` lists for ``warehouse``, saying why."""
    from tests.warehouses.not_applicable import DISPLAY_NAMES, NOT_APPLICABLE

    if warehouse in NOT_APPLICABLE:
        _skip_listed(item, NOT_APPLICABLE[warehouse], DISPLAY_NAMES[warehouse])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from tests import ci_matrix

    root = Path(__file__).parent
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        vendor = params.get("vendor_server", params.get("vendor"))
        if vendor in VENDORS:
            _skip_not_applicable(item, root, vendor)
        if isinstance(params.get("warehouse"), str):
            _skip_not_on_warehouse(item, params["warehouse"])
        if params.get("vendor_server", params.get("vendor", MATRIX_VENDOR)) != MATRIX_VENDOR:
            item.add_marker(pytest.mark.other_vendor)
    ci_matrix.apply(config, items)
