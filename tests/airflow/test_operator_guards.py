"""What the submit operator refuses (or skips) before any upload: unbounded or over-budget inputs,
audio batches under a budget, empty inputs. Each case asserts the local server saw no upload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch._compat import AirflowFailException, AirflowSkipException
from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.vendors import vendor_named

from apb_airflow_helpers import MODEL, FakeTI, context

pytestmark = [pytest.mark.usefixtures("vendor_conn"), pytest.mark.timeout(60)]

AUDIO = "/v1/audio/transcriptions"


def _write(path: Path, bodies: list[dict[str, Any]]) -> Path:
    lines = []
    for i, extra in enumerate(bodies):
        body = {"model": MODEL, "messages": [{"role": "user", "content": f"Say {i}"}], **extra}
        lines.append(json.dumps({"custom_id": f"req-{i}", "body": body}) + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _op(path: Path, **kwargs: Any) -> TogetherBatchOperator:
    return TogetherBatchOperator(task_id="submit", input_path=str(path), poll_interval=0.05, **kwargs)


def test_missing_max_tokens_is_refused_before_upload(tmp_path: Path, vendor_server: Any) -> None:
    path = _write(tmp_path / "in.jsonl", [{"max_tokens": 16}, {}, {"max_tokens": 16}])
    with pytest.raises(AirflowFailException) as caught:
        _op(path, max_cost_usd=100).execute(context())
    message = str(caught.value)
    assert "line 2 (custom_id='req-1'): max_tokens_required" in message
    assert "assumed_max_tokens" in message and "Nothing was uploaded" in message
    assert vendor_server.stats()["uploads"] == 0


def test_assumed_max_tokens_lets_it_through(tmp_path: Path, vendor_server: Any) -> None:
    path = _write(tmp_path / "in.jsonl", [{"max_tokens": 16}, {}])
    _op(path, max_cost_usd=100, assumed_max_tokens=256, wait_for_completion=False).execute(context())
    stats = vendor_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)


def test_n_completions_count_against_the_budget(tmp_path: Path, vendor_server: Any) -> None:
    # 50 x 2,000 tokens at $0.09 per 1M (batch price of the 8B model): $0.009 with n=1, $0.09 with n=10.
    path = _write(tmp_path / "in.jsonl", [{"max_tokens": 2000, "n": 10}] * 50)
    with pytest.raises(AirflowFailException, match=r"estimated batch cost \$0\.090.*max_cost_usd=\$0\.0500"):
        _op(path, max_cost_usd=0.05).execute(context())
    assert vendor_server.stats()["uploads"] == 0


def test_a_budget_on_an_audio_endpoint_is_refused_at_parse() -> None:
    with pytest.raises(ValueError, match="audio batches are not budget-checked"):
        TogetherBatchOperator(task_id="submit", input_path="in.jsonl", endpoint=AUDIO, max_cost_usd=5)


def test_a_templated_audio_endpoint_under_a_budget_is_refused_before_upload(
    tmp_path: Path, vendor_server: Any
) -> None:
    path = tmp_path / "clips.jsonl"
    line = {
        "custom_id": "c",
        "method": "FILE",
        "body": {"model": "openai/whisper-large-v3", "file": "https://a.test/x.wav"},
    }
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    op = _op(path, endpoint="{{ params.endpoint }}", max_cost_usd=5)
    op.endpoint = AUDIO  # as rendered
    # A vendor that takes audio batches cannot price them; one that takes none refuses the endpoint.
    takes_audio = AUDIO in vendor_named(vendor_server.vendor).endpoints
    refusal = f"cannot be checked for {AUDIO}" if takes_audio else f"do not take endpoint '{AUDIO}'"
    with pytest.raises(AirflowFailException, match=refusal):
        op.execute(context())
    assert vendor_server.stats()["uploads"] == 0


def test_an_empty_input_fails_by_default(tmp_path: Path, vendor_server: Any) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(AirflowFailException) as caught:
        _op(path).execute(context())
    assert f"batch input {path} is empty: no requests" in str(caught.value)
    assert "on_empty='fail'" in str(caught.value) and "on_empty='skip'" in str(caught.value)
    assert vendor_server.stats()["uploads"] == 0


def test_an_empty_input_skips_with_on_empty_skip(tmp_path: Path, vendor_server: Any) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    ti_context = context()
    with pytest.raises(AirflowSkipException, match="no requests, so there is nothing to submit; skipping"):
        _op(path, on_empty="skip").execute(ti_context)
    assert vendor_server.stats()["uploads"] == 0 and ti_context["ti"].xcom == {}


def test_on_empty_must_be_skip_or_fail() -> None:
    with pytest.raises(ValueError, match="on_empty must be 'skip' or 'fail', got 'ignore'"):
        TogetherBatchOperator(task_id="submit", input_path="in.jsonl", on_empty="ignore")


def test_a_custom_id_with_nul_is_refused_before_upload(tmp_path: Path, vendor_server: Any) -> None:
    """PostgreSQL text cannot hold U+0000: such a request would be paid for and never load."""
    path = _write(tmp_path / "in.jsonl", [{"max_tokens": 16}] * 3)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace('"req-1"', '"req\\u00001"')
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(AirflowFailException) as caught:
        _op(path).execute(context())
    message = str(caught.value)
    assert "line 2 (custom_id='req\\x001'): custom_id_nul: 'custom_id' holds U+0000 (NUL)" in message
    assert "nothing uploaded" in message
    stats = vendor_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (0, 0)


UNPRICED = "acme/unpriced-model-7b"


def _unpriced_input(path: Path) -> Path:
    body = {"model": UNPRICED, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 16}
    path.write_text(json.dumps({"custom_id": "req-0", "body": body}) + "\n", encoding="utf-8")
    return path


def test_an_unpriced_model_under_a_budget_names_remedies_that_work(
    tmp_path: Path, vendor_server: Any
) -> None:
    """Every remedy the refusal names is an argument the operator takes, and each one lets it through."""
    path = _unpriced_input(tmp_path / "in.jsonl")
    with pytest.raises(AirflowFailException) as caught:
        _op(path, max_cost_usd=1).execute(context())
    message = str(caught.value)
    assert f"no price for {UNPRICED}" in message and "Nothing was uploaded" in message
    assert "price_table=" in message and "allow_unpriced=True" in message
    assert vendor_server.stats()["uploads"] == 0

    prices = {"models": {UNPRICED: {"input_per_1m": 0.2, "output_per_1m": 0.2}}}
    remedies: list[dict[str, Any]] = [{"allow_unpriced": True}, {"price_table": prices}]
    for n, remedy in enumerate(remedies, start=1):
        _op(path, max_cost_usd=1, wait_for_completion=False, **remedy).execute(
            context(FakeTI(run_id=f"r{n}"))
        )
        stats = vendor_server.stats()
        assert (stats["uploads"], stats["batch_creates"]) == (n, n), remedy


def test_the_price_table_remedy_still_enforces_the_limit(tmp_path: Path, vendor_server: Any) -> None:
    path = _unpriced_input(tmp_path / "in.jsonl")
    prices = {"models": {UNPRICED: {"input_per_1m": 1e6, "output_per_1m": 1e6}}}
    with pytest.raises(AirflowFailException, match="exceeds the limit max_cost_usd"):
        _op(path, max_cost_usd=1, price_table=prices).execute(context())
    assert vendor_server.stats()["uploads"] == 0


def test_max_tokens_in_the_body_is_a_remedy_that_works(tmp_path: Path, vendor_server: Any) -> None:
    """The unbounded-cost refusal's first remedy (its second, assumed_max_tokens, is tested above)."""
    path = _write(tmp_path / "in.jsonl", [{"max_tokens": 16}, {}])
    with pytest.raises(AirflowFailException, match="set max_tokens in every request body"):
        _op(path, max_cost_usd=100).execute(context())
    _write(path, [{"max_tokens": 16}, {"max_tokens": 16}])
    _op(path, max_cost_usd=100, wait_for_completion=False).execute(context())
    assert vendor_server.stats()["batch_creates"] == 1
