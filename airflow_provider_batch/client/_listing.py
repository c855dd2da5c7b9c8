"""Streaming parser of the list answers (pure; no I/O): ``GET /files`` and ``GET /batches``.

Together's list routes are not paginated, so an account's whole history comes back in one body:
``{"data": [...]}`` for files (other keys may come before or after ``data``), a bare array or
``null`` for batches. :class:`ArraySplitter` cuts such a body, fed in chunks, into the bytes of
each array element; it tracks only string/escape state and bracket depth, and hands every complete
element to :func:`json.loads`. It holds at most one unfinished element (capped) plus one chunk,
so memory is bounded by the largest element, never by the length of the list.

:class:`ListReader` turns the elements into models for one answer, and :func:`after_failure`
says what a broken-off stream may do: start again from scratch while nothing was yielded, or
raise :class:`~airflow_provider_batch.client.errors.StreamInterruptedError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from airflow_provider_batch.client._core import Decision, RequestSpec, request_id
from airflow_provider_batch.client.errors import (
    ListElementTooLargeError,
    ResponseValidationError,
    StreamInterruptedError,
)

__all__ = [
    "RESTART",
    "ArraySplitter",
    "ListReader",
    "ListShape",
    "Malformed",
    "Restart",
    "TooLarge",
    "acollect",
    "after_failure",
    "collect",
]

M = TypeVar("M")

_WS = re.compile(rb"[ \t\r\n]*")
#: Everything up to the next bracket outside a string: runs of other bytes and complete strings.
#: It stops at a bracket, at the opening quote of a string that has not ended yet, or at the end.
_RUN = re.compile(rb'(?:[^"\[\]{}]+|"[^"\\]*(?:\\.[^"\\]*)*")*', re.DOTALL)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCALAR = re.compile(rb"[^\s,:\[\]{}\"]*")
_AFTER = re.compile(rb"[ \t\r\n]*([,\]])?")
_OPEN, _QUOTE = frozenset(b"[{"), ord('"')


class Malformed(ValueError):
    """The body is not a list answer; the message says where it went wrong."""


class TooLarge(ValueError):
    """One element (or a key or value around the list) is over the cap."""


class ArraySplitter:
    """Feed the body in chunks; get back the bytes of each complete array element.

    :param limit: most bytes one element may have (also bounds keys and values around ``data``).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buf = bytearray()
        self._pos = 0
        self._state: Callable[[list[bytes]], bool] = self._top
        self._value: tuple[int, int, int] | None = None  # start, resume position, bracket depth
        self._wrapped = False
        self._seen_data = False
        self._key: str | None = None
        self.consumed = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """The elements completed by ``chunk``, in order."""
        self._buf += chunk
        out: list[bytes] = []
        while self._state(out):
            pass
        self._compact()
        return out

    def close(self) -> None:
        """End of the body: it must have been a whole list answer."""
        self._buf += b" "  # a value can only end at a delimiter; this one ends a trailing scalar
        while self._state([]):
            pass
        if self._state != self._trailer:
            end = self.consumed + len(self._buf) - 1
            raise Malformed(f"the body ends before the list does (at byte {end})")

    # -- states: each returns True once it moved on, False when it needs more bytes -----------

    def _top(self, out: list[bytes]) -> bool:
        char = self._next_char()
        if char is None:
            return False
        if char == ord("["):
            return self._go(self._first_element, 1)
        if char == ord("{"):
            self._wrapped = True
            return self._go(self._first_key, 1)
        end = self._scan()
        if end is None:
            return False
        if self._buf[self._pos : end] != b"null":
            raise Malformed("expected a list (an array, null, or an object with a data key)")
        return self._go(self._trailer, end - self._pos)

    def _first_element(self, out: list[bytes]) -> bool:
        char = self._next_char()
        if char == ord("]"):
            return self._go(self._after_array, 1)
        return char is not None and self._go(self._element, 0)

    def _next_element(self, out: list[bytes]) -> bool:
        return self._separator(b",", self._element, b"]", self._after_array)

    def _element(self, out: list[bytes]) -> bool:
        # The hot loop: one element and the separator after it per turn, without a state change.
        buf = self._buf
        while self._next_char() is not None:
            end = self._scan()
            if end is None:
                return False
            out.append(bytes(buf[self._pos : end]))
            after = _AFTER.match(buf, end)
            mark = after.group(1)  # type: ignore[union-attr]
            if mark is None:  # more bytes needed, or a bad separator: the next state says which
                return self._go(self._next_element, end - self._pos)
            self._pos = after.end()  # type: ignore[union-attr]
            if mark == b"]":
                return self._go(self._after_array, 0)
        return False

    def _after_array(self, out: list[bytes]) -> bool:
        return self._go(self._next_key if self._wrapped else self._trailer, 0)

    def _first_key(self, out: list[bytes]) -> bool:
        char = self._next_char()
        if char == ord("}"):
            return self._go(self._trailer, 1)
        return char is not None and self._go(self._key_name, 0)

    def _next_key(self, out: list[bytes]) -> bool:
        return self._separator(b",", self._key_name, b"}", self._trailer)

    def _key_name(self, out: list[bytes]) -> bool:
        char = self._next_char()
        if char is None:
            return False
        if char != _QUOTE:
            raise Malformed(f"expected a key at byte {self.consumed + self._pos}")
        end = self._scan()
        if end is None:
            return False
        self._key = _loads(self._buf[self._pos : end])
        return self._go(self._colon, end - self._pos)

    def _colon(self, out: list[bytes]) -> bool:
        return self._separator(b":", self._key_value, None, None)

    def _key_value(self, out: list[bytes]) -> bool:
        char = self._next_char()
        if char is None:
            return False
        is_data = self._key == "data"
        if is_data and self._seen_data:
            raise Malformed("the object has two data keys")
        if is_data and char == ord("["):
            self._seen_data = True
            return self._go(self._first_element, 1)
        end = self._scan()
        if end is None:
            return False
        value = _loads(self._buf[self._pos : end])  # checked, then dropped
        if is_data and value is not None:
            raise Malformed(f"data is a {type(value).__name__}, not a list")
        self._seen_data = self._seen_data or is_data
        return self._go(self._next_key, end - self._pos)

    def _trailer(self, out: list[bytes]) -> bool:
        char = self._next_char()
        if char is not None:
            raise Malformed(f"unexpected byte after the list at byte {self.consumed + self._pos}")
        if self._wrapped and not self._seen_data:
            raise Malformed("the object has no data key")
        return False

    # -- helpers -------------------------------------------------------------------------------

    def _go(self, state: Callable[[list[bytes]], bool], advance: int) -> bool:
        self._pos += advance
        self._state = state
        return True

    def _next_char(self) -> int | None:
        """The next byte that is not white space (``None`` when more bytes are needed)."""
        self._pos = _WS.match(self._buf, self._pos).end()  # type: ignore[union-attr]
        return self._buf[self._pos] if self._pos < len(self._buf) else None

    def _separator(
        self,
        sep: bytes,
        then: Callable[[list[bytes]], bool],
        close: bytes | None,
        closed: Callable[[list[bytes]], bool] | None,
    ) -> bool:
        char = self._next_char()
        if char is None:
            return False
        if char == sep[0]:
            return self._go(then, 1)
        if close is not None and closed is not None and char == close[0]:
            return self._go(closed, 1)
        expected = sep.decode() + (f" or {close.decode()}" if close else "")
        raise Malformed(f"expected {expected} at byte {self.consumed + self._pos}")

    def _scan(self) -> int | None:
        """End of the value starting at the current position, or ``None`` until more bytes come."""
        start = self._pos
        char = self._buf[start]
        if char in _OPEN:
            end = self._container(start)
        elif char == _QUOTE:
            match = _STRING.match(self._buf, start)
            end = match.end() if match else None
        else:
            end = _SCALAR.match(self._buf, start).end()  # type: ignore[union-attr]
            if end == start:
                raise Malformed(f"expected a value at byte {self.consumed + start}")
            end = end if end < len(self._buf) else None
        size = (end if end is not None else len(self._buf)) - start
        if size > self._limit:
            raise TooLarge(f"an element of the list is larger than {self._limit} bytes")
        return end

    def _container(self, start: int) -> int | None:
        _, pos, depth = self._value if self._value and self._value[0] == start else (start, start, 0)
        buf = self._buf
        while True:
            pos = _RUN.match(buf, pos).end()  # type: ignore[union-attr]
            if pos == len(buf) or buf[pos] == _QUOTE:
                self._value = (start, pos, depth)
                return None
            depth += 1 if buf[pos] in _OPEN else -1
            pos += 1
            if depth == 0:
                self._value = None
                return pos

    def _compact(self) -> None:
        drop = self._pos
        if drop:
            del self._buf[:drop]
            self.consumed += drop
            self._pos = 0
            if self._value is not None:
                start, pos, depth = self._value
                self._value = (start - drop, pos - drop, depth)


def _loads(raw: bytes | bytearray) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"not JSON ({type(exc).__name__})") from None


@dataclass(frozen=True)
class ListShape(Generic[M]):
    """How to turn one element into a model, and which elements to keep at all.

    :param parse: builds the model from the decoded element (raises pydantic's ``ValidationError``).
    :param keep: looks at the decoded element first; ``False`` skips it without building a model.
    """

    parse: Callable[[Any], M]
    keep: Callable[[Any], bool] | None = None


class ListReader(Generic[M]):
    """The models of one list answer, chunk by chunk, with typed errors naming the call.

    :param spec: the request (for error messages).
    :param headers: the answer's headers (for the request id).
    :param shape: what to build from each element.
    :param limit: most bytes one element may have.
    """

    def __init__(
        self, spec: RequestSpec, headers: Mapping[str, str], shape: ListShape[M], limit: int
    ) -> None:
        self._spec, self._rid, self._shape = spec, request_id(headers), shape
        self._splitter = ArraySplitter(limit)
        self._limit = limit
        self.elements = 0
        self.yielded = 0

    def feed(self, chunk: bytes) -> list[M]:
        """The models of the elements that ``chunk`` completes.

        :raises ResponseValidationError: raised here, once ``chunk`` is dropped, so that no frame
            of its traceback holds body bytes (a hostile server may quote the request's key back).
        """
        try:
            models = [m for m in map(self._model, self._splitter.feed(chunk)) if m is not _SKIP]
        except (Malformed, TooLarge) as exc:
            failure = self._error(exc)
        else:
            self.yielded += len(models)
            return models
        del chunk
        raise failure

    def close(self) -> list[M]:
        """End of the body (nothing more to yield)."""
        try:
            self._splitter.close()
        except (Malformed, TooLarge) as exc:
            failure = self._error(exc)
        else:
            return []
        raise failure

    def _model(self, raw: bytes) -> Any:
        self.elements += 1
        try:
            data = json.loads(raw.decode())  # from str: no encoding sniffing per element
            if self._shape.keep is not None and not self._shape.keep(data):
                return _SKIP
            return self._shape.parse(data)
        except ValidationError as exc:
            raise Malformed(f"element {self.elements}: {exc.error_count()} validation error(s)") from None
        except (ValueError, RecursionError):
            raise Malformed(f"element {self.elements}: not JSON") from None

    def _error(self, exc: Exception) -> ResponseValidationError:
        if isinstance(exc, TooLarge):
            spec = self._spec
            return ListElementTooLargeError(spec.method, spec.where, self._limit, request_id=self._rid)
        return self._invalid(str(exc))

    def _invalid(self, detail: str) -> ResponseValidationError:
        return ResponseValidationError(self._spec.method, self._spec.where, detail, request_id=self._rid)


_SKIP = object()


class Restart:
    """Yielded by a restartable stream before it starts again: drop what was collected."""


RESTART = Restart()


def after_failure(decision: Decision, reader: ListReader[Any] | None, restartable: bool) -> Decision:
    """What a failed attempt of a list stream leads to.

    Nothing yielded yet (or a collecting caller, ``restartable``): the usual decision. Otherwise
    the caller has already acted on part of the list and a second pass would repeat it, so the
    stream ends with :class:`StreamInterruptedError`.
    """
    if reader is None or not reader.yielded or restartable or decision.error is None:
        return decision
    error = StreamInterruptedError(decision.error, reader.yielded)
    return replace(decision, error=error, retry=False)


def collect(items: Iterable[M | Restart]) -> list[M]:
    """The list a restartable stream ends with."""
    out: list[M] = []
    for item in items:
        if isinstance(item, Restart):
            out.clear()
        else:
            out.append(item)
    return out


async def acollect(items: AsyncIterable[M | Restart]) -> list[M]:
    """Async twin of :func:`collect`."""
    out: list[M] = []
    async for item in items:
        if isinstance(item, Restart):
            out.clear()
        else:
            out.append(item)
    return out
