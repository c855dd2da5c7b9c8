"""The API key appears nowhere: task logs, XCom, rendered fields, trigger kwargs, exception texts."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.hooks.together import TogetherBatchHook

from apb_airflow_helpers import set_connection, write_input
from apb_dag_runs import run_dag, ti_states

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(120)]


def _db_rows_text() -> str:
    """XCom values, rendered template fields and decrypted trigger kwargs, as one text."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.trigger import Trigger
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        parts = [repr(x.value) for x in session.scalars(select(XComModel))]
        parts += [repr(r.rendered_fields) for r in session.scalars(select(RenderedTaskInstanceFields))]
        parts += [repr(t.kwargs) for t in session.scalars(select(Trigger))]
    return "\n".join(parts)


def _db_file_bytes() -> bytes:
    from airflow.configuration import conf

    return Path(conf.get("database", "sql_alchemy_conn").removeprefix("sqlite:///")).read_bytes()


def test_api_key_is_never_exposed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    together_server: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = "sk-apb-" + secrets.token_hex(16)
    together_server.configure(api_key=key)
    set_connection(monkeypatch, together_server, max_retries=0)
    caplog.set_level("DEBUG")

    ok = run_dag("apb_submit_deferrable", {"input_path": str(write_input(tmp_path / "a.jsonl", 2))})
    assert ti_states(ok)["submit"][0] == "success"
    # Polling that keeps failing: an error event, a retry that re-attaches, then a failed task.
    together_server.inject("GET /v1/batches/{id}", "500", times=40)
    broken = run_dag(
        "apb_submit_deferrable", {"input_path": str(write_input(tmp_path / "b.jsonl", 2, tag="b"))}
    )
    assert ti_states(broken)["submit"] == ("failed", 2)
    together_server.clear_faults()
    # A batch that ends FAILED: the sensor raises TogetherBatchFailedError with the manifest.
    together_server.configure(processing_seconds=60)
    with TogetherBatchHook().get_conn() as client:
        failed_id = client.batches.create(client.files.list()[0].id).job.id
    together_server.force_status(failed_id, "FAILED")
    assert ti_states(run_dag("apb_sensor", {"batch_id": failed_id}))["poke"][0] == "failed"

    hook = TogetherBatchHook()
    with hook.get_conn() as client:
        texts = [repr(hook), repr(client), repr(client.settings), str(client.settings)]
    texts.append(repr(TogetherBatchHook.settings_from_connection(hook.connection())))

    out = capfd.readouterr()
    haystack = "\n".join([out.out, out.err, caplog.text, _db_rows_text(), *texts])
    assert "batch" in haystack and "submit" in haystack  # we did look at real output
    assert key not in haystack
    assert key.encode() not in _db_file_bytes()
