"""Per-request checks for one parsed batch input line.

Plain dict and type checks only: this runs 50,000 times per file, so no pydantic and no
allocation beyond the problem tuples of bad lines.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_batch.endpoints import Endpoint, endpoint_for
from airflow_provider_batch.endpoints._checks import MISSING, RuleHit, json_type
from airflow_provider_batch.endpoints.chat import MESSAGE_ROLES

__all__ = ["MESSAGE_ROLES", "RuleHit", "check_request"]


def check_request(
    obj: Any,
    *,
    endpoint: str,
    max_id_len: int,
    out: list[RuleHit],
    audio: bool | None = None,
    spec: Endpoint | None = None,
) -> tuple[str | None, str | None]:
    """Check one decoded line, appending broken rules to ``out``.

    The envelope (``custom_id``, ``url``, ``body``, ``body.model``) is checked here; the method and
    the body's own rules are the endpoint's (:func:`~airflow_provider_batch.endpoints.endpoint_for`).

    :param audio: ignored (the endpoint says how its lines are sent); kept for callers.
    :param spec: the endpoint of ``endpoint``, when the caller looked it up once for a whole file.
    :returns: ``(custom_id, model)``, each ``None`` unless it is a usable string.
    """
    del audio
    if spec is None:
        spec = endpoint_for(endpoint)
    if type(obj) is not dict:
        out.append(("not_an_object", f"line must be a JSON object, got {json_type(obj)}"))
        return None, None
    custom_id = _check_custom_id(obj, max_id_len, out)
    _check_method_and_url(obj, spec, endpoint, out)
    body = obj.get("body", MISSING)
    if body is MISSING:
        out.append(("missing_body", "'body' is required"))
        return custom_id, None
    if type(body) is not dict:
        out.append(("body_not_object", f"'body' must be an object, got {json_type(body)}"))
        return custom_id, None
    model = _check_model(body, out)
    spec.check_body(body, out)
    return custom_id, model


def _check_custom_id(obj: dict[str, Any], max_id_len: int, out: list[RuleHit]) -> str | None:
    custom_id = obj.get("custom_id", MISSING)
    if custom_id is MISSING:
        out.append(("missing_custom_id", "'custom_id' is required"))
        return None
    if type(custom_id) is not str:
        out.append(("custom_id_not_string", f"'custom_id' must be a string, got {json_type(custom_id)}"))
        return None
    if not custom_id.strip():
        out.append(("custom_id_empty", "'custom_id' must not be empty or blank"))
        return None
    if len(custom_id) > max_id_len:
        out.append(
            ("custom_id_too_long", f"'custom_id' has {len(custom_id)} characters, the limit is {max_id_len}")
        )
    _check_storable(custom_id, out)
    return custom_id


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_storable(custom_id: str, out: list[RuleHit]) -> None:
    """Refuse characters a results table cannot hold, so that an answer is never paid for and then
    unloadable: U+0000 (PostgreSQL text refuses it; the only code point its UTF8 encoding cannot
    hold) and lone surrogates U+D800-U+DFFF (JSON can escape them, but no UTF-8 text can hold them)."""
    at = custom_id.find("\x00")
    if at >= 0:
        out.append(
            (
                "custom_id_nul",
                f"'custom_id' holds U+0000 (NUL) at character {at + 1}, which PostgreSQL text cannot "
                "store, so its answer could never be loaded",
            )
        )
    if custom_id.isascii():
        return
    lone = _LONE_SURROGATE.search(custom_id)
    if lone is not None:
        out.append(
            (
                "custom_id_lone_surrogate",
                f"'custom_id' holds the lone surrogate U+{ord(lone.group()):04X} at character "
                f"{lone.start() + 1}, which is not valid Unicode text, so its answer could never be loaded",
            )
        )


def _check_method_and_url(obj: dict[str, Any], spec: Endpoint, endpoint: str, out: list[RuleHit]) -> None:
    spec.check_method(obj.get("method"), out)
    url = obj.get("url")
    if url is not None and url != endpoint:
        out.append(("url_mismatch", f"'url' is {url!r} but the batch endpoint is {endpoint}"))


def _check_model(body: dict[str, Any], out: list[RuleHit]) -> str | None:
    model = body.get("model", MISSING)
    if model is MISSING:
        out.append(("missing_model", "'body.model' is required"))
        return None
    if type(model) is not str or not model.strip():
        out.append(("model_not_string", f"'body.model' must be a non-empty string, got {model!r:.80}"))
        return None
    return model
