"""What the tests need to know about the Airflow version they run on (3.1, 3.2 or 3.3).

``scripts/test_matrix.sh`` runs the default suite on each. A test of a feature an older
version lacks is marked ``requires_3_3`` (or ``requires_3_2``); beside it, a test marked
``before_3_3`` (``before_3_2``) pins the documented fallback on the older versions.
"""

from __future__ import annotations

from typing import Any

import airflow
import pytest
from packaging.version import Version

AIRFLOW_VERSION = Version(Version(airflow.__version__).base_version)
AIRFLOW_V_3_2_PLUS = Version("3.2") <= AIRFLOW_VERSION
AIRFLOW_V_3_3_PLUS = Version("3.3") <= AIRFLOW_VERSION


def _requires(minimum: str, flag: bool) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not flag, reason=f"needs Airflow {minimum} (running {AIRFLOW_VERSION})")


def _before(minimum: str, flag: bool) -> pytest.MarkDecorator:
    return pytest.mark.skipif(flag, reason=f"fallback of Airflow < {minimum} (running {AIRFLOW_VERSION})")


requires_3_2 = _requires("3.2", AIRFLOW_V_3_2_PLUS)
before_3_2 = _before("3.2", AIRFLOW_V_3_2_PLUS)
requires_3_3 = _requires("3.3", AIRFLOW_V_3_3_PLUS)
before_3_3 = _before("3.3", AIRFLOW_V_3_3_PLUS)


def dagbag(path: str) -> Any:
    """A DagBag of ``path``; the class moved to ``airflow.dag_processing`` in 3.2."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag
    return DagBag(path)


def import_string(path: str) -> Any:
    try:
        from airflow.sdk._shared.module_loading import import_string as _import
    except ImportError:  # Airflow 3.1
        from airflow.utils.module_loading import import_string as _import
    return _import(path)


def serde_round_trip(value: Any) -> Any:
    """What the triggerer does to trigger kwargs: serialize, store, deserialize."""
    try:
        from airflow.sdk.serde import deserialize, serialize
    except ImportError:  # Airflow 3.1
        from airflow.serialization.serde import deserialize, serialize
    return deserialize(serialize(value))


def runtime_hooks() -> Any:
    """The hooks the task runtime resolves connection types with."""
    try:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
    except ImportError:  # Airflow 3.1: one ProvidersManager serves both sides
        from airflow.providers_manager import ProvidersManager

        return ProvidersManager().hooks
    return ProvidersManagerTaskRuntime().hooks


def share_in_process_api_server() -> None:
    """Make ``dag.test()`` reuse one in-process execution API, as Airflow 3.3 does.

    Airflow 3.1 and 3.2 build a new one (a FastAPI app with every API version) for each task run,
    2-3 s of CPU each; 3.3 caches it (``functools.lru_cache`` on ``in_process_api_server``). The
    suite runs the same on every version; this only takes that cost out of the older legs.
    """
    if AIRFLOW_V_3_3_PLUS:
        return
    import functools

    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)
