"""The six services as real processes on loopback, driven with the original's request formats.

One suite for the module: weather, two simulation cells, market, manager,
prosumer and auth, one tick every 0.25 s at four times real speed (one
simulated second a tick). Tests run in order and build on each other, as a
person trying the system would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.harness import Processes, eventually

pytestmark = pytest.mark.slow

FLAT_DAY = [0.5] * 24


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    processes = Processes(
        tmp_path_factory.mktemp("e2e"),
        {
            "GRIDMARKET_TICK_SECONDS": "0.25",
            "GRIDMARKET_SPEED": "4",
            "GRIDMARKET_CHECKPOINT_SECONDS": "1",
            "MARKET_POLL_TIMEOUT_SECONDS": "0.2",
        },
    )
    processes.add("weather", "weather")
    processes.add("auth", "auth")
    processes.add("simulation", "simulation", SIMULATION_NAME="cell-1")
    processes.add("simulation-2", "simulation", SIMULATION_NAME="cell-2")
    processes.add("market", "market")
    weather = processes.url("weather")
    processes.add("manager", "manager", MANAGER_SIMULATION_URLS=processes.url("simulation"))
    processes.add(
        "prosumer",
        "prosumer",
        PROSUMER_SIMULATION_URLS=processes.url("simulation"),
        PROSUMER_WEATHER_URL=weather,
    )
    for label in ("simulation", "simulation-2"):
        processes.env[label]["SIMULATION_WEATHER_URL"] = weather
    processes.start()
    try:
        yield processes
    finally:
        processes.stop()


@pytest.fixture(scope="module")
def http(suite: Processes) -> Iterator[httpx.Client]:
    """A client acting as the development administrator (a manager of everything)."""
    with httpx.Client(timeout=5.0, headers=suite.admin_headers()) as client:
        yield client


def test_nothing_changes_without_a_token(suite, http):
    anonymous = httpx.post(
        f"{suite.url('prosumer')}/api/members", json={"turbines": [3], "batteries": []}
    )
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert get(http, f"{suite.url('prosumer')}/api/members") == []


def get(http: httpx.Client, url: str) -> Any:
    response = http.get(url)
    response.raise_for_status()
    return response.json()


def test_members_are_created_with_the_original_request_formats(suite, http):
    market, manager = suite.url("market"), suite.url("manager")
    cells = {
        "body": [
            {"destination": suite.url("simulation")},
            {"destination": suite.url("simulation-2")},
        ]
    }
    assert http.post(f"{market}/api/members", json=cells).status_code == 201

    plant = {"_id": "coal-1", "maxProduciton": 400, "startup_seconds": 2, "ramp_per_second": 0.1}
    assert http.post(f"{manager}/api/members", json=plant).status_code == 201
    assert (
        http.post(f"{manager}/api/control/coal-1", json={"status": True, "ratio": 0.9}).status_code
        == 200
    )

    houses = {
        "body": [
            {
                "_id": f"house-{n}",
                "turbines": [3, 2],
                "batteries": [{"capacity": 10, "maxOutput": 5, "maxCharge": 5, "current": 5}],
            }
            for n in (1, 2)
        ]
    }
    assert http.post(f"{suite.url('prosumer')}/api/members", json=houses).status_code == 201

    for label, count in (("simulation", 3), ("simulation-2", 2)):
        clusters = {"body": [{"timefn": FLAT_DAY, "households": 40} for _ in range(count)]}
        response = http.post(f"{suite.url(label)}/api/members/consumers", json=clusters)
        assert response.status_code == 201, response.text

    members = get(http, f"{suite.url('simulation')}/api/members")
    assert len(members["consumers"]) == 3


def test_totals_and_price_follow_the_ticks(suite, http):
    cell = suite.url("simulation")

    def cell_sees_everyone() -> dict[str, Any] | None:
        data = get(http, f"{cell}/api/data")
        ok = data["plant_production_kw"] > 0 and data["consumer_demand_kw"] > 0
        return data if ok and len(get(http, f"{cell}/api/members/prosumers")) == 2 else None

    first = eventually(cell_sees_everyone)
    assert first["totalDemand"] > 0 and first["totalProduction"] > 0
    later = eventually(lambda: (d := get(http, f"{cell}/api/data"))["time"] != first["time"] and d)
    assert later["consumer_demand_kw"] != first["consumer_demand_kw"]

    def market_sees_both_cells() -> dict[str, Any] | None:
        price = get(http, f"{suite.url('market')}/api/price")
        return price if price["cells"] == 2 and not price["stale"] and price["price"] > 0 else None

    price = eventually(market_sees_both_cells)
    cell_2 = get(http, f"{suite.url('simulation-2')}/api/data")
    assert price["stats"]["totalDemand"] >= cell_2["totalDemand"]
    # Once the plant has ramped up, supply covers demand and nobody is cut off.
    eventually(lambda: get(http, f"{suite.url('simulation')}/api/data")["blackout_consumers"] == [])


def test_stopping_the_plant_goes_through_stopping_to_zero(suite, http):
    manager = suite.url("manager")
    eventually(lambda: get(http, f"{manager}/api/members/coal-1")["state"] == "running")
    assert http.put(f"{manager}/api/control/coal-1", json={"status": False}).status_code == 200

    seen: list[str] = []

    def stopped() -> bool:
        plant = get(http, f"{manager}/api/members/coal-1")
        seen.append(plant["state"])
        return plant["state"] == "stopped" and plant["current"] == 0

    eventually(stopped, every_s=0.05)
    assert "stopping" in seen
    eventually(lambda: get(http, f"{suite.url('simulation')}/api/data")["plant_production_kw"] == 0)


def test_moving_a_prosumers_ratios_moves_its_battery_flow(suite, http):
    prosumer = suite.url("prosumer")

    def battery_flow() -> float:
        member = get(http, f"{prosumer}/api/members/house-1")
        return member["battery_charge_kw"] + member["battery_discharge_kw"]

    http.put(
        f"{prosumer}/api/control/house-1",
        json={"input_ratio": 0, "output_ratio": 0, "status": True},
    ).raise_for_status()
    eventually(lambda: battery_flow() == 0)
    http.put(
        f"{prosumer}/api/control/house-1",
        json={"input_ratio": 1, "output_ratio": 1, "status": True},
    ).raise_for_status()
    eventually(lambda: battery_flow() > 0)
    assert get(http, f"{prosumer}/api/control/house-1") == {
        "input_ratio": 1,
        "output_ratio": 1,
        "status": True,
    }


def test_blocking_one_prosumer_blocks_nothing_else(suite, http):
    prosumer = suite.url("prosumer")
    response = http.post(f"{prosumer}/api/members/house-2/block", json={"seconds": 10})
    assert response.status_code == 200
    eventually(lambda: get(http, f"{prosumer}/api/members/house-2")["sold_kw"] == 0)
    assert get(http, f"{prosumer}/api/members/house-1")["blocked_until"] is None
    assert (
        http.post(f"{prosumer}/api/members/house-2/block", json={"seconds": 5}).status_code == 422
    )
    assert http.delete(f"{prosumer}/api/members/house-2/block").status_code == 200
    assert get(http, f"{prosumer}/api/members/house-2")["blocked_until"] is None


def test_a_restarted_prosumer_service_restores_members_and_battery_levels(suite, http):
    prosumer = suite.url("prosumer")
    before = {m["id"]: m for m in get(http, f"{prosumer}/api/members")}
    suite.stop("prosumer")
    stored_at_stop = {i: m["stored_kwh"] for i, m in before.items()}
    suite.start("prosumer")
    after = {m["id"]: m for m in get(http, f"{prosumer}/api/members")}
    assert set(after) == set(before)
    for member_id, member in after.items():
        # A few ticks may pass between the last read and the stop: at most 5 kW for a second each.
        assert member["stored_kwh"] == pytest.approx(stored_at_stop[member_id], abs=0.05)
        assert member["input_ratio"] == before[member_id]["input_ratio"]


def test_the_market_marks_a_silent_cell_stale_and_recovers_when_it_returns(suite, http):
    market = suite.url("market")
    cells = {c["destination"]: c["id"] for c in get(http, f"{market}/api/members")}
    second = cells[suite.url("simulation-2")]
    suite.stop("simulation-2")
    price = eventually(lambda: (p := get(http, f"{market}/api/price"))["stale"] and p)
    assert price["stale_cells"] == [second]
    assert price["stats"]["totalDemand"] > 0  # its last totals still count

    suite.start("simulation-2")
    eventually(lambda: not get(http, f"{market}/api/price")["stale"])
    assert get(http, f"{market}/api/members/{second}")["stale"] is False


@pytest.mark.parametrize(
    ("label", "path", "event"),
    [
        ("simulation", "/api/stream", "totals"),
        ("market", "/api/stream", "price"),
        ("prosumer", "/api/stream?id=house-1", "prosumers"),
        ("manager", "/api/stream", "plants"),
    ],
)
def test_streams_send_an_event_every_tick(suite, http, label, path, event):
    events = []
    with (
        httpx.Client(timeout=5.0, headers=dict(http.headers)) as client,
        client.stream("GET", f"{suite.url(label)}{path}") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream"), response.read()
        for line in response.iter_lines():
            if line.startswith("event:"):
                events.append(line.removeprefix("event:").strip())
            if len(events) == 4:
                break
    assert events == [event] * 4
