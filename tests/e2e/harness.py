"""A real, distributed Airflow deployment for end-to-end tests.

Starts the API server, scheduler, dag-processor, triggerer and a CeleryExecutor worker as
separate processes, with the metadata DB on the local PostgreSQL server and Redis as the Celery
broker. Each deployment gets its own database and Redis DB number and removes them on exit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import psycopg2

PG_DSN_ROOT = "postgresql+psycopg2://postgres@127.0.0.1:5432"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "worker")


def service_up(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def query(db: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one statement run in PostgreSQL database ``db``."""
    with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=db) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def task_log_events(logs: Path, dag_id: str, run_id: str, task_id: str, pattern: str) -> list[str]:
    """Event texts of one task's JSON log files under ``logs`` matching ``pattern``, in file order."""
    folder = logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return [
        " ".join(str(v) for v in json.loads(line).values())
        for path in sorted(folder.glob(pattern))
        for line in path.read_text().splitlines()
        if line.startswith("{")
    ]


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=True,
        capture_output=True,
    )


class AirflowDeployment:
    """Handle on the running processes; created by :func:`deployment`."""

    def __init__(self, home: Path, dags_folder: Path, extra_env: dict[str, str]) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.port = free_port()
        self.db_name = f"apb_e2e_{uuid.uuid4().hex[:8]}"
        self.redis_db = 1 + (os.getpid() % 14)
        # Deployments on one machine may share a Redis DB number: a queue of its own keeps another
        # deployment's worker from taking (and failing, with "Invalid auth token") this one's tasks.
        self.queue = f"apb-e2e-{uuid.uuid4().hex[:8]}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = self._environment(extra_env)
        self.api_url = f"http://127.0.0.1:{self.port}"
        self._token: str | None = None

    def _environment(self, extra_env: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        db = f"{PG_DSN_ROOT}/{self.db_name}"
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://postgres@127.0.0.1:5432/{self.db_name}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.port}",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": "apb-e2e-" + uuid.uuid4().hex,
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                # A task's first call to the execution API (its start) waits 5 s by default: on a
                # loaded 2-core machine the API server's first answers took longer, and the first
                # tasks of a deployment failed before running a line of their own.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # The submission ledger must be shared by every worker: the deployment's database.
                "AIRFLOW_CONN_APB_LEDGER": f"postgresql://postgres@127.0.0.1:5432/{self.db_name}",
                "AIRFLOW__TOGETHER_BATCH__LEDGER_CONN_ID": "apb_ledger",
            }
        )
        env.update(extra_env)
        return env

    # -- processes ---------------------------------------------------------------------------
    def airflow(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, component: str) -> None:
        args = ["celery", "worker", "--concurrency", "2"] if component == "worker" else [component]
        log = open(self.home / f"{component}.log", "ab")  # noqa: SIM115 - owned by the process
        self.procs[component] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, component: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(component, None)
        if proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self, component: str) -> None:
        self.kill(component)
        self.start(component)

    def log(self, component: str) -> str:
        path = self.home / f"{component}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = self.log(name)[-4000:]
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{tail}")

    # -- REST API ----------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            resp = httpx.get(f"{self.api_url}/auth/token", timeout=30)
            if resp.status_code >= 400:
                resp = httpx.post(f"{self.api_url}/auth/token", json={}, timeout=30)
            resp.raise_for_status()
            self._token = resp.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.api_url}/api/v2{path}", headers=headers, timeout=30, **kwargs)

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str, interval: float = 2.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            result = predicate()
            if result:
                return result
            time.sleep(interval)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")

    def wait_api_ready(self, timeout: float = 120) -> None:
        def ready() -> bool:
            try:
                return httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait_for(ready, timeout, "the API server")

    def wait_dag_parsed(self, dag_id: str, timeout: float = 180) -> None:
        self.wait_for(lambda: self.api("GET", f"/dags/{dag_id}").status_code == 200, timeout, f"DAG {dag_id}")

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        resp = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        resp.raise_for_status()
        return dict(resp.json())

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """An XCom value, or ``None`` while there is none."""
        resp = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        return resp.json()["value"] if resp.status_code == 200 else None

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        resp = self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})
        resp.raise_for_status()
        return list(resp.json()["dag_runs"])


@contextmanager
def deployment(
    home: Path, dags_folder: Path, extra_env: dict[str, str] | None = None
) -> Iterator[AirflowDeployment]:
    """Create the database, migrate it, start every component, and tear it all down after."""
    dep = AirflowDeployment(home, dags_folder, extra_env or {})
    _psql(f"CREATE DATABASE {dep.db_name}")
    try:
        dep.airflow("db", "migrate", timeout=600)
        for component in COMPONENTS:
            dep.start(component)
        dep.wait_api_ready()
        yield dep
    finally:
        for component in list(dep.procs):
            dep.kill(component, signal.SIGTERM)
        subprocess.run(["redis-cli", "-n", str(dep.redis_db), "FLUSHDB"], capture_output=True, check=False)
        _psql(f"DROP DATABASE IF EXISTS {dep.db_name} WITH (FORCE)")
