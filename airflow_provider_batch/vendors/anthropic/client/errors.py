"""Errors of the Anthropic client: the shared hierarchy of :mod:`airflow_provider_batch.client.errors`,
plus the outcome of a create that failed ambiguously (Anthropic's batches carry no metadata and
its API takes no idempotency key, so the client cannot tell whether the create took effect)."""

from __future__ import annotations

from airflow_provider_batch.client.errors import TogetherError

__all__ = ["UnverifiableCreateError"]


class UnverifiableCreateError(TogetherError):
    """A create failed in a way that may have reached the server; it is not sent again (that could
    pay twice). The submission ledger's recovery decides on the next try."""

    def __init__(self, body_name: str) -> None:
        self.body_name = body_name
        super().__init__(
            f"POST /messages/batches ({body_name}) may have created a batch; it is not re-sent, "
            "because Anthropic's batches carry no metadata to find it by. The next try looks for it "
            "with the submission ledger and refuses to guess"
        )
