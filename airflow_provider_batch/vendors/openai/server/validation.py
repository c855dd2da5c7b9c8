"""OpenAI's input-file rules: a file that breaks one fails the whole batch (``status=failed``, the
reason in ``errors.data[]`` with ``code``, ``message``, ``param`` and the 1-based ``line``).

Sources: OpenAI's Batch guide and API reference (one endpoint and one model per file, ``method``
``POST``, ``url`` equal to the batch's endpoint, a unique ``custom_id``, 50,000 requests and
200 MB per file) and the ``BatchError`` type of the ``openai`` SDK (``types/batch_error.py``) for
the shape. The codes are as the live API reports them where that is on record
(``invalid_json_line``, ``duplicate_custom_id``); OpenAI does not document the others, so these
are the emulation's choice, kept here as constants: :data:`MODEL_NOT_FOUND` for a model the
account cannot use and :data:`MODEL_MISMATCH` for a second model in one file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DUPLICATE_CUSTOM_ID",
    "INVALID_JSON_LINE",
    "MODEL_MISMATCH",
    "MODEL_NOT_FOUND",
    "Invalid",
    "LineChecker",
]

INVALID_JSON_LINE = "invalid_json_line"
DUPLICATE_CUSTOM_ID = "duplicate_custom_id"
MODEL_NOT_FOUND = "model_not_found"
MODEL_MISMATCH = "model_mismatch"
MISSING_PARAMETER = "missing_required_parameter"
INVALID_URL = "invalid_url"
INVALID_METHOD = "invalid_method"
TOO_MANY_REQUESTS = "too_many_requests"
FILE_TOO_LARGE = "file_too_large"
EMPTY_FILE = "empty_file"


@dataclass
class Invalid(Exception):
    """The input file breaks a rule: one ``errors.data`` entry."""

    code: str
    message: str
    line: int | None = None
    param: str | None = None

    def item(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "param": self.param, "line": self.line}


class LineChecker:
    """Checks the lines of one input file in order.

    :param endpoint: the batch's endpoint (every line's ``url``).
    :param models: the models the account may use.
    :param max_custom_id_len: longest ``custom_id``.
    """

    def __init__(self, endpoint: str, models: set[str], max_custom_id_len: int) -> None:
        self.endpoint, self.models, self.max_id = endpoint, models, max_custom_id_len
        self.seen: set[str] = set()
        self.model: str | None = None

    def check(self, number: int, raw: bytes) -> dict[str, Any]:
        """The parsed line. :raises Invalid: the line breaks a rule."""
        try:
            line = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise Invalid(INVALID_JSON_LINE, "This line is not parseable as valid JSON.", number) from None
        if not isinstance(line, dict):
            raise Invalid(INVALID_JSON_LINE, "This line is not a JSON object.", number)
        self._custom_id(number, line.get("custom_id"))
        if line.get("method") != "POST":
            raise Invalid(INVALID_METHOD, "The method must be POST.", number, "method")
        if line.get("url") != self.endpoint:
            message = f"The URL provided for this request does not match the batch endpoint {self.endpoint}."
            raise Invalid(INVALID_URL, message, number, "url")
        if not isinstance(line.get("body"), dict):
            raise Invalid(MISSING_PARAMETER, "The request body must be a JSON object.", number, "body")
        self._model(number, line["body"].get("model"))
        return line

    def _custom_id(self, number: int, custom_id: object) -> None:
        if not isinstance(custom_id, str) or not custom_id:
            raise Invalid(MISSING_PARAMETER, "custom_id must be a non-empty string.", number, "custom_id")
        if len(custom_id) > self.max_id:
            message = f"custom_id is longer than {self.max_id} characters."
            raise Invalid(MISSING_PARAMETER, message, number, "custom_id")
        if custom_id in self.seen:
            message = (
                "The custom_id for this request is a duplicate of another request. "
                "The custom_id parameter must be unique for each request in a batch."
            )
            raise Invalid(DUPLICATE_CUSTOM_ID, message, number, "custom_id")
        self.seen.add(custom_id)

    def _model(self, number: int, model: object) -> None:
        if not isinstance(model, str) or model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            raise Invalid(MODEL_NOT_FOUND, message, number, "body.model")
        if self.model is None:
            self.model = model
        elif model != self.model:
            message = (
                f"The model `{model}` does not match the model `{self.model}` of the earlier requests; "
                "all requests in a batch must use the same model."
            )
            raise Invalid(MODEL_MISMATCH, message, number, "body.model")
