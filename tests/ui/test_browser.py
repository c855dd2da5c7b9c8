"""The "LLM batches" page in a real browser, on a real Airflow with the provider installed.

Airflow (api-server, scheduler, dag-processor, triggerer, Celery worker; tests/e2e/harness.py)
runs with an auth manager that limits DAGs per user (tests/ui/limited_auth.py) and the local
Together-compatible server behind its connection. ``alice_failures`` finishes with three failed
requests and is loaded into PostgreSQL; then ``alice_running`` is left deferred on a batch the
server holds, and the trigger records its status in the ledger; a follow-up batch of
``alice_failures`` is recorded through the ledger's API. Headless Chromium (Debian's package,
driven by Playwright) logs in as ``alice`` (simple auth manager) and checks the live status with
its age, the summary, the follow-up under its parent, progress, cost, the failure breakdown, the
links, the status filter and the spend switch; ``bob`` sees none of it. Screenshots are saved
under ``artifacts/ui/``; the README's comes from tests/ui/test_make_ui.py.

Run by ``scripts/ui_test.sh`` (CI leg ``ui``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_batch.testing.server import ControlClient, server_process
from tests.e2e.harness import AirflowDeployment, _psql, deployment
from tests.services import require_postgres, require_redis

pytestmark = [pytest.mark.ui, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).resolve().parent / "dags"
ARTIFACTS = Path(os.environ.get("APB_UI_ARTIFACTS", REPO / "artifacts" / "ui"))
CHROMIUM = os.environ.get("APB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
API_KEY = "ui-" + uuid.uuid4().hex
PASSWORDS = {name: f"{name}-{uuid.uuid4().hex[:8]}" for name in ("admin", "alice", "bob")}
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


def _browser_or_skip() -> None:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _write_inputs(folder: Path) -> None:
    def line(custom_id: str, text: str) -> str:
        body = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": text}]}
        return json.dumps({"custom_id": custom_id, "body": body}) + "\n"

    folder.mkdir(parents=True, exist_ok=True)
    failing = {"req-3": "[[fail:server_error]]", "req-7": "[[fail:server_error]]",
               "req-9": "[[fail:context_length_exceeded]]"}  # fmt: skip
    rows = [line(f"req-{n}", failing.get(f"req-{n}", f"question {n}")) for n in range(12)]
    (folder / "failures.jsonl").write_text("".join(rows))
    (folder / "running.jsonl").write_text("".join(line(f"run-{n}", f"later {n}") for n in range(20)))


@pytest.fixture
def airflow(tmp_path: Path) -> Iterator[tuple[AirflowDeployment, ControlClient]]:
    _browser_or_skip()
    require_postgres()
    require_redis()
    _write_inputs(tmp_path / "inputs")
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    warehouse = f"apb_ui_wh_{uuid.uuid4().hex[:8]}"
    _psql(f"CREATE DATABASE {warehouse}")
    home = tmp_path / "airflow"
    home.mkdir()
    try:
        with server_process(API_KEY, "--validating-seconds", "1", "--processing-seconds", "4") as url:
            together = {"conn_type": "together", "password": API_KEY, "host": url}
            env = {
                "PYTHONPATH": str(REPO),
                "APB_UI_INPUTS": str(tmp_path / "inputs"),
                "APB_MIN_POLL_INTERVAL": "0.5",
                "AIRFLOW_CONN_TOGETHER_DEFAULT": json.dumps(together),
                "AIRFLOW_CONN_APB_WAREHOUSE": f"postgresql://postgres@127.0.0.1:5432/{warehouse}",
                "AIRFLOW__CORE__AUTH_MANAGER": "tests.ui.limited_auth.DagLimitedAuthManager",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,alice:viewer,bob:viewer",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            }
            with deployment(home, DAGS, env) as dep:
                resp = httpx.post(f"{dep.api_url}/auth/token", timeout=30,
                                  json={"username": "admin", "password": PASSWORDS["admin"]})  # fmt: skip
                resp.raise_for_status()
                dep._token = resp.json()["access_token"]
                yield dep, ControlClient(url, API_KEY)
    finally:
        _psql(f"DROP DATABASE IF EXISTS {warehouse} WITH (FORCE)")


def _trigger(dep: AirflowDeployment, dag_id: str) -> str:
    dep.wait_dag_parsed(dag_id)
    run_id = f"manual__{dag_id}"
    resp = dep.api("POST", f"/dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None})
    assert resp.status_code in (200, 201), resp.text
    return run_id


def _state(dep: AirflowDeployment, dag_id: str, run_id: str, task_id: str) -> str | None:
    resp = dep.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
    return resp.json().get("state") if resp.status_code == 200 else None


def _run_both(dep: AirflowDeployment, control: ControlClient) -> dict[str, str]:
    done = _trigger(dep, "alice_failures")
    dep.wait_for(lambda: _state(dep, "alice_failures", done, "results") == "success", 300, "results loaded")
    # From now on the server holds new batches IN_PROGRESS for ten minutes.
    control.configure(processing_seconds=600.0)
    running = _trigger(dep, "alice_running")
    dep.wait_for(lambda: _state(dep, "alice_running", running, "submit") == "deferred", 300, "deferred")
    batch_id = dep.xcom("alice_running", running, "submit", "batch_id")
    _follow_up(dep, str(dep.xcom("alice_failures", done, "submit", "batch_id")), done)
    return {"done": done, "running": running, "running_batch": str(batch_id)}


#: The follow-up batch the test records for alice_failures's batch (the results task of this DAG
#: sends none: its failures are permanent), written through the ledger's API as one would be.
FOLLOW_UP = "follow-up-of-alice-failures"


def _follow_up(dep: AirflowDeployment, parent: str, run_id: str) -> None:
    import psycopg2

    from airflow_provider_batch.ledger import BatchOutcome, SubmissionLedger, TaskIdentity

    def connect() -> Any:
        return psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=dep.db_name)

    ledger = SubmissionLedger(connect, dialect="postgres")
    record = ledger.open(
        TaskIdentity("alice_failures", "results", run_id), part_index=0, part_sha256="f" * 64, generation=0,
        request_count=1, endpoint="/v1/chat/completions", together_conn_id="together_default",
        model=MODEL, estimated_cost_usd=0.0001, parent_batch_id=parent,
    )  # fmt: skip
    ledger.record_batch(record, FOLLOW_UP, None, "COMPLETED")
    outcome = {"batch_id": FOLLOW_UP, "dag_id": "alice_failures", "task_id": "results", "run_id": run_id,
               "map_index": -1, "results_table": "ui_results", "summary_table": "ui_results_summary",
               "warehouse_conn_id": "apb_warehouse", "final_status": "COMPLETED", "failures": [],
               "loaded_at": datetime.now(tz=timezone.utc), "cost_usd_batch": 0.0001, "cost_usd_list": 0.0002,
               "savings_usd": 0.0001}  # fmt: skip
    counts = dict.fromkeys(("failed", "missing", "expired", "cancelled"), 0)
    counts.update(requests=1, succeeded=1, prompt_tokens=10, completion_tokens=5, total_tokens=15)
    ledger.record_outcome(BatchOutcome.model_validate({**outcome, **counts}))
    assert ledger.mark_answered(parent, FOLLOW_UP, {"server_error": 1}) == 1


def _reload_until(page: Any, ready: Any, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "the page did not show it in time"
        time.sleep(2)
        page.reload()
        page.frame_locator("iframe").first.locator("div.card").first.wait_for(timeout=60_000)


def _log_in(page: Any, api_url: str, user: str = "alice") -> None:
    page.goto(f"{api_url}/auth/login")
    page.locator("input[name=username], input#username").first.fill(user)
    page.locator("input[type=password]").first.fill(PASSWORDS[user])
    page.locator("button[type=submit], button:has-text('Sign in'), button:has-text('Login')").first.click()
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)


def test_the_page_in_a_browser(airflow: tuple[AirflowDeployment, ControlClient]) -> None:
    from playwright.sync_api import expect, sync_playwright

    dep, control = airflow
    runs = _run_both(dep, control)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Nothing without a login: the page and its API refuse an anonymous browser.
    assert httpx.get(f"{dep.api_url}/together-batches/api/batches", timeout=30).status_code == 401

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            _log_in(page, dep.api_url)
            page.goto(f"{dep.api_url}/plugin/together-batches")
            frame = page.frame_locator("iframe").first
            cards = frame.locator("div.card")
            expect(cards).to_have_count(3, timeout=60_000)  # two batches and a follow-up

            running = frame.locator(f'div.card[data-batch="{runs["running_batch"]}"]')
            # The live status: the trigger records each change in the ledger (the page never asks
            # the API), shown with its age; the submit task had recorded VALIDATING at create.
            _reload_until(page, lambda: running.locator(".badge").inner_text() == "IN_PROGRESS")
            expect(running.locator(".seen")).to_contain_text("as of")
            expect(running.locator(".progress")).not_to_contain_text("unknown")
            expect(running.locator(".progress")).not_to_contain_text("(live)")
            expect(running.locator(".fig-eta")).not_to_contain_text("done")
            expect(running.locator(".fig-requests")).to_contain_text("20")
            # The submit task recorded each part's model and budget estimate in the ledger.
            expect(running.locator(".fig-estimated")).to_contain_text("$")
            expect(running.locator(".fig-model")).to_contain_text(MODEL)

            done = frame.locator("div.card:not(.follow-up)", has_text="alice_failures")
            expect(done.locator(".badge")).to_have_text("COMPLETED")
            expect(done.locator(".failures")).to_contain_text("server_error: 2")
            expect(done.locator(".failures")).to_contain_text("context_length_exceeded: 1")
            for example in ("req-3", "req-7", "req-9"):
                expect(done.locator(".failures")).to_contain_text(example)
            expect(done.locator(".fig-actual")).to_contain_text("$")
            expect(done.locator(".fig-estimated")).to_contain_text("$")
            expect(done.locator(".fig-savings")).to_contain_text("list")
            expect(done.locator(".fig-warehouse")).to_contain_text("ui_results, ui_results_summary")
            task_link = done.locator(f'a[href="/dags/alice_failures/runs/{runs["done"]}/tasks/submit"]')
            expect(task_link).to_have_count(1)
            console = done.locator("a", has_text="Together AI console")
            assert (console.get_attribute("href") or "").endswith("/batches/" + _done_batch(dep, runs))
            expect(frame.locator("svg.spend-chart")).to_have_count(1)
            # Last night at a glance: one running, one finished with three failed requests.
            expect(frame.locator("#summary")).to_contain_text("Batches running1")
            expect(frame.locator("#summary")).to_contain_text("Requests failed2")  # 3, 1 answered
            expect(frame.locator("h1")).to_have_text("LLM batches")
            # The follow-up batch right under its parent; the parent's failure list says which
            # failure it answered.
            done_batch = _done_batch(dep, runs)
            rows = frame.locator("table.batches tr.row").evaluate_all("rs => rs.map(r => r.dataset.batch)")
            assert rows[rows.index(done_batch) + 1] == FOLLOW_UP
            expect(frame.locator(f'div.card.follow-up[data-batch="{FOLLOW_UP}"] .fig-model')).to_contain_text(
                MODEL
            )
            expect(done.locator(".failures")).to_contain_text("1 answered by follow-up")
            page.screenshot(path=str(ARTIFACTS / "together-batches-simple-auth.png"), full_page=True)

            # The status filter finds what the page shows (the ledger's status, not the one at create).
            frame.locator("select[name=status]").select_option("COMPLETED")
            frame.locator("form.filters button[type=submit]").click()
            expect(frame.locator("div.card")).to_have_count(2, timeout=60_000)  # and the follow-up
            expect(frame.locator("div.card .badge")).to_have_text(["COMPLETED", "COMPLETED"])
            # The spend switch: by load date, then back by logical date; the totals row stays.
            frame.locator("a", has_text="by load date").click()
            expect(frame.locator("#spend-switch b")).to_have_text("by load date", timeout=60_000)
            expect(frame.locator("table.spend tr.total")).to_contain_text("Total")

            # The submit task's extra link: the page filtered to that task instance.
            filtered = (f"{dep.api_url}/plugin/together-batches?dag_id=alice_running&run_id="
                        f"{runs['running']}&task_id=submit&map_index=-1")  # fmt: skip
            page.goto(filtered)
            expect(page.frame_locator("iframe").first.locator("div.card")).to_have_count(1, timeout=60_000)
            assert API_KEY not in page.frame_locator("iframe").first.locator("body").inner_html()

            # bob may read none of alice's DAGs: the page shows him no batch, even asked by name.
            other = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            _log_in(other, dep.api_url, "bob")
            other.goto(f"{dep.api_url}/plugin/together-batches?dag_id=alice_failures")
            bobs = other.frame_locator("iframe").first
            expect(bobs.locator("h1")).to_be_visible(timeout=60_000)
            expect(bobs.locator("div.card")).to_have_count(0)
            html = bobs.locator("body").inner_html()
            assert _done_batch(dep, runs) not in html and runs["running_batch"] not in html
            other.screenshot(path=str(ARTIFACTS / "together-batches-no-access.png"), full_page=True)
        finally:
            browser.close()


def _done_batch(dep: AirflowDeployment, runs: dict[str, str]) -> str:
    return str(dep.xcom("alice_failures", runs["done"], "submit", "batch_id"))
