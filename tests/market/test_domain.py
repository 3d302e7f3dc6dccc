"""Market rules without a server: destinations, cell status, pooled clearing."""

from __future__ import annotations

import pytest

from services.market.domain import (
    WARN_AGAIN_AFTER_S,
    Cell,
    CellStatus,
    clear_cells,
    normalise_destination,
)
from tests.market.conftest import START, make_cell_data, tier


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8005", "http://127.0.0.1:8005"),
        (" https://Sim.Example.org/cells/north/ ", "https://sim.example.org/cells/north"),
        ("http://[::1]:8005/", "http://[::1]:8005"),
    ],
)
def test_destinations_are_normalised(url: str, expected: str):
    assert normalise_destination(url) == expected


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8005", "mailto:x@y", "http:///path", "http://h:port", "http://h/#top"]
)
def test_non_http_base_urls_are_refused(url: str):
    with pytest.raises(ValueError):
        normalise_destination(url)


def test_a_cell_is_polled_at_its_data_route():
    assert Cell("a", "http://h:1").data_url == "http://h:1/api/data"


def test_a_failing_cell_is_warned_about_once_a_minute():
    wall_s = [0.0]
    status = CellStatus(Cell("a", "http://h:1"))
    warnings = []
    for second in range(0, int(WARN_AGAIN_AFTER_S) + 1, 10):
        wall_s[0] = float(second)
        warnings.append(status.missed(monotonic=lambda: wall_s[0]))
    assert warnings == [True, False, False, False, False, False, True]
    assert status.failures == 7 and status.stale


def test_an_answer_after_failures_is_a_recovery():
    status = CellStatus(Cell("a", "http://h:1"))
    status.missed()
    assert status.answered(make_cell_data(), START) is True
    assert not status.stale and status.failures == 0 and status.last_seen == START
    assert status.answered(make_cell_data(), START) is False


def test_no_cells_clear_at_zero():
    clearing = clear_cells([])
    assert clearing.modelled_price_sek_per_kwh == 0.0
    assert not clearing.scarcity and clearing.answering_cells == 0


def test_one_cells_cheap_offer_serves_another_cells_demand():
    seller = make_cell_data(supply=[tier(100, 0.3)])
    buyer = make_cell_data(supply=[tier(100, 2.0)], market_demand_kw=60)
    assert clear_cells([seller, buyer]).modelled_price_sek_per_kwh == 0.3
