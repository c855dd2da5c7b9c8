"""Build a batch input JSONL from warehouse rows, plus a metadata sidecar.

Rows stream through: nothing is held in memory but the ``custom_id`` set. The request file and
its sidecar are written to temporary names and renamed only when every row was good, so a failed
build never leaves a half-written input behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from airflow_provider_batch.endpoints import Endpoint, endpoint_for
from airflow_provider_batch.inputs.limits import (
    CHAT_ENDPOINT,
    SUPPORTED_ENDPOINTS,
    BatchLimits,
    check_endpoint,
)

__all__ = ["METADATA_SUFFIX", "BuildError", "BuiltInput", "build_batch_file", "metadata_path_for"]

METADATA_SUFFIX = ".meta.jsonl"
"""Appended to a request file's name (or URI) to name its metadata sidecar."""

_MAX_ID_LEN = BatchLimits().max_custom_id_len


class BuildError(ValueError):
    """A row cannot become a request (missing column, bad id, unserialisable value)."""


@dataclass(frozen=True)
class BuiltInput:
    """A built batch input file and its metadata sidecar."""

    path: Path
    metadata_path: Path
    count: int
    bytes: int
    models: dict[str, int] = field(default_factory=dict)

    def to_xcom(self) -> dict[str, Any]:
        """Small JSON-safe summary for XCom."""
        return {
            "path": str(self.path),
            "metadata_path": str(self.metadata_path),
            "count": self.count,
            "bytes": self.bytes,
            "models": dict(self.models),
        }


def metadata_path_for(path: str | os.PathLike[str]) -> Path:
    """Sidecar path of a request file: ``<path>.meta.jsonl``."""
    return Path(f"{os.fspath(path)}{METADATA_SUFFIX}")


class _RowMapping(dict):
    """``format_map`` target that reports which column a template asked for."""

    def __missing__(self, key: str) -> Any:
        raise _MissingColumn(key)


class _MissingColumn(KeyError):
    pass


@dataclass
class _Spec:
    key_column: str
    model: str
    user_template: str | None
    system_prompt: str | None
    body: Mapping[str, Any]
    endpoint: str
    metadata_columns: tuple[str, ...]
    audio_url_column: str | None
    id_prefix: str
    endpoints: Collection[str] = SUPPORTED_ENDPOINTS

    @property
    def kind(self) -> Endpoint:
        return endpoint_for(self.endpoint)


def build_batch_file(
    records: Iterable[Mapping[str, Any]],
    out_path: str | os.PathLike[str],
    *,
    key_column: str,
    model: str,
    user_template: str | None = None,
    system_prompt: str | None = None,
    body: Mapping[str, Any] | None = None,
    endpoint: str = CHAT_ENDPOINT,
    metadata_columns: Iterable[str] = (),
    audio_url_column: str | None = None,
    id_prefix: str = "",
    endpoints: Collection[str] = SUPPORTED_ENDPOINTS,
) -> BuiltInput:
    """Write one request per record to ``out_path`` and a sidecar ``<out_path>.meta.jsonl``.

    Chat requests get an optional system message and a user message rendered with
    ``user_template.format_map(row)``. Audio requests (``endpoint`` in ``AUDIO_ENDPOINTS``) get
    ``"method": "FILE"`` and ``body.file = row[audio_url_column]``. ``body`` adds extra request
    fields (``max_tokens``, ``temperature``, ``response_format``, ...). Metadata columns go to the
    sidecar as ``{"custom_id", "model", "meta": {column: value}}`` and never into the request;
    values JSON cannot hold (dates, decimals) are written as strings there.

    The body is the endpoint's (:meth:`~airflow_provider_batch.endpoints.base.Endpoint.build_body`):
    the Responses API gets ``input`` (the rendered template) and ``instructions`` (``system_prompt``),
    embeddings get ``input``.

    :param key_column: column whose value (as a string, after ``id_prefix``) is the ``custom_id``;
        it must be non-empty, at most 64 characters and unique.
    :param endpoints: the endpoints the vendor's batch API takes (Together's by default).
    :raises BuildError: naming the row and column, on the first bad row. No output is left behind.
    """
    spec = _Spec(
        key_column=key_column,
        model=model,
        user_template=user_template,
        system_prompt=system_prompt,
        body=dict(body or {}),
        endpoint=endpoint,
        metadata_columns=tuple(metadata_columns),
        audio_url_column=audio_url_column,
        id_prefix=id_prefix,
        endpoints=endpoints,
    )
    _check_spec(spec)
    out = Path(out_path)
    meta = metadata_path_for(out)
    tmp_out, tmp_meta = out.with_name(out.name + ".tmp"), meta.with_name(meta.name + ".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp_out, "wb") as req_fh, open(tmp_meta, "wb") as meta_fh:
            count, size = _write_rows(records, spec, req_fh, meta_fh)
        os.replace(tmp_out, out)
        os.replace(tmp_meta, meta)
    finally:
        for leftover in (tmp_out, tmp_meta):
            leftover.unlink(missing_ok=True)
    models = {model: count} if count else {}
    return BuiltInput(path=out, metadata_path=meta, count=count, bytes=size, models=models)


def _check_spec(spec: _Spec) -> None:
    check_endpoint(spec.endpoint, spec.endpoints)
    if not isinstance(spec.model, str) or not spec.model.strip():
        raise ValueError("model must be a non-empty string")
    kind = spec.kind
    if kind.row_source == "audio_url":
        if not spec.audio_url_column:
            raise ValueError(f"audio endpoint {spec.endpoint} needs audio_url_column")
    elif not spec.user_template:
        what = "chat" if spec.endpoint == CHAT_ENDPOINT else spec.endpoint
        raise ValueError(f"{what} requests need user_template (e.g. '{{prompt}}' to use a column as is)")
    clash = kind.reserved_fields & set(spec.body)
    if clash:
        raise ValueError(f"body must not set {sorted(clash)}; they come from model and the row")
    try:
        json.dumps(spec.body, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"body is not JSON-serialisable: {exc}") from exc


def _write_rows(
    records: Iterable[Mapping[str, Any]], spec: _Spec, req_fh: IO[bytes], meta_fh: IO[bytes]
) -> tuple[int, int]:
    seen: set[str] = set()
    count = size = 0
    kind = spec.kind
    for row_no, row in enumerate(records, start=1):
        custom_id = _custom_id(row_no, row, spec, seen)
        request = _request(row_no, row, spec, custom_id, kind)
        line = _dumps(request, row_no, custom_id)
        req_fh.write(line)
        size += len(line)
        meta = {
            "custom_id": custom_id,
            "model": spec.model,
            "meta": {col: _column(row_no, row, col) for col in spec.metadata_columns},
        }
        # ASCII escapes keep any string (even a lone surrogate from a driver) writable.
        meta_fh.write(json.dumps(meta, default=str).encode("ascii") + b"\n")
        count += 1
    return count, size


def _column(row_no: int, row: Mapping[str, Any], column: str) -> Any:
    try:
        return row[column]
    except KeyError:
        raise BuildError(f"row {row_no}: column {column!r} is missing ({_has(row)})") from None


def _has(row: Mapping[str, Any]) -> str:
    return "row has: " + ", ".join(map(str, row))


def _custom_id(row_no: int, row: Mapping[str, Any], spec: _Spec, seen: set[str]) -> str:
    value = _column(row_no, row, spec.key_column)
    if value is None:
        raise BuildError(f"row {row_no}: key column {spec.key_column!r} is NULL")
    custom_id = f"{spec.id_prefix}{value}"
    if not str(value).strip():
        raise BuildError(f"row {row_no}: key column {spec.key_column!r} is empty")
    if len(custom_id) > _MAX_ID_LEN:
        raise BuildError(
            f"row {row_no}: custom_id {custom_id[:80]!r} has {len(custom_id)} characters, "
            f"the limit is {_MAX_ID_LEN}"
        )
    if custom_id in seen:
        raise BuildError(f"row {row_no}: duplicate custom_id {custom_id!r} (key column {spec.key_column!r})")
    seen.add(custom_id)
    return custom_id


def _request(
    row_no: int, row: Mapping[str, Any], spec: _Spec, custom_id: str, kind: Endpoint
) -> dict[str, Any]:
    if kind.row_source == "audio_url":
        url = _column(row_no, row, spec.audio_url_column or "")
        if not isinstance(url, str) or not url.strip():
            raise BuildError(f"row {row_no}: audio URL column {spec.audio_url_column!r} is empty or not text")
        audio_body = kind.build_body(spec.model, url, None, spec.body)
        return {"custom_id": custom_id, "method": kind.method, "body": audio_body}
    body = kind.build_body(spec.model, _render(row_no, row, spec), spec.system_prompt, spec.body)
    return {"custom_id": custom_id, "body": body}


def _render(row_no: int, row: Mapping[str, Any], spec: _Spec) -> str:
    template = spec.user_template or ""
    try:
        return template.format_map(_RowMapping(row))
    except _MissingColumn as exc:
        raise BuildError(
            f"row {row_no}: user_template uses column {exc.args[0]!r}, which the row does not have "
            f"({_has(row)})"
        ) from None
    except (IndexError, ValueError, AttributeError, TypeError) as exc:
        raise BuildError(f"row {row_no}: user_template cannot be rendered: {exc}") from None


def _dumps(request: dict[str, Any], row_no: int, custom_id: str) -> bytes:
    try:
        text = json.dumps(request, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8") + b"\n"
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise BuildError(f"row {row_no} (custom_id={custom_id!r}): request is not JSON text: {exc}") from None


# Re-exported so the whole "rows -> request file" path imports from one module.
from airflow_provider_batch.inputs.sources import records_from_jsonl, records_from_sql  # noqa: E402

__all__ += ["records_from_jsonl", "records_from_sql"]
