"""The "LLM batches" page: Airflow's real login and auth manager, the ledger, the local server.

The app is the one the plugin mounts, behind Airflow's own ``get_user``; the auth manager is
SimpleAuthManager limited per DAG (tests/ui/limited_auth.py). Status comes from the ledger, as the
tasks recorded it; the local server only proves that a page load never calls the vendor's API.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_provider_batch.ledger import FailureBucket, SubmissionLedger, TaskIdentity
from tests.airflow.test_ledger_outcomes import _outcome

from apb_airflow_helpers import MODEL, write_input
from apb_dag_runs import run_dag, ti_states, xcom

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(120)]
USERS = "admin:admin,alice:viewer,bob:viewer"


@pytest.fixture
def vendor_server(together_server: Any) -> Any:
    """Not parametrised over vendors: ``make_batch`` creates its batches on Together's server."""
    return together_server


@pytest.fixture
def auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from airflow.api_fastapi import app as api_app

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", "tests.ui.limited_auth.DagLimitedAuthManager")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", USERS)
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    # Airflow 3.1 with the lowest PyJWT refuses tokens whose issuer is unset; deployments set one.
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_ISSUER", "airflow")
    api_app.purge_cached_app()
    manager = api_app.init_auth_manager()
    yield manager
    api_app.purge_cached_app()


def _token(manager: Any, name: str) -> str:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    role = "admin" if name == "admin" else "viewer"
    return str(manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role)))


@pytest.fixture
def client(auth: Any) -> TestClient:
    from airflow_provider_batch.ui.app import create_app

    return TestClient(create_app())


def _record(ledger: SubmissionLedger, dag_id: str, batch_id: str, status: str, *, part: int = 0) -> None:
    record = ledger.open(
        TaskIdentity(dag_id, "submit", "manual__1", 0), part_index=part, part_sha256=f"{part:064d}",
        generation=0, request_count=2, endpoint="/v1/chat/completions", together_conn_id="together_default",
        model="meta-llama/Llama-3.3-70B-Instruct-Turbo", estimated_cost_usd=0.0042,
    )  # fmt: skip
    created = datetime.now(tz=timezone.utc) - timedelta(hours=2)
    ledger.record_batch(record, batch_id, created, status)


@pytest.fixture
def batches(together_ledger: SubmissionLedger, together_conn: str, together_server: Any, make_batch: Any
            ) -> dict[str, str]:  # fmt: skip
    """alice's DAG: one batch still running at the local server, one finished with failures;
    bob's DAG: one finished batch."""
    together_server.configure(processing_seconds=3600.0)
    running = make_batch(lines=4)
    _record(together_ledger, "alice_nightly", running, "IN_PROGRESS")
    _record(together_ledger, "alice_nightly", "batch-done", "COMPLETED", part=1)
    failures = [FailureBucket(code="server_error", count=2, examples=["req-3", "req-7"]),
                FailureBucket(code="context_length_exceeded", count=1, examples=["req-9"])]  # fmt: skip
    outcome = _outcome("batch-done", failed=3, failures=failures, dag_id="alice_nightly",
                       loaded_at=datetime.now(tz=timezone.utc))  # fmt: skip
    together_ledger.record_outcome(outcome)
    _record(together_ledger, "bob_weekly", "batch-bob", "COMPLETED")
    return {"running": running}


def test_nothing_without_a_login(client: TestClient, batches: dict[str, str]) -> None:
    assert client.get("/api/batches").status_code == 401
    page = client.get("/page")
    assert page.status_code == 401
    assert "Log in to Airflow" in page.text and "alice_nightly" not in page.text
    bad = client.get("/api/batches", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code in (401, 403)


def test_a_user_sees_only_the_dags_they_may_read(client: TestClient, batches: dict[str, str], auth: Any
                                                 ) -> None:  # fmt: skip
    alice = client.get("/api/batches", headers={"Authorization": f"Bearer {_token(auth, 'alice')}"})
    assert alice.status_code == 200
    assert {b["dag_id"] for b in alice.json()["batches"]} == {"alice_nightly"}
    bob = client.get("/api/batches", headers={"Authorization": f"Bearer {_token(auth, 'bob')}"})
    assert [b["batch_id"] for b in bob.json()["batches"]] == ["batch-bob"]
    # Asking for another user's DAG by name shows nothing.
    sneaky = client.get("/api/batches", params={"dag_id": "alice_nightly"},
                        headers={"Authorization": f"Bearer {_token(auth, 'bob')}"})  # fmt: skip
    assert sneaky.json()["batches"] == []
    admin = client.get("/api/batches", headers={"Authorization": f"Bearer {_token(auth, 'admin')}"})
    assert len(admin.json()["batches"]) == 3


def _api_calls(server: Any) -> int:
    return sum(server.stats()["requests"].values())


def test_the_page_shows_progress_cost_failures_and_links(
    client: TestClient, batches: dict[str, str], auth: Any, together_server: Any
) -> None:
    client.cookies.set("_token", _token(auth, "alice"))  # the UI's session cookie
    calls = _api_calls(together_server)
    data = client.get("/api/batches").json()["batches"]
    running = next(b for b in data if b["batch_id"] == batches["running"])
    # What the submit task recorded, with when: the page never asks the API.
    assert not running["live"] and running["running"] and running["status"] == "IN_PROGRESS"
    assert running["status_as_of"] is not None and running["vendor_name"] == "Together AI"
    assert running["requests"] == 2 and running["estimated_cost_usd"] == pytest.approx(0.0042)
    done = next(b for b in data if b["batch_id"] == "batch-done")
    assert done["status"] == "COMPLETED" and done["progress"] == 100.0 and not done["live"]
    assert [f["code"] for f in done["failures"]] == ["server_error", "context_length_exceeded"]

    html = client.get("/page").text
    assert _api_calls(together_server) == calls  # neither load called the vendor's API
    assert "<h1>LLM batches</h1>" in html and "(live)" not in html and "as of " in html
    assert 'http-equiv="refresh"' in html  # a batch is running: the page reloads itself (ledger only)
    assert "req-3" in html and "req-9" in html and "context_length_exceeded" in html
    assert "$0.0015" in html and "$0.0042" in html  # actual (outcome) and estimated cost
    assert 'href="/dags/alice_nightly/runs/manual__1/tasks/submit/mapped/0"' in html
    assert f'href="{together_server.base_url.removesuffix("/v1")}/batches/batch-done"' in html
    assert ">Together AI console</a>" in html
    assert "llm_results, llm_results_summary (connection warehouse)" in html
    assert '<svg class="spend-chart"' in html
    assert together_server.api_key not in html and "bob_weekly" not in html


def test_fifty_running_batches_load_without_one_api_call(
    client: TestClient, together_ledger: SubmissionLedger, together_server: Any, together_conn: str, auth: Any
) -> None:
    for n in range(50):
        _record(together_ledger, "alice_nightly", f"batch-{n}", "IN_PROGRESS", part=n)
    client.cookies.set("_token", _token(auth, "alice"))
    calls = _api_calls(together_server)
    assert len(client.get("/api/batches", params={"limit": 60}).json()["batches"]) == 50
    assert "batch-49" in client.get("/page", params={"limit": 60}).text
    assert _api_calls(together_server) == calls


def test_a_finished_run_is_found_by_the_status_it_shows(
    client: TestClient, auth: Any, together_conn: str, together_server: Any, tmp_path: Any
) -> None:
    """The submit task records the status it saw when the trigger's event resumed it: a batch
    that finished shows COMPLETED, and the COMPLETED filter finds it (it stayed VALIDATING)."""
    path = write_input(tmp_path / "in.jsonl", 3)
    # A model the price table does not know: its estimate is unknown, never $0.
    path.write_text(path.read_text().replace(MODEL, "acme/unpriced-model"))
    dag_run = run_dag("apb_submit_deferrable", {"input_path": str(path)})
    assert ti_states(dag_run) == {"submit": ("success", 1)}
    batch_id = xcom(dag_run, "submit", "batch_id")
    client.cookies.set("_token", _token(auth, "admin"))
    (shown,) = client.get("/api/batches", params={"dag_id": "apb_submit_deferrable"}).json()["batches"]
    assert (shown["batch_id"], shown["status"], shown["progress"]) == (batch_id, "COMPLETED", 100.0)
    assert shown["model"] == "acme/unpriced-model" and shown["estimated_cost_usd"] is None
    html = client.get("/page", params={"dag_id": "apb_submit_deferrable"}).text
    assert "<b>Estimated cost</b>unknown" in html and "$0.000000" not in html
    for status, found in (("COMPLETED", [batch_id]), ("VALIDATING", []), ("IN_PROGRESS", [])):
        got = client.get("/api/batches", params={"dag_id": "apb_submit_deferrable", "status": status})
        assert [b["batch_id"] for b in got.json()["batches"]] == found, status


def test_the_filters_narrow_to_one_task_instance(client: TestClient, batches: dict[str, str], auth: Any
                                                 ) -> None:  # fmt: skip
    client.cookies.set("_token", _token(auth, "admin"))
    params = {"dag_id": "alice_nightly", "run_id": "manual__1", "task_id": "submit", "map_index": "0",
              "status": "COMPLETED"}  # fmt: skip
    got = client.get("/api/batches", params=params).json()["batches"]
    assert [b["batch_id"] for b in got] == ["batch-done"]
    assert client.get("/api/batches", params={"map_index": "x"}).status_code == 422
    page = client.get("/api/batches", params={"limit": 1}).json()
    assert page["next_offset"] == 1


def test_the_spend_follows_the_filters_with_totals_and_a_date_switch(
    client: TestClient, batches: dict[str, str], auth: Any
) -> None:
    client.cookies.set("_token", _token(auth, "alice"))
    spend = client.get("/api/batches").json()["spend"]
    assert [(d["vendor"], d["batches"]) for d in spend] == [("together", 1)]
    assert client.get("/api/batches", params={"run_id": "other"}).json()["spend"] == []
    assert client.get("/api/batches", params={"vendor": "openai"}).json()["spend"] == []
    html = client.get("/page", params={"spend_by": "loaded"}).text
    assert "<b>by load date</b>" in html and "spend_by=logical" in html
    assert '<tr class="total"><th>Total</th>' in html and "Together AI · meta-llama/" in html
    assert html.count('class="tick"') == 5  # a labelled y-axis
    assert client.get("/api/batches", params={"spend_by": "tomorrow"}).status_code == 422


def test_the_neutral_operators_buttons_have_neutral_names_and_the_page_names_the_vendor() -> None:
    """Airflow names an extra link per class: the neutral operator's buttons say "Batch console"
    and "LLM batches" (never "Together" on an OpenAI task); the page's console link names the vendor."""
    from airflow_provider_batch.operators.batch import BatchOperator, TogetherBatchOperator
    from airflow_provider_batch.sensors.batch import BatchSensor

    assert [link.name for link in BatchOperator.operator_extra_links] == ["Batch console", "LLM batches"]
    assert [link.name for link in BatchSensor.operator_extra_links] == ["Batch console"]
    assert [link.name for link in TogetherBatchOperator.operator_extra_links] == [
        "Together batch", "Together batches",
    ]  # fmt: skip


def test_last_night_grouped_by_run_with_follow_ups_under_their_parent(
    client: TestClient, together_ledger: SubmissionLedger, auth: Any
) -> None:
    night = datetime(2026, 11, 29, tzinfo=timezone.utc)
    for n, day in enumerate((night - timedelta(days=1), night)):
        record = together_ledger.open(
            TaskIdentity("alice_nightly", "submit", f"scheduled__{n}"), part_index=0, part_sha256="0" * 64,
            generation=0, request_count=3, endpoint="/v1/chat/completions",
            together_conn_id="together_default", model="m/a", estimated_cost_usd=0.01, logical_date=day,
        )  # fmt: skip
        together_ledger.record_batch(record, f"parent-{n}", day, "COMPLETED")
    child = together_ledger.open(
        TaskIdentity("alice_nightly", "results.follow_up_1", "scheduled__1"), part_index=0,
        part_sha256="1" * 64, generation=0, request_count=2, endpoint="/v1/chat/completions",
        together_conn_id="together_default", model="m/a", estimated_cost_usd=0.002,
        parent_batch_id="parent-1", logical_date=night,
    )  # fmt: skip
    together_ledger.record_batch(child, "child-1", night, "COMPLETED")
    failures = [FailureBucket(code="server_error", count=2, examples=["r-1", "r-2"])]
    together_ledger.record_outcome(
        _outcome("parent-1", failed=2, failures=failures, dag_id="alice_nightly", loaded_at=night)
    )
    assert together_ledger.mark_answered("parent-1", "child-1", {"server_error": 2}) == 1
    assert together_ledger.mark_answered("parent-1", "child-1", {"server_error": 2}) == 0  # once

    client.cookies.set("_token", _token(auth, "alice"))
    data = client.get("/api/batches").json()["batches"]
    assert [b["batch_id"] for b in data] == ["parent-1", "child-1", "parent-0"]
    assert data[0]["follow_ups"] == ["child-1"] and data[1]["parent_batch_id"] == "parent-1"
    assert (data[1]["model"], data[1]["estimated_cost_usd"]) == ("m/a", 0.002)
    html = client.get("/page").text
    first, second = html.index("Runs of 2026-11-29"), html.index("Runs of 2026-11-28")
    assert first < html.index('<tr class="row', first) < second  # newest run first
    assert html.index('data-batch="child-1"') < second  # the follow-up under its parent
    assert "follow-up of parent-1" in html
    assert "2 answered by follow-up <code>child-1</code>" in html


def test_the_summary_counts_the_whole_window_not_the_page_shown(
    client: TestClient, batches: dict[str, str], auth: Any
) -> None:
    client.cookies.set("_token", _token(auth, "alice"))
    answer = client.get("/api/batches", params={"limit": 1}).json()
    assert len(answer["batches"]) == 1 and answer["next_offset"] == 1
    summary = answer["summary"]
    assert (summary["batches"], summary["running"], summary["finished"]) == (2, 1, 1)
    assert (summary["requests_failed"], summary["requests_waiting"]) == (3, 2)
    assert summary["cost_usd_batch"] == pytest.approx(0.0015)
    html = client.get("/page", params={"limit": 1}).text
    assert "2 batches, all dates" in html and "Batches running</b>1" in html
    # bob's batch is not his to count; a status filter narrows the summary as it does the rows.
    assert client.get("/api/batches", params={"status": "COMPLETED"}).json()["summary"]["batches"] == 1


def test_the_prompt_cache_tokens_a_batch_was_billed_for_are_in_the_json_and_on_the_page(
    client: TestClient, together_ledger: SubmissionLedger, auth: Any
) -> None:
    """An Anthropic batch that wrote and read the prompt cache: its counts, which its spend prices,
    are on its row and in the day's spend (JSON and page); a batch without any shows none."""
    now = datetime.now(tz=timezone.utc)
    for part, batch_id in enumerate(("msgbatch_cached", "msgbatch_plain")):
        record = together_ledger.open(
            TaskIdentity("alice_nightly", "submit", "manual__1", part), part_index=0, part_sha256="c" * 64,
            generation=0, request_count=10, endpoint="/v1/messages", together_conn_id="anthropic_default",
            model="claude-haiku-4-5", estimated_cost_usd=0.01, vendor="anthropic",
        )  # fmt: skip
        together_ledger.record_batch(record, batch_id, now - timedelta(hours=1), "COMPLETED")
        cache = {"cache_creation_tokens": 4_096, "cache_read_tokens": 36_864} if part == 0 else {}
        together_ledger.record_outcome(
            _outcome(batch_id, failed=0, failures=[], dag_id="alice_nightly", loaded_at=now, **cache)
        )

    client.cookies.set("_token", _token(auth, "alice"))
    answer = client.get("/api/batches").json()
    shown = {b["batch_id"]: (b["cache_creation_tokens"], b["cache_read_tokens"]) for b in answer["batches"]}
    assert shown == {"msgbatch_cached": (4_096, 36_864), "msgbatch_plain": (0, 0)}
    (day,) = answer["spend"]
    assert (day["vendor"], day["batches"], day["cache_creation_tokens"], day["cache_read_tokens"]) == (
        "anthropic", 2, 4_096, 36_864,
    )  # fmt: skip
    summary = answer["summary"]
    assert (summary["cache_creation_tokens"], summary["cache_read_tokens"]) == (4_096, 36_864)
    html = client.get("/page").text
    assert html.count("<b>Prompt cache</b>") == 1
    assert "<b>Prompt cache</b>4,096 written / 36,864 read tokens" in html  # the batch's card
    assert "<b>Prompt-cache tokens</b>4,096 written / 36,864 read</div>" in html  # the summary
    assert "<th>Prompt-cache tokens</th>" in html and "<th>4,096 written / 36,864 read</th>" in html
