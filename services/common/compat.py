"""Reading payloads in the forms the original clients sent.

The original services accepted a bare object, a list, or either wrapped as
``{"body": ...}``; ids came as ``id`` or ``_id``; the manager's field was
spelled ``maxProduciton`` in places. Requests in any of these forms are read
here into the suite's own models; responses use the correct spellings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.common.errors import InvalidInputError

Model = TypeVar("Model", bound=BaseModel)

LEGACY_KEYS = {"_id": "id", "maxProduciton": "maxProduction"}


def unwrap(payload: Any) -> list[Any]:
    """The items of a payload: a list, one object, or either inside ``{"body": ...}``."""
    if isinstance(payload, Mapping) and set(payload) == {"body"}:
        payload = payload["body"]
    if isinstance(payload, list):
        return payload
    if isinstance(payload, Mapping):
        return [payload]
    raise InvalidInputError(
        "expected a JSON object or a list of objects",
        detail=[{"field": "body", "message": "expected a JSON object or a list of objects"}],
    )


def modernise(item: Any) -> Any:
    """An item with legacy key spellings replaced; the correct spelling wins if both are sent."""
    if not isinstance(item, Mapping):
        return item
    result = dict(item)
    for legacy, modern in LEGACY_KEYS.items():
        if legacy in result:
            value = result.pop(legacy)
            result.setdefault(modern, value)
    return result


def _errors(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join([prefix, *map(str, error["loc"])]).strip(".") or "body",
            "message": error["msg"],
        }
        for error in exc.errors()
    ]


def parse_one(model: type[Model], payload: Any) -> Model:
    """One object of ``model`` from a legacy or modern payload; 422 naming the field."""
    items = unwrap(payload)
    if len(items) != 1:
        raise InvalidInputError(
            "expected exactly one object",
            detail=[{"field": "body", "message": f"expected one object, got {len(items)}"}],
        )
    try:
        return model.model_validate(modernise(items[0]))
    except ValidationError as exc:
        raise InvalidInputError("invalid payload", detail=_errors(exc, "")) from None


def parse_many(model: type[Model], payload: Any, *, max_items: int = 100_000) -> list[Model]:
    """Every object of ``model`` in a payload, all or nothing; 422 naming index and field."""
    items = unwrap(payload)
    if len(items) > max_items:
        raise InvalidInputError(f"at most {max_items} items per request")
    parsed, errors = [], []
    for index, item in enumerate(items):
        try:
            parsed.append(model.model_validate(modernise(item)))
        except ValidationError as exc:
            errors.extend(_errors(exc, str(index) if len(items) > 1 else ""))
    if errors:
        raise InvalidInputError("invalid payload", detail=errors)
    return parsed
