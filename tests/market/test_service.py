"""The market tick: polling fake cells, pooled merit order, staleness, history and the stream."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timedelta

from services.common.errors import UnavailableError
from services.common.runtime import Every
from services.common.settings import MarketSettings
from services.market.repository import HISTORY
from services.physics.market import PROSUMER_OFFER_SEK_PER_KWH, SCARCITY_CAP_SEK_PER_KWH
from tests.market.conftest import START, Market, make_settings, running_market, tier


def two_cells(market: Market):
    """Cell a: wind and a dear plant, 150 kW asked; cell b: a cheaper plant, 100 kW asked."""
    a = market.network.add(
        "cell-a",
        supply=[tier(100, PROSUMER_OFFER_SEK_PER_KWH, kind="prosumers"), tier(200, 1.1, id="p1")],
        market_demand_kw=150,
        totalProduction=180,
        totalDemand=230,
    )
    b = market.network.add(
        "cell-b",
        supply=[tier(200, 0.8, id="p2")],
        market_demand_kw=100,
        totalProduction=120,
        totalDemand=100,
    )
    return a, b


async def test_price_follows_the_merit_order_of_all_cells_tiers(market: Market):
    await market.register(*two_cells(market))
    price = await market.tick()
    # 250 kW asked: 100 kW of wind, then 150 kW of cell b's plant at 0.8; cell a's 1.1 unused.
    assert price["modelled_price"] == 0.8
    assert price["price"] == 0.8
    assert price["market_demand_kw"] == 250 and price["offered_kw"] == 500
    assert price["scarcity"] is False and price["note"] is None


async def test_stats_are_the_sums_of_the_cells_totals(market: Market):
    await market.register(*two_cells(market))
    price = await market.tick()
    assert price["stats"] == {"totalDemand": 330.0, "totalProduction": 300.0}
    assert datetime.fromisoformat(price["time"]) == START + timedelta(seconds=60)


async def test_demand_beyond_all_supply_sets_the_scarcity_cap(market: Market):
    cell = market.network.add("cell-a", supply=[tier(50, 0.8)], market_demand_kw=80)
    await market.register(cell)
    price = await market.tick()
    assert price["scarcity"] is True
    assert price["price"] == SCARCITY_CAP_SEK_PER_KWH


async def test_cells_answering_is_recorded_on_the_member(market: Market):
    await market.register(market.network.add("cell-a"))
    await market.tick()
    cell = (await market.client.get("/api/members/cell-a")).json()
    assert cell["stale"] is False
    assert cell["last_seen"] is not None


async def test_override_wins_over_the_modelled_price_until_cleared(market: Market):
    await market.register(*two_cells(market))
    await market.client.put("/api/price/override", json={"price": 2.5})
    price = await market.tick()
    assert (price["price"], price["modelled_price"], price["override"]) == (2.5, 0.8, 2.5)
    await market.client.delete("/api/price/override")
    price = await market.tick()
    assert (price["price"], price["override"]) == (0.8, None)


async def test_a_cell_that_stops_answering_keeps_its_last_totals_marked_stale(market: Market):
    a, b = two_cells(market)
    await market.register(a, b)
    before = await market.tick()
    b.up = False
    after = await market.tick()
    assert after["stats"] == before["stats"]
    assert after["modelled_price"] == before["modelled_price"]
    assert after["stale"] is True and after["stale_cells"] == ["cell-b"]
    assert (await market.client.get("/api/members/cell-b")).json()["stale"] is True


async def test_a_stale_cell_recovers_when_it_answers_again(market: Market):
    a, b = two_cells(market)
    await market.register(a, b)
    await market.tick()
    b.up = False
    await market.tick()
    b.up = True
    b.data = b.data.model_copy(update={"totalProduction": 10.0})
    price = await market.tick()
    assert price["stale"] is False and price["stale_cells"] == []
    assert price["stats"]["totalProduction"] == 190.0


async def test_a_cell_that_answers_too_late_is_stale(tmp_path):
    settings = make_settings(tmp_path, poll_timeout_seconds=0.05)
    async with running_market(settings) as market:
        cell = market.network.add("cell-a", totalDemand=10)
        await market.register(cell)
        cell.delay_s = 0.5
        price = await market.tick()
    assert price["stale_cells"] == ["cell-a"]
    assert price["stats"]["totalDemand"] == 0.0


async def test_a_cell_answering_an_error_status_is_stale(market: Market):
    cell = market.network.add("cell-a")
    await market.register(cell)
    cell.status_code = 503
    assert (await market.tick())["stale_cells"] == ["cell-a"]


async def test_a_cell_answering_an_invalid_body_is_stale(market: Market):
    cell = market.network.add("cell-a")
    await market.register(cell)
    cell.body = {"totalProduction": -5}
    assert (await market.tick())["stale_cells"] == ["cell-a"]


async def test_a_cell_that_never_answered_contributes_nothing_and_says_so(market: Market):
    cell = market.network.add("cell-a", market_demand_kw=50, supply=[tier(100, 0.5)])
    cell.up = False
    await market.register(cell)
    price = await market.tick()
    assert price["price"] == 0.0 and price["stats"]["totalDemand"] == 0.0
    assert price["stale_cells"] == ["cell-a"]
    assert "no cell has answered" in price["note"]


async def test_a_deleted_cell_no_longer_counts(market: Market):
    a, b = two_cells(market)
    await market.register(a, b)
    await market.tick()
    await market.client.delete("/api/members/cell-b")
    price = await market.tick()
    assert price["cells"] == 1
    assert price["stats"]["totalProduction"] == 180.0
    assert b.polls == 1


async def test_cells_are_polled_concurrently(tmp_path):
    settings = make_settings(tmp_path, poll_timeout_seconds=1.0)
    async with running_market(settings) as market:
        a, b = market.network.add("cell-a"), market.network.add("cell-b")
        a.delay_s = b.delay_s = 0.2
        await market.register(a, b)
        started = time.monotonic()
        await market.service.tick()
        elapsed = time.monotonic() - started
    # One after the other would take 0.4 s; asyncio may wake a sleeper a hair early.
    assert 0.19 <= elapsed < 0.38
    assert a.polls == b.polls == 1


async def test_each_tick_polls_each_cell_once(market: Market):
    a, b = two_cells(market)
    await market.register(a, b)
    for _ in range(3):
        await market.tick()
    assert a.polls == b.polls == 3


# -- history -------------------------------------------------------------------------------------


async def history(market: Market, query: str = "") -> list[dict]:
    response = await market.client.get(f"/api/history?{query}")
    assert response.status_code == 200
    points: list[dict] = response.json()["points"]
    return points


async def test_every_tick_adds_a_history_point(market: Market):
    await market.register(*two_cells(market))
    await market.tick()
    await market.tick()
    points = await history(market, "from=2024-01-15T12:00:30Z")
    assert [p["price"] for p in points] == [0.8, 0.8]
    assert points[0]["totalProduction"] == 300.0 and points[0]["totalDemand"] == 330.0


async def test_history_records_the_price_in_force(market: Market):
    await market.register(*two_cells(market))
    await market.client.put("/api/price/override", json={"price": 2.0})
    await market.tick()
    [point] = await history(market, "from=2024-01-15T12:00:30Z")
    assert (point["price"], point["modelled_price"]) == (2.0, 0.8)


async def test_history_averages_over_a_step(market: Market):
    cell = market.network.add("cell-a", totalDemand=10)
    await market.register(cell)
    await market.tick(60)
    cell.data = cell.data.model_copy(update={"totalDemand": 30.0})
    await market.tick(60)
    points = await history(market, "from=2024-01-15T12:00:30Z&step=3600")
    assert len(points) == 1
    assert points[0]["totalDemand"] == 20.0


async def test_history_is_limited_to_from_and_to(market: Market):
    for _ in range(3):
        await market.tick(60)
    points = await history(market, "from=2024-01-15T12:01:00Z&to=2024-01-15T12:03:00Z")
    assert [datetime.fromisoformat(p["time"]) for p in points] == [
        START + timedelta(minutes=1),
        START + timedelta(minutes=2),
    ]
    assert points[0]["time"].endswith("+01:00"), "times are in the service's timezone"


async def test_history_is_written_at_the_checkpoint_not_every_tick(market: Market):
    await market.tick()
    stored = await market.app.state.runtime.storage.range(HISTORY)
    assert stored == []


async def test_history_is_written_in_one_append_per_checkpoint(tmp_path):
    async with running_market(make_settings(tmp_path)) as market:
        wall_s = [0.0]
        market.service.checkpoint = Every(10, monotonic=lambda: wall_s[0])
        storage = market.app.state.runtime.storage
        appends = []
        original = storage.append

        async def counting_append(series, points):
            appends.append(len(points))
            await original(series, points)

        storage.append = counting_append
        await market.tick()
        await market.tick()
        assert appends == []
        wall_s[0] = 10.0
        await market.tick()
        # The start-up tick's point and three more.
        assert appends == [4]


async def test_history_survives_a_restart(tmp_path):
    settings: MarketSettings = make_settings(tmp_path)
    async with running_market(settings) as market:
        await market.register(*two_cells(market))
        await market.tick()
    async with running_market(settings) as market:
        points = await history(market, "from=2024-01-15T12:00:30Z&to=2024-01-15T12:01:30Z")
    assert [p["price"] for p in points] == [0.8]


# -- stream --------------------------------------------------------------------------------------


def parse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_stream_sends_the_price_every_tick(market: Market):
    await market.register(*two_cells(market))
    # The ASGI test transport answers once the stream ends, so the stream is closed below.
    request = asyncio.create_task(market.client.get("/api/stream"))
    while market.service.broadcaster.listeners == 0:
        await asyncio.sleep(0.001)
    expected = await market.tick()
    market.service.broadcaster.close()
    response = await request
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.text)
    assert [name for name, _ in events] == ["price", "price"]
    assert events[-1][1] == expected


async def test_a_cell_failing_tick_after_tick_is_logged_once(market: Market, caplog):
    cell = market.network.add("cell-a")
    await market.register(cell)
    cell.up = False
    with caplog.at_level(logging.WARNING, logger="services.market.service"):
        for _ in range(3):
            await market.tick()
    assert len(caplog.records) == 1
    assert "cell-a" in caplog.records[0].getMessage()


async def test_history_that_cannot_be_stored_is_kept_for_the_next_checkpoint(market: Market):
    storage = market.app.state.runtime.storage
    original = storage.append
    wall_s = [10.0]
    market.service.checkpoint = Every(10, monotonic=lambda: wall_s[0])

    async def failing_append(series, points):
        raise UnavailableError("storage down")

    storage.append = failing_append
    wall_s[0] = 20.0
    await market.tick()
    storage.append = original
    wall_s[0] = 30.0
    await market.tick()
    # The start-up point, the tick whose flush failed, and the last one.
    assert len(await storage.range(HISTORY)) == 3
