"""``make ui`` in a real browser: FAB's roles, last night at a glance, and a clean stop.

``scripts/ui.py --auth fab --data seed`` starts a local Airflow (api-server, scheduler,
dag-processor, triggerer; SQLite) with the FAB auth manager, one user per built-in role and one
with a custom role that may read ``together_nightly_backfill`` only, on the demo data ``make ui``
seeds. Headless Chromium logs in as each of them and opens the page at the address the submit
task's extra link gives (``/together-batches/page``: Viewer and User may not list plugins); as the
admin it opens the page inside Airflow, checks the summary, the follow-up under its parent, the
three vendors with an Anthropic batch's prompt-cache tokens, the status filter and the spend
switch, and takes the README's screenshot. Then SIGINT, as Ctrl-C would: the script must stop
every Airflow process it started.

Run by ``scripts/ui_test.sh`` (CI leg ``ui``), which installs FAB and Playwright.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import free_port
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, _browser_or_skip

pytestmark = [pytest.mark.ui, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "demo-" + os.urandom(4).hex()
EVERY_DAG = {"together_nightly_backfill", "openai_nightly_backfill", "together_ticket_classification",
             "anthropic_ticket_summaries"}  # fmt: skip
SEES = {"admin": EVERY_DAG, "op": EVERY_DAG, "user": EVERY_DAG, "viewer": EVERY_DAG,
        "nightly_reader": {"together_nightly_backfill"}}  # fmt: skip


class MakeUi:
    def __init__(self, proc: subprocess.Popen[str], url: str, out: Path) -> None:
        self.proc, self.url, self.out = proc, url, out

    def output(self) -> str:
        return self.out.read_text(errors="replace")


@pytest.fixture
def make_ui(tmp_path: Path) -> Iterator[MakeUi]:
    pytest.importorskip("airflow.providers.fab", reason="the ui-test extra installs FAB")
    _browser_or_skip()
    pytest.importorskip("playwright")
    port = free_port()
    out = tmp_path / "make-ui.out"
    with open(out, "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "scripts" / "ui.py"), "--auth", "fab", "--data", "seed",
             "--port", str(port), "--home", str(tmp_path / "ui"), "--password", PASSWORD],
            stdout=sink, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
    ui = MakeUi(proc, f"http://localhost:{port}", out)
    try:
        deadline = time.monotonic() + 600
        while "Ctrl-C stops every process" not in ui.output():
            assert proc.poll() is None, ui.output()[-4000:]
            assert time.monotonic() < deadline, "make ui did not come up:\n" + ui.output()[-4000:]
            time.sleep(1)
        yield ui
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _log_in(page: Any, url: str, user: str) -> None:
    page.goto(f"{url}/auth/login/")
    page.locator("input[name=username], input#username").first.fill(user)
    page.locator("input[type=password]").first.fill(PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(lambda u: "/login" not in u, timeout=60_000)


def test_make_ui_with_every_fab_role_then_ctrl_c(make_ui: MakeUi) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = make_ui.url
    assert (
        f"password: {PASSWORD}" in make_ui.output() and f"{url}/plugin/together-batches" in make_ui.output()
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            admin_page = None
            for user, dags in SEES.items():
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                _log_in(page, url, user)
                page.goto(f"{url}/together-batches/page")
                expect(page.locator("h1")).to_have_text("LLM batches", timeout=60_000)
                shown = set(page.locator("div.card").evaluate_all("cs => cs.map(c => c.dataset.dag)"))
                assert shown == dags, (user, shown)
                if user == "admin":
                    admin_page = page
                else:
                    page.context.close()

            # FAB allows 5 logins in 40 s (AUTH_RATE_LIMITED): the admin's session above serves on.
            assert admin_page is not None
            page = admin_page
            page.goto(f"{url}/plugin/together-batches")
            frame = page.frame_locator("iframe").first
            expect(frame.locator("div.card")).to_have_count(10, timeout=60_000)
            # Last night at a glance: every batch of the window, not only those on the page.
            summary = frame.locator("#summary")
            for figure in ("Batches running1", "Finished9", "Failed1", "Requests failed6", "still waiting14"):
                expect(summary).to_contain_text(figure)
            # All three vendors; the Anthropic part that used the prompt cache shows what it was
            # billed for, the other part nothing; the spend table has the day's cache tokens.
            vendors = frame.locator("table.batches tr.row td:nth-child(4)").all_inner_texts()
            assert {v.splitlines()[0] for v in vendors} == {"Together AI", "OpenAI", "Anthropic"}
            cached = frame.locator('div.card[data-batch="msgbatch_01cached"] .fig-prompt')
            expect(cached).to_contain_text("4,096 written / 77,824 read tokens")
            expect(frame.locator('div.card[data-batch="msgbatch_02plain"] .fig-prompt')).to_have_count(0)
            expect(frame.locator("table.spend tr.total")).to_contain_text("4,096 written / 77,824 read")
            expect(summary).to_contain_text("Prompt-cache tokens4,096 written / 77,824 read")
            # The follow-up right under its parent, with its model and estimate; the parent's
            # failure list says which failure it answered.
            rows = frame.locator("table.batches tr.row").evaluate_all("rs => rs.map(r => r.dataset.batch)")
            parent = next(b for b in rows if b.endswith("-7c1e") and f"{b[:-5]}-retry-1" in rows)
            assert rows.index(f"{parent[:-5]}-retry-1") == rows.index(parent) + 1
            follow = frame.locator(f'div.card.follow-up[data-batch="{parent[:-5]}-retry-1"]')
            expect(follow.locator(".fig-model")).to_contain_text("Llama-3.3-70B")
            expect(follow.locator(".fig-estimated")).to_contain_text("$")
            failures = frame.locator(f'div.card[data-batch="{parent}"] .failures')
            expect(failures).to_contain_text("1 answered by follow-up")
            # No request of the mapped part cls-c3 succeeded: red, not a green COMPLETED.
            expect(frame.locator('tr.row[data-batch="cls-c3"] .badge')).to_have_class("badge st-ALLFAILED")
            expect(frame.locator('div.card[data-batch="cls-a1"] .fig-estimated')).to_contain_text("unknown")
            page.screenshot(path=str(ARTIFACTS / "together-batches.png"), full_page=False)
            page.screenshot(path=str(ARTIFACTS / "make-ui-full.png"), full_page=True)

            # The status filter: the running OpenAI batch, with the age of what the ledger says.
            frame.locator("select[name=status]").select_option("IN_PROGRESS")
            frame.locator("form.filters button[type=submit]").click()
            expect(frame.locator("div.card")).to_have_count(1, timeout=60_000)
            expect(frame.locator("div.card .badge")).to_have_text("IN_PROGRESS")
            expect(frame.locator("div.card .seen")).to_contain_text("as of")
            expect(frame.locator("#summary")).to_contain_text("Batches running1")
            # The spend switch keeps the filters; by load date, then back.
            frame.locator("select[name=status]").select_option("")
            frame.locator("form.filters button[type=submit]").click()
            expect(frame.locator("div.card")).to_have_count(10, timeout=60_000)
            frame.locator("a", has_text="by load date").click()
            expect(frame.locator("#spend-switch b")).to_have_text("by load date", timeout=60_000)
            expect(frame.locator("table.spend tr.total")).to_contain_text("Total")
            frame.locator("a", has_text="by logical date").click()
            expect(frame.locator("#spend-switch b")).to_have_text("by logical date", timeout=60_000)
        finally:
            browser.close()

    # Ctrl-C: every Airflow process the script started is gone, and it says so.
    os.killpg(make_ui.proc.pid, signal.SIGINT)
    assert make_ui.proc.wait(timeout=120) == 0, make_ui.output()[-3000:]
    assert "all 4 Airflow processes are gone" in make_ui.output()
    assert _processes_of(make_ui.out.parent / "ui" / "airflow") == []


def _processes_of(home: Path) -> list[str]:
    """The processes running with ``AIRFLOW_HOME=home`` (what the script started had it)."""
    wanted = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found
