"""common.ai batch requests -> the pipeline's input lines, and their validation before any upload.

A common.ai request is ``{"prompt", "model"?, "system_prompt"?, "max_tokens"?, "params"?}``. Its
line in the input file is ``{"custom_id": "<key16>-<index>", "body": {...}}`` (the vendor writes
its own wire from it at upload time): the ``custom_id`` shape is common.ai's (its results layer
parses the index back out of it; a 16-hex key and a decimal index also match Anthropic's
``^[a-zA-Z0-9_-]{1,64}$``), the body is the endpoint's (:meth:`Endpoint.build_body
<airflow_provider_batch.endpoints.base.Endpoint.build_body>`): a chat-completions body with the
system prompt as a ``system`` message, or a Messages body with it in ``system``. The token cap is
``max_tokens`` on both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from airflow.providers.common.ai.exceptions import LLMBatchInputError, LLMBatchLimitExceededError

from airflow_provider_batch.endpoints import CHAT_COMPLETIONS, MESSAGES, endpoint_for
from airflow_provider_batch.inputs.limits import CHAT_ENDPOINT, BatchLimits
from airflow_provider_batch.inputs.validate import ValidationReport, validate_batch_file

__all__ = [
    "CHAT_ENDPOINT",
    "LineBuilder",
    "custom_id_for",
    "index_from_custom_id",
    "output_directive",
    "raise_for_report",
    "validate_lines",
    "write_jsonl",
]

#: Validator rules that mean "too big for one batch", answered with ``.expand()``.
_SIZE_RULES = frozenset({"too_many_lines", "file_too_large", "line_too_large", "custom_id_too_long"})
_PROBLEMS_SHOWN = 10
#: Body keys the adapter owns on every endpoint (beside the endpoint's reserved fields): a
#: request's ``params`` cannot replace them.
_MANAGED_KEYS = frozenset({"model", "messages", "max_tokens", "max_completion_tokens"})

#: Structured output per endpoint: its body fields for a JSON schema named ``name``.
_DIRECTIVES: dict[str, Callable[[str, Mapping[str, Any]], dict[str, Any]]] = {
    CHAT_COMPLETIONS: lambda name, schema: {
        "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    },
    MESSAGES: lambda name, schema: {"output_config": {"format": {"type": "json_schema", "schema": schema}}},
}


def output_directive(endpoint: str, name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The body fields asking ``endpoint`` for JSON that follows ``schema``.

    :raises ValueError: the endpoint has no structured output this adapter knows.
    """
    try:
        build = _DIRECTIVES[endpoint]
    except KeyError:
        raise ValueError(f"common.ai's structured output is not supported on {endpoint}") from None
    return build(name, dict(schema))


def custom_id_for(idempotency_key: str, index: int) -> str:
    """The ``custom_id`` of request ``index``: common.ai's ``<key16>-<index>`` shape."""
    return f"{idempotency_key}-{index}"


def index_from_custom_id(custom_id: str) -> int | None:
    """The request index in a ``<key16>-<index>`` custom_id, or ``None`` for a foreign one."""
    _, sep, tail = custom_id.rpartition("-")
    return int(tail) if sep and tail.isdigit() else None


class LineBuilder:
    """Builds the input lines of one common.ai batch.

    :param resolve_model: the adapter's ``resolve_request_model`` (rejects a foreign prefix).
    :param endpoint: the batch's endpoint, whose body shape the lines take.
    :param model: the batch's bare model name.
    :param directive: body fields for structured output (``{}`` for plain text).
    :param system_prompt: batch-level system prompt; a request's own wins.
    :param max_tokens: batch-level token cap; a request's own wins.
    :param request_params: extra body fields of every request; a request's ``params`` win.
    """

    def __init__(
        self,
        resolve_model: Callable[..., str],
        *,
        endpoint: str = CHAT_ENDPOINT,
        model: str,
        directive: Mapping[str, Any],
        system_prompt: str = "",
        max_tokens: int = 1024,
        request_params: Mapping[str, Any] | None = None,
    ) -> None:
        self._resolve_model = resolve_model
        self._endpoint = endpoint_for(endpoint)
        self._managed = _MANAGED_KEYS | self._endpoint.reserved_fields
        self.model = model
        self.directive = dict(directive)
        self.system_prompt = system_prompt
        self.max_tokens = max_tokens
        self.request_params = dict(request_params or {})

    def body(self, request: Mapping[str, Any], index: int) -> dict[str, Any]:
        """The endpoint's body of one request."""
        system_prompt = request.get("system_prompt") or self.system_prompt
        body = {**self.request_params, **(request.get("params") or {})}
        for key in self._managed:
            body.pop(key, None)
        model = self._resolve_model(request.get("model"), default_bare_model=self.model, request_index=index)
        body.update(self._endpoint.build_body(model, request["prompt"], system_prompt or None, {}))
        body["max_tokens"] = request.get("max_tokens") or self.max_tokens
        body.update(self.directive)
        return body

    def lines(self, requests: Iterable[Mapping[str, Any]], idempotency_key: str) -> Iterator[dict[str, Any]]:
        """One input line per request, lazily, in request order."""
        for index, request in enumerate(requests):
            yield {"custom_id": custom_id_for(idempotency_key, index), "body": self.body(request, index)}


def write_jsonl(lines: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write ``lines`` as compact UTF-8 JSONL; returns the number of lines."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
            count += 1
    return count


def validate_lines(
    path: Path,
    limits: BatchLimits,
    endpoint: str = CHAT_ENDPOINT,
    endpoints: Iterable[str] = (CHAT_ENDPOINT,),
) -> ValidationReport:
    """Run the provider's own input validator over a written input file (totals included), with
    the vendor's limits (its ``custom_id`` pattern too) and endpoints."""
    return validate_batch_file(
        path, endpoint=endpoint, limits=limits, check_totals=True, endpoints=tuple(endpoints)
    )


def raise_for_report(
    report: ValidationReport, *, limits: BatchLimits, directive_bytes: int, vendor: str = "Together"
) -> None:
    """Turn validator problems into common.ai's input errors, each with its remedy.

    :raises LLMBatchLimitExceededError: the batch is over one of the vendor's size limits.
    :raises LLMBatchInputError: a request breaks one of the vendor's line rules.
    """
    if report.ok:
        return
    rules = {p.rule for p in report.problems}
    shown = "; ".join(str(p) for p in report.problems[:_PROBLEMS_SHOWN])
    more = len(report.problems) - _PROBLEMS_SHOWN
    if more > 0:
        shown += f"; ... and {more} more"
    if rules & _SIZE_RULES:
        schema_note = ""
        if directive_bytes:
            schema_note = f" (the output_type schema adds ~{directive_bytes} bytes to every request)"
        raise LLMBatchLimitExceededError(
            f"This batch does not fit one {vendor} batch: at most {limits.max_lines} requests, "
            f"{limits.max_bytes} bytes per input file, {limits.max_line_bytes} bytes per request and "
            f"{limits.max_custom_id_len}-character custom_ids; it has {report.lines} requests in "
            f"{report.bytes} bytes{schema_note}. Split the input across mapped task instances with "
            f".expand(), or use BatchOperator, which splits one input into several batches. "
            f"Nothing was submitted. Problems: {shown}"
        )
    raise LLMBatchInputError(
        f"{len(report.problems)} problem(s) in the requests for {vendor}'s batch API; nothing was "
        f"submitted. Fix the prompts, params or model names named below. Problems: {shown}"
    )
