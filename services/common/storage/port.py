"""The storage port: what services may ask of persistence, whatever the backend.

Documents are JSON-compatible dicts keyed by a string ``"id"``; series are
append-only lists of ``(unix seconds, dict)`` points. Both adapters enforce the
rules below so that code written against SQLite behaves the same on MongoDB.
"""

from __future__ import annotations

import builtins
import functools
import math
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, ParamSpec, Protocol, TypeAlias, TypeVar

from services.common.errors import InvalidInputError, UnavailableError

Document: TypeAlias = dict[str, Any]
Point: TypeAlias = tuple[float, dict[str, Any]]

# Collection and series names become table/collection names, so they must be
# plain identifiers; a leading underscore is kept for the adapters' own use.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Filter fields are interpolated into JSON paths and Mongo queries.
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

FilterValue: TypeAlias = str | int | float | bool | None

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")
_Method: TypeAlias = Callable[_Params, Coroutine[Any, Any, _Result]]


def unavailable_on(
    *errors: type[BaseException], backend: str
) -> Callable[[_Method[_Params, _Result]], _Method[_Params, _Result]]:
    """Decorate adapter methods so that ``errors`` (a lost or locked backend) become a 503.

    Such failures say nothing about the request; callers get UnavailableError,
    which the error handler renders as 503, instead of an unexpected 500.
    """

    def decorate(method: _Method[_Params, _Result]) -> _Method[_Params, _Result]:
        @functools.wraps(method)
        async def wrapper(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
            try:
                return await method(*args, **kwargs)
            except errors as exc:
                raise UnavailableError(f"{backend} unavailable: {type(exc).__name__}") from exc

        return wrapper

    return decorate


class Storage(Protocol):
    """Async document and time-series store."""

    async def get(self, collection: str, id: str) -> Document | None:
        """The document with ``id``, or None."""
        ...

    async def list(
        self, collection: str, where: Mapping[str, Any] | None = None
    ) -> builtins.list[Document]:
        """Documents whose top-level fields equal every value in ``where``, by id.

        ``None`` matches a null or missing field; numbers match numbers
        (1 == 1.0) but never booleans.
        """
        ...

    async def insert(self, collection: str, doc: Mapping[str, Any]) -> None:
        """Store a new document; ConflictError if its id is taken."""
        ...

    async def upsert(self, collection: str, doc: Mapping[str, Any]) -> None:
        """Store ``doc``, replacing any document with the same id."""
        ...

    async def upsert_many(self, collection: str, docs: Sequence[Mapping[str, Any]]) -> int:
        """Upsert ``docs`` in one transaction; returns how many were written."""
        ...

    async def delete(self, collection: str, id: str) -> bool:
        """Remove a document; False if there was none."""
        ...

    async def append(self, series: str, points: Sequence[tuple[float, Mapping[str, Any]]]) -> None:
        """Add ``(unix seconds, values)`` points to a series."""
        ...

    async def range(
        self,
        series: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
    ) -> builtins.list[Point]:
        """Points with start <= t < end, oldest first, at most ``limit`` of them."""
        ...

    async def ping(self) -> None:
        """Raise UnavailableError if the backend cannot be reached."""
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...


def check_name(name: str) -> str:
    """``name`` if it may name a collection or series, else InvalidInputError."""
    if not _NAME.fullmatch(name):
        raise InvalidInputError(f"invalid collection or series name: {name!r}")
    return name


def document_id(doc: Mapping[str, Any]) -> str:
    """The id a document carries, refusing documents no adapter could store."""
    doc_id = doc.get("id")
    if not isinstance(doc_id, str) or not doc_id:
        raise InvalidInputError("a document needs a non-empty string 'id'")
    if "_id" in doc:
        # MongoDB keeps the id in "_id"; a second one would be silently overwritten.
        raise InvalidInputError("documents may not carry an '_id' field")
    return doc_id


def check_filter(where: Mapping[str, Any] | None) -> dict[str, FilterValue]:
    """``where`` validated: identifier fields mapped to scalar values."""
    checked: dict[str, FilterValue] = {}
    for field, value in (where or {}).items():
        # "_id" is MongoDB's own key; filter on "id" instead.
        if not isinstance(field, str) or not _FIELD.fullmatch(field) or field == "_id":
            raise InvalidInputError(f"invalid filter field: {field!r}")
        if value is not None and not isinstance(value, str | int | float):
            raise InvalidInputError(f"filter on {field!r} must be a string, number, bool or None")
        checked[field] = value
    return checked


def check_limit(limit: int | None) -> int | None:
    """``limit`` if it is None or non-negative."""
    if limit is not None and limit < 0:
        raise InvalidInputError("limit must not be negative")
    return limit


def check_points(points: Sequence[tuple[float, Mapping[str, Any]]]) -> list[Point]:
    """``points`` as ``(float seconds, dict)`` pairs, refusing times that cannot be ordered."""
    checked: list[Point] = []
    for t, values in points:
        seconds = float(t)
        if not math.isfinite(seconds):
            raise InvalidInputError(f"point time must be finite, got {t!r}")
        checked.append((seconds, dict(values)))
    return checked
