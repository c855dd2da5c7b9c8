"""Which CI legs run which tests: the one place the matrix is decided (read by tests/conftest.py).

The rule: every behaviour runs on every vendor and dialect once, and the legs that vary a
dependency (Airflow's minor version on ``default-3.2`` and ``default-3.1``, every direct
dependency at its floor on ``lowest``) run only what that dependency can change.
``scripts/test_matrix.sh`` names its leg in ``APB_MATRIX_LEG``; the items of the kinds the leg
does not run are deselected (pytest reports them as "deselected"). ``make test`` (the ``default-3.3``
leg) sets no leg and runs every kind.

Each test folder (or, where a folder mixes kinds, a file) has a kind, in :data:`TEST_AREAS`:

``airflow``
    The code under test runs through Airflow: operators, triggers, sensors, hooks and the
    connections they resolve, ``dag.test()``, DagBag parsing, the provider's registration, the UI
    plugin. A change of Airflow's version can change the outcome, and so can a floor (Airflow's and
    the SDK's own floors, the providers'): every leg runs it.
``floors``
    Imports no Airflow-facing code of ours, but calls a third-party package whose floor in
    pyproject.toml can change the outcome: httpx (the client and its transports), msgspec and
    pydantic (decoding, models), starlette/uvicorn (the local servers), the vendors' official SDKs
    (the emulation's conformance), the database drivers and the database providers' hooks (the
    warehouse layer, the ledger's SQL), boto3. Airflow's version cannot change it: ``default-3.3``
    and ``lowest`` run it. The Airflow-version side of a database connection (a hook resolving its
    connection) is exercised on every leg by tests/pipeline, which loads through the same layer.
``pure``
    Our own Python over the standard library (identities, events, HTML of the page): neither
    Airflow's version nor a floor changes it; ``default-3.3`` alone runs it.
``slow`` / ``benchmark`` / ``ui`` / ``warehouses``
    Folders carried by a leg of their own (``slow-3.3``, ``make bench``, ``ui``, ``warehouses``): each
    of their tests must carry that marker (the default legs deselect the marker in pytest's
    addopts; an unmarked test there would be run by ``default-3.3`` in the wrong environment).

A test of any kind that is marked ``slow``, ``ui`` or ``warehouses`` runs in that leg instead, and a
vendor-parametrised case on a vendor other than :data:`tests.conftest.MATRIX_VENDOR` (marker
``other_vendor``) runs on ``default-3.3`` only: a vendor's wire does not depend on Airflow's
version, and each vendor's client, emulation and SDK at its floor are ``floors`` tests.

Two rules narrow the ``airflow`` kind further on the legs that vary a dependency:

* :data:`DIALECT_PARAMS`: a case parametrised on a database server (``postgres``/``mysql`` params,
  e.g. the ``warehouse``/``server_warehouse``/``server_table`` fixtures, ``DIALECTS``) runs on
  ``default-3.3`` only when it is of kind ``airflow``; its ``sqlite`` twin stays on every leg.
* :data:`AIRFLOW_LEG_ONLY`: of the doctor's subprocess tests, only :data:`DOCTOR_PER_LEG` runs on
  every leg; the rest run on ``default-3.3``.

A test file under a folder that is not in :data:`TEST_AREAS` stops the collection on every leg
(:func:`apply`), and tests/ci/test_ci_matrix.py checks the map against the tree and each
non-``airflow`` file's imports: a new folder cannot be silently left out of every leg.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest

TESTS_ROOT = Path(__file__).resolve().parent

#: The kinds each matrix leg runs (``APB_MATRIX_LEG``; unset or 3.3: every kind).
LEG_KINDS: dict[str, frozenset[str]] = {
    "3.3": frozenset({"airflow", "floors", "pure"}),
    "3.2": frozenset({"airflow"}),
    "3.1": frozenset({"airflow"}),
    "lowest": frozenset({"airflow", "floors"}),
}

#: The kinds carried by a leg of their own, and the marker each of their tests must carry.
OWN_LEG_KINDS: dict[str, str] = {
    "slow": "slow",
    "benchmark": "benchmark",
    "ui": "ui",
    "warehouses": "warehouses",
}

KINDS = frozenset({"airflow", "floors", "pure", *OWN_LEG_KINDS})

#: Kind of each test folder (relative to tests/), or of a file where its folder mixes kinds.
#: The longest matching key wins. Why each is what it is:
TEST_AREAS: dict[str, str] = {
    # Operators, triggers, sensors, hooks, connections, dag.test(), the page's view in Airflow.
    "airflow": "airflow",
    # ... but these exercise the ledger's SQL on SQLite, PostgreSQL and MariaDB (drivers' floors),
    "airflow/test_ledger_outcomes.py": "floors",
    "airflow/test_ledger_queries.py": "floors",
    # the triggers' asyncio network backend over loopback (httpx's floor),
    "airflow/test_asyncio_net.py": "floors",
    # and the trigger <-> operator event contract (a dataclass and an allow-list).
    "airflow/test_event_contract.py": "pure",
    # Performance measurements, `make bench`.
    "benchmarks": "benchmark",
    # The HTTP clients over httpx (its transports, retries, streaming), msgspec and pydantic models.
    "client": "floors",
    # The common.ai provider's batch adapter, driven by its operator and trigger in dag.test().
    "common_ai": "airflow",
    # One-definition types and identities: standard library only.
    "core": "pure",
    # This map checked against the tree.
    "ci": "pure",
    # The doctor CLI (a subprocess) reads its Airflow connection through the provider's hook, then
    # probes each vendor's emulation; ...
    "doctor": "airflow",
    # ... its expectation rules are checked on recorded exchanges.
    "doctor/test_expectations.py": "pure",
    # Real distributed Airflow processes, the slow-3.3 leg.
    "e2e": "slow",
    # The example DAGs parsed and run with dag.test().
    "examples": "airflow",
    # Request building, validation (msgspec), budgets (pydantic), splitting, preparing; ...
    "inputs": "floors",
    # ... but the build operator is an operator, the builder reads SQL sources through Airflow
    # connections and hooks, and storage reads S3 through the Amazon provider's S3Hook and an
    # Airflow connection.
    "inputs/test_build_operator.py": "airflow",
    "inputs/test_builder.py": "airflow",
    "inputs/test_storage.py": "airflow",
    # The end-to-end DAGs through dag.test() into the warehouses.
    "pipeline": "airflow",
    # Fault storms and hostile servers against the client (httpx's floor).
    "reliability": "floors",
    # The warehouse layer, results parsing and the spend ledger (no Airflow-facing code) on SQLite,
    # PostgreSQL and MariaDB through the drivers and the database providers' hooks at their floors.
    "results": "floors",
    # ... except the privilege checks, which run the submit task's preflight (Airflow connections).
    "results/test_preflight_privileges.py": "airflow",
    # The local emulation servers (starlette, uvicorn, pydantic) and the official SDKs against them.
    "server": "floors",
    # The Together batches page in a real Airflow and a browser: the ui leg; ...
    "ui": "ui",
    # ... but the page's HTML and its links are built from plain records.
    "ui/test_view.py": "pure",
    "ui/test_urls.py": "pure",
    # Each vendor's client and emulation (httpx, the vendors' SDKs).
    "vendors": "floors",
    # The warehouse emulators (fakesnow, bqemulator) and DuckDB in venvs of their own.
    "warehouses": "warehouses",
}


#: Database-server parameter values: a case parametrised on one of these is a dialect case.
#: The SQL dialect (and the server's answers) does not depend on Airflow's version, and the
#: Airflow-version side of a warehouse connection (an Airflow connection resolved by the provider's
#: hook) is the same code for every conn type, proven on each leg by the ``sqlite`` twin of the same
#: case. So an ``airflow``-kind dialect case runs on ``default-3.3`` only. On ``lowest`` the drivers'
#: and the database providers' floors do matter, and they are proven there by the ``floors`` tests
#: (tests/results, the ledger's SQL in tests/airflow), which keep their server params on that leg:
#: this rule deselects only ``airflow``-kind dialect cases, never ``floors`` ones.
DIALECT_PARAMS = frozenset({"postgres", "mysql"})

#: The doctor CLI case each Airflow leg keeps. The doctor's only Airflow dependency is reading its
#: connection through the provider's hook (a subprocess importing Airflow, ~20 s each): one clean
#: run per leg proves that reading on that Airflow; the rest (statuses, wire rules, the key never
#: printed on a real process's stdout/stderr) do not depend on Airflow's version and run on
#: ``default-3.3`` only.
DOCTOR_PER_LEG = "doctor/test_doctor_cli.py::test_clean_run_passes_and_prints_each_step"

#: Files (relative to tests/) whose cases run on ``default-3.3`` only, except the ``keep`` case (a
#: ``file::test`` id, relative to tests/) that every leg runs.
AIRFLOW_LEG_ONLY: dict[str, str | None] = {
    "doctor/test_doctor_cli.py": DOCTOR_PER_LEG,
    "doctor/test_doctor_openai.py": None,
    "doctor/test_doctor_anthropic.py": None,
    # The warehouse check resolves its connection as the results task does (proven on every leg
    # by tests/pipeline); the rest is SQL on the drivers, which Airflow's version cannot change.
    "doctor/test_doctor_warehouse.py": None,
}


def _rel(path: Path) -> str | None:
    try:
        return Path(path).resolve().relative_to(TESTS_ROOT).as_posix()
    except ValueError:
        return None


def is_dialect_case(item: pytest.Item) -> bool:
    """Whether ``item`` is parametrised on a database server (a ``postgres``/``mysql`` param)."""
    params = getattr(getattr(item, "callspec", None), "params", {}) or {}
    return any(isinstance(v, str) and v in DIALECT_PARAMS for v in params.values())


def newest_leg_only(item: pytest.Item) -> bool:
    """Whether ``item``, a test the leg's kinds would run, is left to ``default-3.3`` by a rule above."""
    if item.get_closest_marker("other_vendor") is not None:
        return True
    rel = _rel(item.path)
    if rel in AIRFLOW_LEG_ONLY:
        keep = AIRFLOW_LEG_ONLY[rel]
        name = getattr(item, "originalname", None) or item.name
        return keep is None or f"{rel}::{name}" != keep
    return kind_of(item.path) == "airflow" and is_dialect_case(item)


def kind_of(path: Path) -> str | None:
    """The kind of the test file at ``path`` (None: not classified)."""
    try:
        rel = Path(path).resolve().relative_to(TESTS_ROOT)
    except ValueError:
        return None
    parts = rel.parts
    for n in range(len(parts), 0, -1):
        kind = TEST_AREAS.get("/".join(parts[:n]))
        if kind is not None:
            return kind
    return None


def leg() -> str:
    """The matrix leg this session runs (``APB_MATRIX_LEG``; 3.3 when unset)."""
    name = os.environ.get("APB_MATRIX_LEG", "") or "3.3"
    if name not in LEG_KINDS:
        raise pytest.UsageError(f"APB_MATRIX_LEG={name!r}: not a matrix leg ({', '.join(LEG_KINDS)})")
    return name


def apply(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse unclassified test files; on a leg other than 3.3, deselect what it does not run."""
    unclassified = sorted(
        {os.path.relpath(Path(i.path).parent, TESTS_ROOT) for i in items if kind_of(i.path) is None}
    )
    if unclassified:
        raise pytest.UsageError(
            f"test folders not in TEST_AREAS (tests/ci_matrix.py): {', '.join(unclassified)}; "
            "give each a kind there, or no CI leg is sure to run them"
        )
    for item in items:
        marker = OWN_LEG_KINDS.get(kind_of(item.path) or "")
        if marker is not None and item.get_closest_marker(marker) is None:
            raise pytest.UsageError(
                f"{item.nodeid}: its folder's kind in tests/ci_matrix.py says it runs in the {marker!r} "
                f"leg, but it is not marked {marker}"
            )
    name = leg()
    if name == "3.3":
        return
    kinds = LEG_KINDS[name]
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        runs = kind_of(item.path) in kinds and not newest_leg_only(item)
        (keep if runs else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def folders_with_tests(root: Path = TESTS_ROOT) -> Iterable[Path]:
    """Every folder under tests/ that holds a test file (``test_*.py``)."""
    return sorted({p.parent for p in root.rglob("test_*.py") if "__pycache__" not in p.parts})
