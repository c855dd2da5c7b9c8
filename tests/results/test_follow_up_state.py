"""The state a follow-up round resumes from, including one deferred before it was typed."""

from __future__ import annotations

from airflow_provider_batch.collect.state import Carried, FollowUpState


def test_a_round_deferred_by_the_previous_release_resumes() -> None:
    """0.1.0 kept the result as a plain dict (no ``failures``) and each carried row as a
    positional list; the typed state reads both."""
    old = {
        "round": 1,
        "result": {"batch_ids": ["b-1"], "requests": 3, "counts": {"succeeded": 2, "failed": 1}},
        "endpoint": "/v1/chat/completions",
        "metadata_manifest": None,
        "ledger_conn_id": None,
        "chains": [
            {
                "origin": "b-1",
                "part": 1,
                "batch_id": "b-2",
                "carry": {"req-3": ["failed", 10, 0, 10, 0.00002]},
            }
        ],
    }
    state = FollowUpState.model_validate(old)
    assert state.result.failures == []
    carried = state.chains[0].carry["req-3"]
    assert carried == Carried(status="failed", prompt_tokens=10, completion_tokens=0, total_tokens=10,
                              cost_usd=0.00002)  # fmt: skip
    assert FollowUpState.model_validate(state.model_dump(mode="json")) == state
