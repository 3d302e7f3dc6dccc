"""The cell's tick: totals, clearing, blackouts, push answers, staleness, weather, history,
the event stream and restarts."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts import CellData
from services.common.settings import SimulationSettings
from services.common.storage import open_sqlite
from services.common.storage.columns import load_columns
from services.physics import market
from services.simulation import domain
from services.simulation.repository import SimulationRepository
from tests.simulation.conftest import (
    STALE_AFTER_S,
    START,
    Cell,
    FakeWall,
    FakeWeather,
    first_event,
    make_consumer,
    make_plant_state,
    make_prosumer_state,
    make_settings,
    running_cell,
)

SCARCITY = market.SCARCITY_CAP_SEK_PER_KWH


async def consumer_demand(cell: Cell) -> dict[str, float]:
    return {c["id"]: c["demand"] for c in await cell.ok("GET", "/api/members/consumers")}


async def history(cell: Cell, query: str = "") -> list[dict[str, Any]]:
    answer = await cell.ok("GET", f"/api/history?{query}")
    points: list[dict[str, Any]] = answer["points"]
    return points


def query_time(seconds_after_start: float) -> str:
    when = START.astimezone(UTC) + timedelta(seconds=seconds_after_start)
    return when.isoformat().replace("+00:00", "Z")


# -- totals and clearing -----------------------------------------------------------------------


async def test_tick_totals_count_pushed_prosumers_plants_and_consumers(cell: Cell):
    await cell.add_consumers(make_consumer())
    await cell.push_prosumers(make_prosumer_state())
    await cell.push_plants(make_plant_state())

    data = await cell.tick()

    demand_kw = (await consumer_demand(cell))["c1"]
    assert data["consumer_demand_kw"] == pytest.approx(demand_kw)
    assert data["prosumer_production_kw"] == 3.0 and data["plant_production_kw"] == 100.0
    assert data["totalProduction"] == 103.0
    assert data["totalDemand"] == pytest.approx(demand_kw + 1.0)
    assert data["market_demand_kw"] == pytest.approx(demand_kw)
    assert data["unserved_kw"] == 0.0 and data["blackout_consumers"] == []
    assert data["co2_kg_per_h"] == 85.0
    assert data["curtailed_kw"] == pytest.approx(100.0 - (demand_kw - 2.0))


async def test_supply_tiers_are_prosumers_then_each_plant_and_its_buffer(cell: Cell):
    await cell.push_prosumers(make_prosumer_state())
    await cell.push_plants(make_plant_state(buffer_offer_kw=0.0))

    data = await cell.tick()

    assert [
        (t["kind"], t["id"], t["quantity_kw"], t["price_sek_per_kwh"]) for t in data["supply"]
    ] == [
        ("prosumers", None, 2.0, market.PROSUMER_OFFER_SEK_PER_KWH),
        ("plant", "coal-1", 100.0, 1.0),
        ("buffer", "coal-1", 0.0, 1.0),
    ]


async def test_price_is_the_marginal_plant_cost_when_wind_is_not_enough(cell: Cell):
    await cell.add_consumers(make_consumer())
    await cell.push_prosumers(make_prosumer_state(offered_kw=2.0))
    await cell.push_plants(make_plant_state(marginal_cost_sek_per_kwh=1.3))

    data = await cell.tick()

    assert data["cell_price_sek_per_kwh"] == 1.3


async def test_price_is_the_prosumer_offer_when_wind_covers_demand(cell: Cell):
    await cell.add_consumers(make_consumer())
    await cell.push_prosumers(make_prosumer_state(production_kw=60.0, offered_kw=59.0))

    data = await cell.tick()

    assert data["cell_price_sek_per_kwh"] == market.PROSUMER_OFFER_SEK_PER_KWH


async def test_short_supply_blacks_out_a_consumer_at_the_scarcity_price(cell: Cell):
    await cell.add_consumers(make_consumer(id="c1"), make_consumer(id="c2"))
    await cell.push_plants(make_plant_state(production_kw=12.0, offered_kw=12.0))

    data = await cell.tick()

    demand = await consumer_demand(cell)
    [cut] = data["blackout_consumers"]
    flags = {c["id"]: c["blackout"] for c in await cell.ok("GET", "/api/members/consumers")}
    assert flags == {"c1": cut == "c1", "c2": cut == "c2"}
    assert data["cell_price_sek_per_kwh"] == SCARCITY
    assert data["unserved_kw"] == pytest.approx(demand[cut])


async def test_prosumers_are_shed_only_after_every_consumer(cell: Cell):
    await cell.add_consumers(make_consumer())
    await cell.push_prosumers(make_prosumer_state(id="p2", offered_kw=0.0, requested_kw=3.0))
    await cell.push_plants(make_plant_state(production_kw=1.0, offered_kw=1.0))

    data = await cell.tick()

    assert data["blackout_consumers"] == ["c1"] and data["blackout_prosumers"] == ["p2"]
    prosumer = await cell.ok("GET", "/api/members/prosumers/p2")
    assert prosumer["blackout"] is True and prosumer["bought_kw"] == 0.0


async def test_a_prosumer_is_served_while_cutting_a_consumer_covers_the_shortfall(cell: Cell):
    await cell.add_consumers(make_consumer())
    await cell.push_prosumers(make_prosumer_state(id="p2", offered_kw=0.0, requested_kw=3.0))
    await cell.push_plants(make_plant_state(production_kw=5.0, offered_kw=5.0))

    data = await cell.tick()

    assert data["blackout_consumers"] == ["c1"] and data["blackout_prosumers"] == []
    assert (await cell.ok("GET", "/api/members/prosumers/p2"))["bought_kw"] == 3.0


async def test_rolling_blackouts_cut_each_cluster_in_turn(cell: Cell):
    await cell.add_consumers(*(make_consumer(id=name) for name in ("a", "b", "c")))
    # Enough for two of the three clusters (about 9.5 kW each) but not all three.
    await cell.push_plants(make_plant_state(production_kw=20.0, offered_kw=20.0))

    cut = []
    for _ in range(3):
        data = await cell.tick(domain.ROLLING_SLOT_S)
        assert len(data["blackout_consumers"]) == 1
        cut.append(data["blackout_consumers"][0])

    assert sorted(cut) == ["a", "b", "c"]


async def test_the_same_cluster_stays_cut_within_one_slot(cell: Cell):
    await cell.add_consumers(*(make_consumer(id=name) for name in ("a", "b", "c")))
    await cell.push_plants(make_plant_state(production_kw=20.0, offered_kw=20.0))

    first = (await cell.tick())["blackout_consumers"]
    second = (await cell.tick())["blackout_consumers"]

    assert first == second


# -- answers to pushes -------------------------------------------------------------------------


async def test_prosumer_push_answer_reports_the_last_sold_fraction_and_price(cell: Cell):
    await cell.add_consumers(make_consumer())
    await cell.push_prosumers(make_prosumer_state(production_kw=21.0, offered_kw=20.0))
    data = await cell.tick()

    answer = await cell.push_prosumers(make_prosumer_state(production_kw=0.0, offered_kw=0.0))

    assert answer["sold_fraction"] == pytest.approx(data["consumer_demand_kw"] / 20.0)
    assert answer["price_sek_per_kwh"] == market.PROSUMER_OFFER_SEK_PER_KWH
    assert answer["time"] == data["time"]
    assert (await cell.ok("GET", "/api/members/prosumers/p1"))["sold_kw"] == pytest.approx(
        data["consumer_demand_kw"]
    )


async def test_prosumer_push_answer_lists_blackouts_among_the_pushed_members_only(cell: Cell):
    short = make_prosumer_state(id="short", offered_kw=0.0, requested_kw=3.0)
    await cell.push_prosumers(make_prosumer_state(id="fine"), short)
    await cell.tick()

    both = await cell.push_prosumers(make_prosumer_state(id="fine"), short)
    fine_only = await cell.push_prosumers(make_prosumer_state(id="fine"))

    assert both["blackout"] == ["short"] and both["price_sek_per_kwh"] == SCARCITY
    assert fine_only["blackout"] == []


async def test_plant_push_answer_reports_accepted_plant_power(cell: Cell):
    await cell.add_consumers(make_consumer())
    await cell.push_plants(make_plant_state())
    data = await cell.tick()

    answer = await cell.push_plants(make_plant_state())

    assert answer["accepted"]["coal-1"]["plant_kw"] == pytest.approx(data["consumer_demand_kw"])
    assert answer["accepted"]["coal-1"]["buffer_kw"] == 0.0
    assert answer["price_sek_per_kwh"] == 1.0


async def test_buffer_of_an_idle_plant_serves_demand_as_battery_discharge(cell: Cell):
    await cell.add_consumers(make_consumer())
    idle = make_plant_state(
        state="starting", production_kw=0.0, offered_kw=0.0, buffer_offer_kw=50.0
    )
    await cell.push_plants(idle)
    data = await cell.tick()

    answer = await cell.push_plants(idle)

    assert answer["accepted"]["coal-1"]["buffer_kw"] == pytest.approx(data["consumer_demand_kw"])
    assert data["battery_discharge_kw"] == pytest.approx(data["consumer_demand_kw"])


async def test_plant_push_answer_leaves_out_plants_not_in_the_last_clearing(cell: Cell):
    await cell.push_plants(make_plant_state(id="old"))
    await cell.tick()

    answer = await cell.push_plants(make_plant_state(id="old"), make_plant_state(id="new"))

    assert set(answer["accepted"]) == {"old"}


# -- staleness ---------------------------------------------------------------------------------


async def test_stale_members_are_listed_and_not_counted(cell: Cell):
    await cell.add_consumers(make_consumer())
    await cell.push_prosumers(make_prosumer_state())
    await cell.push_plants(make_plant_state())

    cell.wall.advance(STALE_AFTER_S + 1)
    data = await cell.tick()

    assert sorted(data["stale_members"]) == ["coal-1", "p1"]
    assert data["totalProduction"] == 0.0 and data["prosumer_load_kw"] == 0.0
    assert data["supply"] == [
        {
            "kind": "prosumers",
            "id": None,
            "quantity_kw": 0.0,
            "price_sek_per_kwh": market.PROSUMER_OFFER_SEK_PER_KWH,
        }
    ]
    assert data["blackout_consumers"] == ["c1"]
    assert (await cell.ok("GET", "/api/members/prosumers/p1"))["stale"] is True
    assert (await cell.ok("GET", "/api/members/managers/coal-1"))["stale"] is True


async def test_a_stale_member_counts_again_once_it_pushes(cell: Cell):
    await cell.push_prosumers(make_prosumer_state())
    cell.wall.advance(STALE_AFTER_S + 1)
    await cell.tick()

    await cell.push_prosumers(make_prosumer_state())
    data = await cell.tick()

    assert data["stale_members"] == [] and data["prosumer_production_kw"] == 3.0


# -- weather -----------------------------------------------------------------------------------


async def test_weather_is_asked_for_the_cells_location(cell: Cell):
    await cell.tick()

    params = cell.weather.requests[-1].url.params
    settings = cell.service.settings
    assert (float(params["lat"]), float(params["lon"])) == (settings.latitude, settings.longitude)


async def test_colder_weather_raises_consumer_demand(cell: Cell):
    await cell.add_consumers(make_consumer())
    cell.weather.temperature_c = -5.0
    mild = (await cell.tick())["consumer_demand_kw"]

    cell.weather.temperature_c = -25.0
    cold = (await cell.tick())["consumer_demand_kw"]

    heating = (1 + 0.03 * (17 + 25)) / (1 + 0.03 * (17 + 5))
    assert cold / mild == pytest.approx(heating, rel=0.01)


async def test_weather_outage_keeps_the_last_temperature(cell: Cell):
    cell.weather.temperature_c = -20.0
    await cell.tick()

    cell.weather.up = False
    await cell.tick(3600.0)

    assert (await history(cell))[-1]["temperature_c"] == -20.0


async def test_long_weather_outage_falls_back_to_climatology(cell: Cell):
    cell.weather.up = False

    await cell.tick(4 * 3600.0)

    now = cell.clock.now()
    expected = domain.climatological_temperature_c(now, cell.service.settings.longitude)
    assert (await history(cell))[-1]["temperature_c"] == pytest.approx(expected)


async def test_a_cell_that_never_reached_the_weather_uses_climatology(tmp_path: Path):
    weather = FakeWeather()
    weather.up = False

    async with running_cell(make_settings(tmp_path), weather=weather) as cell:
        [point] = await history(cell)
        started = cell.clock.now()

    expected = domain.climatological_temperature_c(started, cell.service.settings.longitude)
    assert point["temperature_c"] == pytest.approx(expected)
    assert -25.0 < point["temperature_c"] < 0.0


# -- history -----------------------------------------------------------------------------------


async def test_history_has_a_point_per_tick_with_the_totals(cell: Cell):
    await cell.push_plants(make_plant_state())
    for _ in range(3):
        data = await cell.tick()

    points = await history(cell)

    assert len(points) == 4  # the loop's own tick at start-up, then three
    assert [p["time"] for p in points] == sorted(p["time"] for p in points)
    assert points[-1]["plant_production_kw"] == data["plant_production_kw"]
    assert points[-1]["totalProduction"] == data["totalProduction"]


async def test_history_step_averages_the_ticks_in_each_bucket(cell: Cell):
    for production_kw in (100.0, 200.0, 30.0):
        await cell.push_plants(make_plant_state(production_kw=production_kw, offered_kw=0.0))
        await cell.tick(10.0)

    points = await history(cell, f"from={query_time(5)}&to={query_time(25)}&step=60")

    [bucket] = points
    assert bucket["plant_production_kw"] == pytest.approx(150.0)


async def test_history_range_leaves_out_ticks_outside_it(cell: Cell):
    for _ in range(3):
        await cell.tick(10.0)

    points = await history(cell, f"from={query_time(15)}&to={query_time(25)}")

    assert [p["time"] for p in points] == [START.timestamp() + 20.0]


async def test_history_reads_points_written_at_a_checkpoint(cell: Cell):
    await cell.tick()
    await cell.tick()
    await cell.service.checkpoint()

    points = await history(cell)

    assert len(points) == 3


# -- event stream ------------------------------------------------------------------------------


async def test_stream_yields_a_totals_event_with_the_cell_data(cell: Cell):
    await cell.push_plants(make_plant_state())
    data = await cell.tick()

    event = await first_event(cell.app, cell.manager_token)

    assert event["event"] == "totals"
    assert CellData.model_validate(event["data"]).model_dump(mode="json") == data


# -- persistence -------------------------------------------------------------------------------


async def test_restart_restores_consumers_and_registered_members(tmp_path: Path):
    settings, wall = make_settings(tmp_path), FakeWall()
    async with running_cell(settings, wall=wall) as cell:
        await cell.add_consumers(make_consumer(profile=2.0))
        await cell.ok(
            "POST",
            "/api/members/prosumers",
            {"body": [{"id": "legacy", "totalProduction": 1.0, "status": True}]},
            201,
        )
        await cell.push_prosumers(make_prosumer_state(stored_kwh=7.5))
        await cell.push_plants(make_plant_state(co2_total_kg=123.0))
        before = await cell.ok("GET", "/api/members")

    async with running_cell(settings, wall=wall) as restarted:
        after = await restarted.ok("GET", "/api/members")

    config = ("id", "timefn", "profile", "households", "lat", "lon")
    assert [{key: c[key] for key in config} for c in after["consumers"]] == [
        {key: c[key] for key in config} for c in before["consumers"]
    ]
    assert [p["id"] for p in after["prosumers"]] == ["legacy", "p1"]
    assert after["prosumers"][1]["currentCapacity"] == 7.5
    assert after["managers"][0]["co2_total_kg"] == 123.0
    assert not any(member["stale"] for member in after["prosumers"] + after["managers"])


async def test_restart_keeps_the_history(tmp_path: Path):
    settings = make_settings(tmp_path)
    async with running_cell(settings) as cell:
        await cell.tick()
        await cell.tick()

    async with running_cell(settings) as restarted:
        points = await history(restarted)

    assert len(points) == 3 + 1  # two runs' start-up ticks and the two ticks


async def test_cells_sharing_a_database_load_only_their_own_members(tmp_path: Path):
    storage = await open_sqlite(tmp_path / "shared.sqlite3")
    try:
        await SimulationRepository(storage, "east").save("consumers", [{"id": "c1"}])

        west = await SimulationRepository(storage, "west").load("consumers")
        east = await SimulationRepository(storage, "east").load("consumers")
    finally:
        await storage.close()

    assert west == [] and [doc["id"] for doc in east] == ["c1"]


async def test_checkpoint_runs_every_checkpoint_seconds(tmp_path: Path):
    settings: SimulationSettings = make_settings(tmp_path, checkpoint_seconds=0.001)
    async with running_cell(settings) as cell:
        await cell.push_prosumers(make_prosumer_state())
        await cell.tick()

        stored = await load_columns(cell.app.state.runtime.storage, "prosumers", "cell-a")

    assert stored["id"] == ["p1"] and stored["production_kw"] == [3.0]


async def test_healthz_reports_the_cells_member_counts(cell: Cell):
    await cell.add_consumers(make_consumer())
    await cell.tick()

    health = await cell.ok("GET", "/healthz")

    assert health["metrics"]["consumer_clusters"] == 1
