"""The endpoint contract: what the pipeline needs to know about one batch endpoint.

An :class:`Endpoint` is stateless; :func:`~airflow_provider_batch.endpoints.endpoint_for` holds one
instance per path. It says, for its ``path``:

* **request checks**: the ``method`` its lines carry and :meth:`Endpoint.check_body`, which
  appends ``(rule, message)`` pairs for a body that breaks a rule (the validator adds the line
  and the ``custom_id``), before anything is uploaded;
* **request building**: which body fields come from the model and the row
  (:attr:`Endpoint.reserved_fields`), and :meth:`Endpoint.build_body`;
* **the answer shape**: :meth:`Endpoint.read_answer` finds the answer text (or vector) and finish
  reason in a response body; :attr:`Endpoint.usage_keys` names the body's ``usage`` fields;
* **the token estimate** of the budget guard: :meth:`Endpoint.prompt_tokens`,
  :meth:`Endpoint.max_completion_tokens` (``None``: unbounded) and :meth:`Endpoint.completions`;
  an endpoint whose cost cannot be known from the file (Together's audio, billed by duration)
  sets :attr:`Endpoint.estimable` to false.

Nothing here imports the rest of the package: the inputs, the budget guard, the results parser
and the local server import this.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_batch.endpoints._checks import RuleHit, SchemaTokens

__all__ = ["Answer", "Endpoint"]


@dataclass(frozen=True, slots=True)
class Answer:
    """What a 2xx response body answered.

    :ivar text: the answer text (``None`` for a vector, or an answer without text).
    :ivar finish_reason: why generation stopped, as the endpoint reports it.
    :ivar vector: an embedding: one vector (a list of floats), or one per input when the request
        embedded several texts.
    """

    text: str | None = None
    finish_reason: str | None = None
    vector: list[Any] | None = None


class Endpoint(abc.ABC):
    """One batch endpoint (see the module docstring)."""

    #: The endpoint as batches name it, e.g. ``/v1/chat/completions``.
    path: ClassVar[str]
    #: Every line's ``method``: ``"POST"`` (may be omitted) or ``"FILE"`` (Together's audio).
    method: ClassVar[str] = "POST"
    #: ``(prompt, completion, total)`` keys of the body's ``usage``; ``None``: no such count (0).
    usage_keys: ClassVar[tuple[str, str | None, str]] = ("prompt_tokens", "completion_tokens", "total_tokens")
    #: ``usage`` fields of prompt-cache writes and reads counted apart from the prompt tokens, or
    #: ``None`` when the endpoint's prompt tokens include them (or it has no cache).
    cache_usage_keys: ClassVar[tuple[str, str] | None] = None
    #: What a 2xx body must hold to be an answer, as the "no answer" message names it.
    answer_name: ClassVar[str]
    #: Whether answers of this endpoint are read by their shape (Together's chat and audio files).
    reads_by_shape: ClassVar[bool] = False
    #: Whether the budget guard can bound a request's cost from the file.
    estimable: ClassVar[bool] = True
    #: Body fields a built request fills from the model and the row (``body=`` must not set them).
    reserved_fields: ClassVar[frozenset[str]] = frozenset({"model"})
    #: The row column a built request reads: ``"template"`` (``user_template``) or ``"audio_url"``.
    row_source: ClassVar[str] = "template"
    #: The body field that bounds the output, named in the budget guard's refusal when it is not
    #: chat's ``max_tokens`` (``None``: chat's message).
    bound_field: ClassVar[str | None] = None
    #: Body fields the API renders into the prompt (counted by the token estimate).
    prompt_fields: ClassVar[tuple[str, ...]] = ()

    # ---- request checks ------------------------------------------------------------------

    def check_method(self, method: Any, out: list[RuleHit]) -> None:
        """A line's ``method``: absent or ``"POST"``."""
        if method is not None and method != "POST":
            out.append(
                ("method_invalid", f"'method' must be absent or \"POST\" for {self.path}, got {method!r}")
            )

    @abc.abstractmethod
    def check_body(self, body: dict[str, Any], out: list[RuleHit]) -> None:
        """Append ``(rule, message)`` for each rule ``body`` breaks (``model`` is checked already)."""

    # ---- request building ----------------------------------------------------------------

    @abc.abstractmethod
    def build_body(
        self, model: str, value: str, system_prompt: str | None, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The body of a built request: ``value`` is the rendered template (or the audio URL)."""

    # ---- the answer ----------------------------------------------------------------------

    @abc.abstractmethod
    def read_answer(self, body: Any) -> Answer | None:
        """The answer in a 2xx response body, or ``None`` when it holds none."""

    # ---- the token estimate of the budget guard -------------------------------------------

    def schema_tokens(self) -> SchemaTokens:
        """A per-file counter of :attr:`prompt_fields` (it remembers the last schema seen)."""
        return SchemaTokens(self.prompt_fields)

    @abc.abstractmethod
    def prompt_tokens(self, body: dict[str, Any], schema_tokens: SchemaTokens) -> int:
        """Estimated input tokens of one request body."""

    def max_completion_tokens(self, body: dict[str, Any]) -> int | None:
        """The most output tokens one completion may have; ``None`` when the body sets no bound."""
        return None

    def completions(self, body: dict[str, Any]) -> int:
        """Completions one request asks for."""
        return 1

    def __repr__(self) -> str:
        return f"<endpoint {self.path}>"
