"""History queries and downsampling."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.errors import InvalidInputError
from services.common.history import MAX_POINTS, HistoryQuery, downsample


def test_points_are_averaged_per_step_and_reported_at_the_step_start():
    points = [
        (0.0, {"kw": 1.0, "state": "a"}),
        (5.0, {"kw": 3.0, "state": "b"}),
        (10.0, {"kw": 10.0, "state": "c"}),
    ]
    assert downsample(points, 10.0) == [
        {"time": 0.0, "kw": 2.0, "state": "b"},
        {"time": 10.0, "kw": 10.0, "state": "c"},
    ]


def test_without_a_step_points_come_back_as_they_are():
    assert downsample([(1.0, {"kw": 1.0})], None) == [{"time": 1.0, "kw": 1.0}]


def test_too_many_points_is_a_clear_refusal():
    points = [(float(t), {"kw": 1.0}) for t in range(MAX_POINTS + 1)]
    with pytest.raises(InvalidInputError, match="step"):
        downsample(points, 0.5)


@pytest.mark.parametrize("step", [0, -1, 5e-324, float("inf"), float("nan")])
def test_a_step_that_is_not_a_sane_number_of_seconds_is_refused(step):
    with pytest.raises(ValidationError):
        HistoryQuery.model_validate({"step": step})


def test_to_must_come_after_from():
    with pytest.raises(ValidationError, match="after"):
        HistoryQuery.model_validate({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
