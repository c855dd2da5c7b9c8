"""Who may open the "LLM batches" page under the FAB auth manager: every role that may read a DAG.

Airflow's real FAB auth manager (apache-airflow-providers-fab, from the ``ui-test`` extra) with its
built-in roles Viewer, User, Op and Admin, and a custom role that may read one DAG only. Each user
opens the page and its JSON API with their own token (the UI's session cookie and a bearer
token), and through the address the submit task's extra link gives: each sees exactly the
batches of the DAGs FAB lets them read. Viewer and User may not list plugins (so Airflow shows
them no menu entry and ``/plugin/...`` is a 404): the link must not lead there.

Marker ``ui``: run by ``scripts/ui_test.sh`` (CI leg ``ui``), which installs FAB.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from airflow_provider_batch.ledger import SubmissionLedger, TaskIdentity

pytestmark = [pytest.mark.ui, pytest.mark.timeout(300)]

FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
DAGS = {"alice_nightly": "batch-alice", "bob_weekly": "batch-bob"}
ROLES = ("Viewer", "User", "Op", "Admin")


@pytest.fixture
def fab(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The FAB auth manager, and one user per built-in role plus ``custom`` (reads alice_nightly)."""
    pytest.importorskip("airflow.providers.fab", reason="the ui-test extra installs FAB")
    from airflow.api_fastapi import app as api_app
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
    from airflow.utils import db

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", FAB)
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_ISSUER", "airflow")
    db.initdb()
    api_app.purge_cached_app()
    manager = api_app.init_auth_manager()
    tag = uuid.uuid4().hex[:8]
    users: dict[str, Any] = {}
    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        custom = sm.add_role(f"reads_alice_{tag}")
        sm.add_permission_to_role(custom, sm.create_permission("can_read", "DAG:alice_nightly"))
        for role in (*ROLES, "custom"):
            granted = custom if role == "custom" else sm.find_role(role)
            name = f"{role.lower()}_{tag}"
            users[role] = sm.add_user(name, role, "Tester", f"{name}@example.org", [granted], password=tag)
        yield manager, users
    api_app.purge_cached_app()


@pytest.fixture
def ledger_with_two_dags(together_ledger: SubmissionLedger) -> SubmissionLedger:
    for dag_id, batch_id in DAGS.items():
        record = together_ledger.open(
            TaskIdentity(dag_id, "submit", "manual__1"), part_index=0, part_sha256="0" * 64, generation=0,
            request_count=2, endpoint="/v1/chat/completions", together_conn_id="together_default",
        )  # fmt: skip
        created = datetime.now(tz=timezone.utc) - timedelta(hours=1)
        together_ledger.record_batch(record, batch_id, created, "IN_PROGRESS")
    return together_ledger


def _client() -> TestClient:
    from airflow_provider_batch.ui.app import create_app

    return TestClient(create_app())


@pytest.mark.parametrize("role", [*ROLES, "custom"])
def test_every_role_that_reads_a_dag_sees_exactly_its_batches(
    fab: tuple[Any, dict[str, Any]], ledger_with_two_dags: SubmissionLedger, role: str
) -> None:
    manager, users = fab
    token = manager.generate_jwt(users[role])
    expected = {"alice_nightly"} if role == "custom" else set(DAGS)

    api = _client().get("/api/batches", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200, api.text
    assert {b["dag_id"] for b in api.json()["batches"]} == expected

    browser = _client()
    browser.cookies.set("_token", token)  # the UI's session cookie
    page = browser.get("/page")
    assert page.status_code == 200
    assert {dag for dag, batch in DAGS.items() if f'data-batch="{batch}"' in page.text} == expected


def test_the_extra_link_leads_a_viewer_to_the_page_not_to_a_404(
    fab: tuple[Any, dict[str, Any]],
    ledger_with_two_dags: SubmissionLedger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView

    from airflow_provider_batch.links import TogetherBatchesPageLink

    manager, users = fab
    viewer = users["Viewer"]
    # Airflow lists plugin pages (menu entry, /plugin/...) only to users who may list plugins.
    assert not manager.is_authorized_view(access_view=AccessView.PLUGINS, user=viewer)

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example/")

    class Key:
        dag_id, run_id, task_id, map_index = "alice_nightly", "manual__1", "submit", -1

    url = urlsplit(TogetherBatchesPageLink().get_link(None, ti_key=Key()))
    assert url.path.startswith("/together-batches/"), url  # the app's own address
    browser = _client()
    browser.cookies.set("_token", manager.generate_jwt(viewer))
    page = browser.get(url.path.removeprefix("/together-batches") + "?" + url.query)
    assert page.status_code == 200 and 'data-batch="batch-alice"' in page.text
    assert 'data-batch="batch-bob"' not in page.text  # filtered to the task instance
