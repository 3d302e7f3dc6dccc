"""History reads: a time range of stored points, averaged into steps."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from services.common.errors import InvalidInputError

MAX_POINTS = 5_000
MIN_STEP_S = 0.01
"""Finest averaging step, s: below the shortest tick there is nothing to average."""


class HistoryQuery(BaseModel):
    """``from`` / ``to`` (ISO 8601 or unix seconds) and ``step`` seconds."""

    start: datetime | None = Field(default=None, alias="from")
    end: datetime | None = Field(default=None, alias="to")
    step: float | None = Field(
        default=None,
        ge=MIN_STEP_S,
        le=366 * 86_400,
        allow_inf_nan=False,
        description="seconds per averaged point",
    )

    @model_validator(mode="after")
    def _ordered(self) -> HistoryQuery:
        if self.start and self.end and self.end <= self.start:
            raise ValueError("'to' must be after 'from'")
        return self


def downsample(
    points: Sequence[tuple[float, dict[str, Any]]], step_s: float | None
) -> list[dict[str, Any]]:
    """Average numeric fields of ``points`` into buckets of ``step_s`` seconds.

    Each bucket is reported at its start time with the mean of every numeric
    field and the last value of every other field. Without a step, points are
    returned as they are. Too many resulting points is a 422, not a huge answer.
    """
    if not step_s:
        if len(points) > MAX_POINTS:
            raise InvalidInputError(
                f"{len(points)} points in range; ask for a shorter range or a 'step' "
                f"(at most {MAX_POINTS} points per answer)"
            )
        return [{"time": t, **values} for t, values in points]
    buckets: dict[int, list[dict[str, Any]]] = {}
    for t, values in points:
        buckets.setdefault(math.floor(t / step_s), []).append(values)
    if len(buckets) > MAX_POINTS:
        raise InvalidInputError(f"step too small: at most {MAX_POINTS} points per answer")
    result = []
    for bucket, members in sorted(buckets.items()):
        merged: dict[str, Any] = {"time": bucket * step_s}
        for key in members[-1]:
            numbers = [
                m[key]
                for m in members
                if isinstance(m.get(key), int | float) and not isinstance(m.get(key), bool)
            ]
            merged[key] = sum(numbers) / len(numbers) if numbers else members[-1][key]
        result.append(merged)
    return result
