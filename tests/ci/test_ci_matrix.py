"""The CI matrix's map of test folders (tests/ci_matrix.py) against the tree and the legs."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests import ci_matrix
from tests.ci_matrix import KINDS, LEG_KINDS, OWN_LEG_KINDS, TEST_AREAS, TESTS_ROOT, kind_of

REPO = TESTS_ROOT.parent

#: Airflow modules a ``floors`` test may import: the database providers' hooks the warehouse layer
#: is handed (their Airflow-version side is tests/pipeline's, on every leg).
DATABASE_HOOKS = ("airflow.providers.sqlite", "airflow.providers.postgres", "airflow.providers.mysql")
#: Our modules that run only inside Airflow: a test importing one is of kind ``airflow``.
AIRFLOW_FACING = (
    "airflow_provider_batch.operators",
    "airflow_provider_batch.sensors",
    "airflow_provider_batch.triggers",
    "airflow_provider_batch.common_ai",
    "tests.airflow_compat",
)
#: Imports of an Airflow-facing module that run none of its Airflow code, and why.
_IDENTITY_ONLY = "compares a class's identity only"
NOT_RUN: dict[tuple[str, str], str] = {
    ("core/test_one_definition.py", "airflow_provider_batch.triggers"): _IDENTITY_ONLY,
    ("core/test_one_definition.py", "airflow_provider_batch.triggers._polling"): _IDENTITY_ONLY,
    # One case drives execute() with a fake task instance only to reach the ledger's upgrade of a
    # 0.1.0 run; the submit's Airflow side is tests/airflow's, on every leg.
    ("results/test_upgrade.py", "airflow_provider_batch.operators.batch"): "the ledger's upgrade path",
    ("results/test_upgrade.py", "airflow_provider_batch.operators.batch.TogetherBatchOperator"): (
        "the ledger's upgrade path"
    ),
}


def test_every_folder_with_tests_has_a_kind() -> None:
    folders = ci_matrix.folders_with_tests()
    missing = [str(f.relative_to(TESTS_ROOT)) for f in folders if kind_of(f / "test_x.py") is None]
    assert not missing, f"add these folders to TEST_AREAS in tests/ci_matrix.py: {missing}"


def test_every_entry_names_a_folder_or_file_that_exists_and_a_known_kind() -> None:
    assert {k: v for k, v in TEST_AREAS.items() if v not in KINDS} == {}
    assert [k for k in TEST_AREAS if not (TESTS_ROOT / k).exists()] == []


def test_the_newest_airflow_leg_runs_every_kind_of_the_default_suite() -> None:
    default_kinds = KINDS - set(OWN_LEG_KINDS)
    assert LEG_KINDS["3.3"] == default_kinds
    assert all(kinds <= default_kinds for kinds in LEG_KINDS.values())
    # Airflow-facing tests run on every Airflow version and at every floor.
    assert all("airflow" in kinds for kinds in LEG_KINDS.values())
    assert "floors" in LEG_KINDS["lowest"]


def test_the_matrix_script_names_its_leg_and_knows_the_same_legs() -> None:
    script = (REPO / "scripts" / "test_matrix.sh").read_text()
    assert "APB_MATRIX_LEG=$leg" in script
    assert set(LEG_KINDS) == {"3.1", "3.2", "3.3", "lowest"}
    assert "LEG: 3.1 | 3.2 | 3.3 | lowest" in script


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _test_files_of(kind: str) -> list[Path]:
    return [
        p
        for p in sorted(TESTS_ROOT.rglob("test_*.py"))
        if "__pycache__" not in p.parts and kind_of(p) == kind
    ]


@pytest.mark.parametrize("kind", ["floors", "pure"])
def test_tests_that_airflow_legs_skip_import_nothing_airflow_facing(kind: str) -> None:
    """A ``floors`` or ``pure`` test that imports Airflow, an operator, a sensor or a trigger would
    be skipped by the legs that vary Airflow's version although it depends on it."""
    allowed = DATABASE_HOOKS if kind == "floors" else ()
    offending = {}
    for path in _test_files_of(kind):
        bad = sorted(
            name
            for name in _imports(path)
            if ((name == "airflow" or name.startswith("airflow.")) and not name.startswith(allowed))
            or (name.startswith(AIRFLOW_FACING) and (str(path.relative_to(TESTS_ROOT)), name) not in NOT_RUN)
        )
        if bad:
            offending[str(path.relative_to(TESTS_ROOT))] = bad
    assert offending == {}, "make these files (or their folders) of kind 'airflow' in tests/ci_matrix.py"


def test_there_are_tests_of_each_kind_this_check_reads() -> None:
    assert _test_files_of("floors") and _test_files_of("pure") and _test_files_of("airflow")


class _Item:
    def __init__(self, rel: str, *markers: str, name: str = "test_it", **params: str) -> None:
        self.path = TESTS_ROOT / rel
        self.name = self.originalname = name
        self.nodeid = f"tests/{rel}::{name}"
        self._markers = set(markers)
        if params:
            self.callspec = SimpleNamespace(params=params)
            self.name = f"{name}[{'-'.join(params.values())}]"
            self.nodeid = f"tests/{rel}::{self.name}"

    def get_closest_marker(self, name: str) -> Any:
        return name if name in self._markers else None


def _run(items: list[_Item], leg: str | None, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    if leg is None:
        monkeypatch.delenv("APB_MATRIX_LEG", raising=False)
    else:
        monkeypatch.setenv("APB_MATRIX_LEG", leg)
    deselected: list[str] = []
    hook = SimpleNamespace(pytest_deselected=lambda items: deselected.extend(i.nodeid for i in items))
    config = SimpleNamespace(hook=hook)
    kept: list[Any] = list(items)
    ci_matrix.apply(config, kept)  # type: ignore[arg-type]
    return [i.nodeid.split("/")[1] for i in kept], [d.split("/")[1] for d in deselected]


@pytest.mark.parametrize(
    ("leg", "kept"),
    [
        (None, ["airflow", "client", "core", "pipeline"]),
        ("3.3", ["airflow", "client", "core", "pipeline"]),
        ("3.2", ["airflow"]),
        ("3.1", ["airflow"]),
        ("lowest", ["airflow", "client"]),
    ],
)
def test_each_leg_keeps_its_kinds_and_leaves_other_vendors_to_the_newest(
    leg: str | None, kept: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [
        _Item("airflow/test_operator_submit.py"),
        _Item("client/test_client_core.py"),
        _Item("core/test_identity_pins.py"),
        _Item("pipeline/test_lifecycle.py", "other_vendor"),
    ]
    got, dropped = _run(items, leg, monkeypatch)
    assert got == kept
    assert sorted(got + dropped) == ["airflow", "client", "core", "pipeline"]


def test_a_test_in_a_folder_of_no_kind_stops_every_leg(monkeypatch: pytest.MonkeyPatch) -> None:
    for leg in (None, *LEG_KINDS):
        with pytest.raises(pytest.UsageError, match="brand_new"):
            _run([_Item("client/test_client_core.py"), _Item("brand_new/test_it.py")], leg, monkeypatch)


def test_an_unmarked_test_in_a_folder_of_its_own_leg_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _run([_Item("e2e/test_x.py", "slow")], None, monkeypatch)
    with pytest.raises(pytest.UsageError, match="not marked slow"):
        _run([_Item("e2e/test_x.py")], None, monkeypatch)


def test_an_unknown_leg_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(pytest.UsageError, match="not a matrix leg"):
        _run([_Item("core/test_identity_pins.py")], "3.0", monkeypatch)


def _ids(items: list[_Item], leg: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("APB_MATRIX_LEG", leg)
    hook = SimpleNamespace(pytest_deselected=lambda items: None)
    kept: list[Any] = list(items)
    ci_matrix.apply(SimpleNamespace(hook=hook), kept)  # type: ignore[arg-type]
    return [i.nodeid.removeprefix("tests/") for i in kept]


_DIALECT_ITEMS = [
    _Item("pipeline/test_ownership_pipeline.py", name="test_rerun", db="sqlite"),
    _Item("pipeline/test_ownership_pipeline.py", name="test_rerun", db="postgres"),
    _Item("pipeline/test_ownership_pipeline.py", name="test_rerun", db="mysql"),
    _Item("pipeline/test_lifecycle.py", name="test_rows", server_table="postgres", load_mode="merge"),
    _Item("results/test_warehouse.py", name="test_load", warehouse="sqlite"),
    _Item("results/test_warehouse.py", name="test_load", warehouse="postgres"),
    _Item("results/test_warehouse.py", name="test_load", server_warehouse="mysql"),
]


@pytest.mark.parametrize(
    ("leg", "kept"),
    [
        ("3.3", [i.nodeid.removeprefix("tests/") for i in _DIALECT_ITEMS]),
        ("3.2", ["pipeline/test_ownership_pipeline.py::test_rerun[sqlite]"]),
        ("3.1", ["pipeline/test_ownership_pipeline.py::test_rerun[sqlite]"]),
        (
            "lowest",
            [
                "pipeline/test_ownership_pipeline.py::test_rerun[sqlite]",
                "results/test_warehouse.py::test_load[sqlite]",
                "results/test_warehouse.py::test_load[postgres]",
                "results/test_warehouse.py::test_load[mysql]",
            ],
        ),
    ],
)
def test_dialect_cases_of_airflow_tests_run_on_the_newest_leg_and_their_sqlite_twin_everywhere(
    leg: str, kept: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQL dialect does not depend on Airflow's version; the drivers' floors are proven on
    ``lowest`` by the ``floors`` tests, which keep their server params there."""
    assert _ids(list(_DIALECT_ITEMS), leg, monkeypatch) == kept


@pytest.mark.parametrize("leg", ["3.3", "3.2", "3.1", "lowest"])
def test_each_leg_runs_one_doctor_cli_case_and_the_newest_runs_them_all(
    leg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [
        _Item("doctor/test_doctor_cli.py", name="test_clean_run_passes_and_prints_each_step"),
        _Item("doctor/test_doctor_cli.py", name="test_key_never_printed_even_in_errors"),
        _Item("doctor/test_doctor_openai.py", name="test_clean_run_passes_and_prints_openai_s_wire"),
        _Item("doctor/test_doctor_anthropic.py", name="test_clean_run_passes_on_anthropic_s_wire"),
        _Item("doctor/test_expectations.py", name="test_rules"),
    ]
    got = _ids(items, leg, monkeypatch)
    if leg == "3.3":
        assert got == [i.nodeid.removeprefix("tests/") for i in items]
    else:
        assert got == [ci_matrix.DOCTOR_PER_LEG]


def test_the_doctor_case_every_leg_keeps_is_a_real_subprocess_reading_a_connection() -> None:
    """The kept case must exist, and its file must run the doctor as a real process: otherwise
    the legs that vary Airflow would prove nothing about the doctor's connection reading."""
    rel, name = ci_matrix.DOCTOR_PER_LEG.split("::")
    source = (TESTS_ROOT / rel).read_text()
    assert f"def {name}(" in source
    assert "subprocess.run(" in source and "AIRFLOW_CONN_" in source and "--conn-id" in source
    assert [f for f in ci_matrix.AIRFLOW_LEG_ONLY if not (TESTS_ROOT / f).is_file()] == []
    assert {kind_of(TESTS_ROOT / f) for f in ci_matrix.AIRFLOW_LEG_ONLY} == {"airflow"}


def test_the_dialect_params_in_the_tree_are_the_ones_the_rule_knows() -> None:
    """A server param spelled otherwise (``"pg"``, ``"mariadb"``) would slip past the rule."""
    pipeline = (TESTS_ROOT / "pipeline" / "conftest.py").read_text()
    ownership = (TESTS_ROOT / "pipeline" / "test_ownership_pipeline.py").read_text()
    for dialect in ci_matrix.DIALECT_PARAMS:
        assert f'pytest.param("{dialect}"' in pipeline and f'pytest.param("{dialect}"' in ownership
