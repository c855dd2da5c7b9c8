"""`make ui`: a local Airflow 3 with the "LLM batches" page, on demo data; Ctrl-C stops it all.

    python scripts/ui.py [--port 8080] [--auth simple|fab] [--data auto|demo|seed] [--home DIR]

Starts the api-server, scheduler, dag-processor and triggerer (LocalExecutor, SQLite, the DAGs of
``dags_examples/``, paused) under ``.ui/`` in the repository, prints the address of the page and a
login, and waits. Ctrl-C (or SIGTERM) stops every process it started, and checks that none is left.

What the page shows (``--data``):

* ``demo``: the ledger ``make demo`` filled (``.demo/airflow/together_batch_ledger.db``): the
  nightly backfill it ran, three logical dates, one follow-up batch;
* ``seed``: last night, written into a fresh ledger through the ledger's own API: a three-date
  backfill with failures and a follow-up batch that answered one of them, an OpenAI batch still
  running, a mapped task with a batch in which no request succeeded, an unpriced model, and two
  Anthropic batches, one of which wrote and read the prompt cache;
* ``auto`` (the default): ``demo`` if ``make demo`` has run, else ``seed``.

``--auth simple`` (the default) is Airflow's simple auth manager with one user, ``admin``;
``--auth fab`` is the FAB auth manager (the ``ui-test`` extra installs it) with one user per role:
``admin`` (Admin), ``op`` (Op), ``user`` (User), ``viewer`` (Viewer) and ``nightly_reader`` (a
custom role that may read ``together_nightly_backfill`` only), all with the printed password.
No vendor API is called and no key is needed: the page reads the ledger only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
DEMO_LEDGER = REPO / ".demo" / "airflow" / "together_batch_ledger.db"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SIMPLE = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
#: The FAB users ``--auth fab`` creates: user name -> role (``NightlyReader`` is custom).
FAB_USERS = {
    "admin": "Admin",
    "op": "Op",
    "user": "User",
    "viewer": "Viewer",
    "nightly_reader": "NightlyReader",
}
NIGHTLY = "together_nightly_backfill"
LLAMA = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


# -- demo data ---------------------------------------------------------------------------------


def seed(ledger_path: Path, today: date | None = None) -> dict[str, str]:
    """Write last night into a fresh ledger at ``ledger_path``; returns the batch ids by role."""
    from airflow_provider_batch.ledger import BatchOutcome, FailureBucket, TaskIdentity, sqlite_ledger

    ledger = sqlite_ledger(str(ledger_path))
    last_night = today or datetime.now(tz=timezone.utc).date()
    ids: dict[str, str] = {}

    def batch(
        dag_id: str,
        run_id: str,
        logical: date,
        batch_id: str,
        status: str,
        *,
        task: str = "submit",
        map_index: int = -1,
        requests: int = 12,
        model: str | None = LLAMA,
        estimate: float | None = 0.0031,
        vendor: str = "together",
        parent: str | None = None,
        progress: float | None = None,
    ) -> str:
        record = ledger.open(
            TaskIdentity(dag_id, task, run_id, map_index),
            part_index=0,
            part_sha256=batch_id.ljust(64, "0")[:64],
            generation=0,
            request_count=requests,
            endpoint="/v1/chat/completions",
            together_conn_id=f"{vendor}_default",
            logical_date=datetime(logical.year, logical.month, logical.day, tzinfo=timezone.utc),
            model=model,
            estimated_cost_usd=estimate,
            vendor=vendor,
            parent_batch_id=parent,
        )
        created = datetime.now(tz=timezone.utc) - timedelta(hours=7)
        ledger.record_batch(record, batch_id, created, "VALIDATING")
        ledger.record_status(batch_id, status, progress)
        return batch_id

    def loaded(
        batch_id: str,
        dag_id: str,
        run_id: str,
        succeeded: int,
        failures: list[FailureBucket],
        cost: float,
        *,
        status: str = "COMPLETED",
        task: str = "results",
        map_index: int = -1,
        cache_written: int = 0,
        cache_read: int = 0,
    ) -> None:
        failed = sum(f.count for f in failures)
        ledger.record_outcome(
            BatchOutcome(
                batch_id=batch_id,
                dag_id=dag_id,
                task_id=task,
                run_id=run_id,
                map_index=map_index,
                results_table="ticket_summaries",
                summary_table="ticket_batch_spend",
                warehouse_conn_id="together_warehouse",
                final_status=status,
                requests=succeeded + failed,
                succeeded=succeeded,
                failed=failed,
                missing=0,
                expired=0,
                cancelled=0,
                prompt_tokens=310 * succeeded,
                completion_tokens=90 * succeeded,
                total_tokens=400 * succeeded,
                cost_usd_batch=cost,
                cost_usd_list=2 * cost,
                savings_usd=cost,
                cache_creation_tokens=cache_written,
                cache_read_tokens=cache_read,
                failures=failures,
                loaded_at=datetime.now(tz=timezone.utc) - timedelta(hours=5),
            )
        )

    # The nightly backfill of the last three days, run last night.
    for back in (3, 2, 1):
        day = last_night - timedelta(days=back)
        run_id = f"backfill__{day.isoformat()}T00:00:00+00:00"
        batch_id = batch(NIGHTLY, run_id, day, f"bf-{day:%Y%m%d}-7c1e", "COMPLETED")
        if back == 2:
            ids["with_failures"] = batch_id
            failures = [
                FailureBucket(code="server_error", count=1, examples=[f"T{day:%Y%m%d}-00003"]),
                FailureBucket(code="context_length_exceeded", count=1, examples=[f"T{day:%Y%m%d}-00007"]),
            ]
            loaded(batch_id, NIGHTLY, run_id, 10, failures, 0.0029)
            follow = batch(
                NIGHTLY,
                run_id,
                day,
                f"bf-{day:%Y%m%d}-retry-1",
                "COMPLETED",
                task="results",
                requests=1,
                estimate=0.0003,
                parent=batch_id,
            )
            loaded(follow, NIGHTLY, run_id, 1, [], 0.0003)
            ledger.mark_answered(batch_id, follow, {"server_error": 1})
            ids["follow_up"] = follow
        else:
            loaded(batch_id, NIGHTLY, run_id, 12, [], 0.0031)
    yesterday = last_night - timedelta(days=1)
    scheduled = f"scheduled__{yesterday.isoformat()}T00:00:00+00:00"
    # An OpenAI batch still running, and one waiting in the vendor's queue.
    ids["running"] = batch(
        "openai_nightly_backfill",
        scheduled,
        yesterday,
        "batch_6751c0ffee",
        "IN_PROGRESS",
        requests=40,
        model="gpt-4o-mini",
        estimate=0.0042,
        vendor="openai",
        progress=64.0,
    )
    # A mapped classification task: two parts fine, one where no request succeeded; an unpriced model.
    for index, (tail, answered) in enumerate((("a1", 5), ("b2", 5), ("c3", 0))):
        batch_id = batch(
            "together_ticket_classification",
            scheduled,
            yesterday,
            f"cls-{tail}",
            "COMPLETED",
            map_index=index,
            requests=5,
            model="acme/triage-small",
            estimate=None,
        )
        failures = [] if answered else [FailureBucket(code="invalid_request", count=5, examples=["T1", "T2"])]
        loaded(
            batch_id, "together_ticket_classification", scheduled, answered, failures, 0.0, map_index=index
        )
    ids["all_failed"] = "cls-c3"
    # Anthropic: two parts of a summary run. The first sends a long shared system prompt marked for
    # the prompt cache: its first request writes the cache (1.25x the input rate), the other 19
    # read it (0.1x); the second part's prompts are too short to cache. Claude Haiku 4.5 at $1/$5
    # per million tokens, half price in a batch: 310 prompt + 90 completion tokens per request.
    for index, (tail, written, read) in enumerate((("msgbatch_01cached", 4_096, 19 * 4_096),
                                                   ("msgbatch_02plain", 0, 0))):  # fmt: skip
        batch_id = batch(
            "anthropic_ticket_summaries", scheduled, yesterday, tail, "COMPLETED", map_index=index,
            requests=20, model="claude-haiku-4-5", estimate=0.0076 if not written else 0.0141,
            vendor="anthropic",
        )  # fmt: skip
        cost = (20 * 310 * 1.0 + 20 * 90 * 5.0 + written * 1.25 + read * 0.1) / 1e6 / 2
        loaded(batch_id, "anthropic_ticket_summaries", scheduled, 20, [], round(cost, 6),
               map_index=index, cache_written=written, cache_read=read)  # fmt: skip
        ids["cached" if written else "uncached"] = batch_id
    return ids


# -- processes ---------------------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def environment(home: Path, port: int, auth: str, ledger: Path, password: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API_AUTH__JWT_ISSUER": "airflow",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__TOGETHER_BATCH__LEDGER_PATH": str(ledger),
            # Only for the vendors' console links on the page (no key: the page calls no API).
            "AIRFLOW_CONN_TOGETHER_DEFAULT": json.dumps(
                {"conn_type": "together", "host": "https://api.together.xyz/v1"}
            ),
            "AIRFLOW_CONN_OPENAI_DEFAULT": json.dumps(
                {"conn_type": "openai", "host": "https://api.openai.com/v1"}
            ),
            "AIRFLOW_CONN_ANTHROPIC_DEFAULT": json.dumps(
                {"conn_type": "anthropic", "host": "https://api.anthropic.com/v1"}
            ),
            "AIRFLOW__CORE__AUTH_MANAGER": FAB if auth == "fab" else SIMPLE,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        }
    )
    (home / "passwords.json").write_text(json.dumps({"admin": password}))
    return env


_FAB_USERS_SCRIPT = """
import json, sys
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
users, password = json.loads(sys.argv[1]), sys.argv[2]
with get_application_builder() as appbuilder:
    sm = appbuilder.sm
    custom = sm.find_role("NightlyReader") or sm.add_role("NightlyReader")
    for action in ("can_read",):
        sm.add_permission_to_role(custom, sm.create_permission(action, "DAG:together_nightly_backfill"))
    for name, role in users.items():
        if not sm.find_user(username=name):
            sm.add_user(name, name, "Demo", f"{name}@example.org", [sm.find_role(role)], password=password)
"""


class Deployment:
    """The four Airflow processes, each in its own process group, logs under ``home/logs``."""

    def __init__(self, env: dict[str, str], home: Path) -> None:
        self.env, self.home = env, home
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def run(self, *args: str) -> None:
        done = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise SystemExit(f"{' '.join(args[:4])} failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")

    def start(self) -> None:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name in COMPONENTS:
            with open(logs / f"{name}.log", "ab") as out:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "airflow", name],
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def stop(self, grace: float = 30.0) -> list[str]:
        """SIGTERM every process group, SIGKILL what is left after ``grace``; returns the groups
        that still had a process after all that (none, normally)."""
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_group_alive(p.pid) for p in self.procs.values()):
            for proc in self.procs.values():
                proc.poll()
            time.sleep(0.3)
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        time.sleep(0.2)
        return [name for name, proc in self.procs.items() if _group_alive(proc.pid)]


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader still counts for killpg; a group whose members all exited does not.
    return _group_members(pgid) > 0


def _group_members(pgid: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            count += 1
    return count


def _wait_ready(dep: Deployment, url: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = dep.dead()
        if dead:
            log = (dep.home / "logs" / f"{dead[0]}.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"airflow {dead[0]} exited early; the end of its log:\n{log}")
        try:
            if httpx.get(f"{url}/api/v2/monitor/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    raise SystemExit(f"the api-server did not answer at {url} within {timeout:.0f}s")


class _Stop(Exception):
    pass


def _on_signal(signum: int, frame: Any) -> None:
    raise _Stop(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--auth", choices=("simple", "fab"), default="simple")
    parser.add_argument("--data", choices=("auto", "demo", "seed"), default="auto")
    parser.add_argument("--home", type=Path, default=REPO / ".ui")
    parser.add_argument("--password", default=None, help="default: a new random one, printed")
    args = parser.parse_args(argv)

    if not _port_free(args.port):
        raise SystemExit(f"port {args.port} is in use; choose another: make ui PORT=8090")
    data = args.data if args.data != "auto" else ("demo" if DEMO_LEDGER.exists() else "seed")
    if data == "demo" and not DEMO_LEDGER.exists():
        raise SystemExit(f"no {DEMO_LEDGER}: run `make demo` first, or use --data seed")
    shutil.rmtree(args.home, ignore_errors=True)
    home = args.home / "airflow"
    home.mkdir(parents=True)
    ledger = DEMO_LEDGER if data == "demo" else args.home / "ledger.db"
    if data == "seed":
        seed(ledger)
    password = args.password or secrets.token_urlsafe(9)
    url = f"http://localhost:{args.port}"
    env = environment(home, args.port, args.auth, ledger, password)
    dep = Deployment(env, home)
    started = time.monotonic()
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        print(f"ui: preparing Airflow's database under {home} (about a minute)...", flush=True)
        dep.run(sys.executable, "-m", "airflow", "db", "migrate")
        if args.auth == "fab":
            dep.run(sys.executable, "-c", _FAB_USERS_SCRIPT, json.dumps(FAB_USERS), password)
        print(f"ui: starting {', '.join(COMPONENTS)} (logs in {home / 'logs'})...", flush=True)
        dep.start()
        _wait_ready(dep, url)
        users = ", ".join(FAB_USERS) if args.auth == "fab" else "admin"
        source = "the ledger `make demo` filled" if data == "demo" else "demo data (last night, seeded)"
        print(
            f"\nui: the LLM batches page, with {source}:\n"
            f"      {url}/plugin/together-batches   (Admin menu: Plugins > LLM batches)\n"
            f"      {url}/together-batches/page     (the page alone)\n"
            f"    log in at {url} as {users}; password: {password}\n"
            f"    (up in {time.monotonic() - started:.0f} s)\n"
            "    Ctrl-C stops every process.",
            flush=True,
        )
        while True:
            dead = dep.dead()
            if dead:
                print(f"ui: airflow {dead[0]} exited; see {home / 'logs' / (dead[0] + '.log')}", flush=True)
                return 1
            time.sleep(1.0)
    except _Stop as stop:
        print(f"\nui: {stop}: stopping...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        left = dep.stop()
        if left:
            print(f"ui: still running after SIGKILL: {', '.join(left)}", flush=True)
        else:
            print(f"ui: stopped; all {len(dep.procs)} Airflow processes are gone.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
