"""The follow-up re-send rule and its argument checks (pure functions, no I/O)."""

from __future__ import annotations

import pytest

from airflow_provider_batch.collect.follow_up import (
    DEFAULT_FOLLOW_UP_STATUSES,
    check_follow_up_args,
    is_permanent_error,
    should_follow_up,
)


@pytest.mark.parametrize(
    "code", ["invalid_model", "INVALID_MODEL", "context_length_exceeded", "400", "404", "422"]
)
def test_permanent_errors_are_never_re_sent(code: str) -> None:
    assert is_permanent_error(code)
    assert not should_follow_up("failed", code, DEFAULT_FOLLOW_UP_STATUSES)


@pytest.mark.parametrize(
    "code", [None, "", "timeout", "server_overloaded", "rate_limited", "unknown", "408", "429", "500", "503"]
)
def test_transient_failures_are_re_sent(code: str | None) -> None:
    assert not is_permanent_error(code)
    assert should_follow_up("failed", code, DEFAULT_FOLLOW_UP_STATUSES)


def test_statuses_choose_what_is_re_sent() -> None:
    assert should_follow_up("missing", None, DEFAULT_FOLLOW_UP_STATUSES)
    for status in ("succeeded", "expired", "cancelled"):
        assert not should_follow_up(status, None, DEFAULT_FOLLOW_UP_STATUSES)
    assert should_follow_up("expired", None, ("expired",))
    assert not should_follow_up("failed", "timeout", ("missing",))


@pytest.mark.parametrize("rounds", [-1, 4, 1.0, True, "1"])
def test_rounds_are_bounded(rounds: object) -> None:
    with pytest.raises(ValueError, match="follow_up_rounds"):
        check_follow_up_args(rounds, DEFAULT_FOLLOW_UP_STATUSES)  # type: ignore[arg-type]


def test_unknown_statuses_are_refused() -> None:
    with pytest.raises(ValueError, match=r"not \['succeeded'\]"):
        check_follow_up_args(1, ["failed", "succeeded"])
    assert check_follow_up_args(3, ["failed"]) == ("failed",)


def test_only_completed_or_expired_batches_are_followed_up() -> None:
    from airflow_provider_batch.client.models import BatchStatus
    from airflow_provider_batch.collect.follow_up import can_follow_up

    assert can_follow_up("COMPLETED") and can_follow_up(BatchStatus.EXPIRED)
    for status in ("FAILED", "CANCELLED", "CANCELING", "IN_PROGRESS", "VALIDATING"):
        assert not can_follow_up(status)
